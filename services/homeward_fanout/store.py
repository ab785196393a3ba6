"""Case states in the fan-out's table, each record well under Kafka's 1 MB.

A state is its JSON (state.py), zlib-compressed: a few bytes per recipient
for the usual directory ids, so one record holds a case reaching tens of
thousands of agencies. A compressed state larger than PART_BYTES (long
random agency ids, or a case reaching a whole province) is stored in parts
under "<case id>/<slot>/<n>" keys, and the case's own record names the slot,
the number of parts and their digest. The parts of a new version go to the
other slot and the case record is written after them, so a worker killed
between the writes leaves the previous version whole; the old slot's parts
are deleted after. Case ids never hold a "/" (events/base.py), so a part key
is never a case.

Every key of a case must be on the case's changelog partition, the one its
records are on: partition_of() (Kafka's murmur2 of the case id, as every
producer keys it) gives it for part keys too.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

from kafka.partitioner.default import murmur2

from homeward_fanout.state import CaseState, StateFormatError

SEP = b"/"
PART_BYTES = 512 * 1024
# Level 3: within a tenth of the default's size for directory ids, at half its time.
ZLIB_LEVEL = 3
# Parsed states kept for the next batch of the same case (its acks, mostly).
CACHED_CASES = 64
WHOLE = b"z"  # zlib(JSON)
IN_PARTS = b"p"  # JSON {"slot", "parts", "sha256"}; the zlib(JSON) is in the parts


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of the case a table key belongs to (a case or one of its parts)."""
    case = key.split(SEP, 1)[0]
    return (int(murmur2(case)) & 0x7FFFFFFF) % partitions


def is_case_key(key: bytes) -> bool:
    return SEP not in key


def part_key(key: bytes, slot: int, n: int) -> bytes:
    return b"%s/%d/%d" % (key, slot, n)


class CaseStore:
    """Reads and writes CaseStates in a bytes table keyed by case id."""

    def __init__(self, table: MutableMapping[bytes, bytes], part_bytes: int = PART_BYTES) -> None:
        self.table = table
        self.part_bytes = part_bytes
        # case -> (the stored value, the state it holds): parsing and hashing a
        # large case for each batch of its acks would cost more than the acks.
        # Used only while the table holds that very value, not one recovered
        # from the changelog since.
        self._parsed: OrderedDict[bytes, tuple[bytes, CaseState]] = OrderedDict()

    def forget(self) -> None:
        self._parsed.clear()

    def case_keys(self) -> Iterator[bytes]:
        return (k for k in list(self.table.keys()) if is_case_key(k))

    def load(self, key: bytes) -> CaseState | None:
        """The stored state, the caller's to change: give it back with save()
        or, unchanged, keep(); until then it is not cached."""
        data = self.table.get(key)
        cached = self._parsed.pop(key, None)
        if not data:
            return None
        if cached is not None and cached[0] is data:
            return cached[1]
        return CaseState.from_json(json.loads(self._unpack(key, data)))

    def keep(self, key: bytes, state: CaseState) -> None:
        """`state`, loaded and not changed since, is what the table holds."""
        data = self.table.get(key)
        if data:
            self._cache(key, data, state)

    def _cache(self, key: bytes, data: bytes, state: CaseState) -> None:
        self._parsed[key] = (data, state)
        self._parsed.move_to_end(key)
        while len(self._parsed) > CACHED_CASES:
            self._parsed.popitem(last=False)

    def _unpack(self, key: bytes, data: bytes) -> bytes:
        tag, body = data[:1], data[1:]
        if tag == b"{":
            return data  # format 1: plain JSON
        if tag == WHOLE:
            return zlib.decompress(body)
        if tag == IN_PARTS:
            head = json.loads(body)
            parts = [self.table.get(part_key(key, head["slot"], n)) for n in range(head["parts"])]
            if any(p is None for p in parts):
                raise StateFormatError("a part of the case state is missing")
            blob = b"".join(p for p in parts if p is not None)
            if hashlib.sha256(blob).hexdigest() != head["sha256"]:
                raise StateFormatError("the parts of the case state do not match their digest")
            return zlib.decompress(blob)
        raise StateFormatError(f"case state stored in an unknown form ({tag!r})")

    def save(self, key: bytes, state: CaseState) -> None:
        blob = zlib.compress(
            json.dumps(state.to_json(), separators=(",", ":")).encode(), ZLIB_LEVEL
        )
        old = self._parts_of(key)
        self._parsed.pop(key, None)
        if len(blob) <= self.part_bytes:
            value = WHOLE + blob
            self.table[key] = value
        else:
            slot = 1 - old[0] if old else 0
            size = self.part_bytes
            chunks = [blob[i : i + size] for i in range(0, len(blob), size)]
            for n, chunk in enumerate(chunks):
                self.table[part_key(key, slot, n)] = chunk
            head = {"slot": slot, "parts": len(chunks), "sha256": hashlib.sha256(blob).hexdigest()}
            value = IN_PARTS + json.dumps(head).encode()
            self.table[key] = value
        if old:
            # After the case record: until it is written, the old parts are the state.
            for n in range(old[1]):
                self.table.pop(part_key(key, old[0], n), None)
        self._cache(key, value, state)

    def _parts_of(self, key: bytes) -> tuple[int, int] | None:
        """(slot, number of parts) of the stored state, if it is in parts."""
        data = self.table.get(key)
        if not data or data[:1] != IN_PARTS:
            return None
        head: dict[str, Any] = json.loads(data[1:])
        return head["slot"], head["parts"]
