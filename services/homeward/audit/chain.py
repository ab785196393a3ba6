"""The audit log's hash chain and signed checkpoints: pure logic, no I/O.

Per partition of audit.log.v1, entry `seq` (from 0) carries the hash of entry
`seq - 1` (GENESIS for the first) and its own hash, SHA-256 over the canonical
encoding of (partition, seq, prev_hash, entry). Now and then a checkpoint
(RFC 6962's signed tree head, reduced to a linear chain as in Trillian's log
of checkpoints) signs (partition, seq, hash, time, key id) with Ed25519, so a
rewrite of the chain by someone without the key shows at the first checkpoint
it crosses. `verify` walks a partition and names the FIRST bad item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from homeward.audit.record import AuditEntry, AuditOutcome

GENESIS = "0" * 64
CHECKPOINT_DOMAIN = b"homeward.audit.checkpoint.v1\n"  # a signature means nothing elsewhere


class ChainError(ValueError):
    """A key or a record that cannot be used; the message names the field."""


# -- canonical encoding ------------------------------------------------------------
def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ChainError("at: must carry a time zone")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """The entry as plain JSON values, times as UTC milliseconds (what the wire keeps)."""
    d = asdict(entry)
    d["at"] = _time(entry.at)
    d["outcome"] = str(entry.outcome)
    d["detail"] = dict(sorted(entry.detail.items()))
    return d


def entry_from_dict(d: Mapping[str, Any]) -> AuditEntry:
    try:
        return AuditEntry(
            **{
                **d,
                "at": datetime.fromisoformat(str(d["at"]).replace("Z", "+00:00")),
                "outcome": AuditOutcome(d["outcome"]),
                "detail": dict(d.get("detail") or {}),
            }
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainError(f"entry: {type(exc).__name__}: {exc}") from exc


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string per value, whoever encodes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(partition: int, seq: int, prev_hash: str, entry: AuditEntry) -> str:
    body = {"partition": partition, "seq": seq, "prev_hash": prev_hash, "entry": entry_dict(entry)}
    return hashlib.sha256(canonical(body)).hexdigest()


# -- the two kinds of log record ---------------------------------------------------
@dataclass(frozen=True)
class Chained:
    partition: int
    seq: int
    prev_hash: str
    hash: str
    entry: AuditEntry
    offset: int = -1  # where it was read (Kafka offset or dump line); not hashed


@dataclass(frozen=True)
class Checkpoint:
    partition: int
    seq: int  # the last entry it covers
    hash: str  # that entry's hash
    at: datetime
    key_id: str
    signature: str  # hex
    offset: int = -1

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + checkpoint_message(
            self.partition, self.seq, self.hash, self.at, self.key_id
        )


Item = Chained | Checkpoint


def checkpoint_message(partition: int, seq: int, hash_: str, at: datetime, key_id: str) -> bytes:
    return canonical(
        {"partition": partition, "seq": seq, "hash": hash_, "at": _time(at), "key_id": key_id}
    )


def chain_next(partition: int, seq: int, prev_hash: str, entry: AuditEntry) -> Chained:
    return Chained(partition, seq, prev_hash, entry_hash(partition, seq, prev_hash, entry), entry)


# -- keys ------------------------------------------------------------------------
def key_id_of(public: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of SHA-256 over its raw bytes (no table to keep)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.key_id = key_id_of(key.public_key())

    @classmethod
    def generate(cls) -> Signer:
        """A throwaway key, for the demo and tests only."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ChainError(f"signing key: not an unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ChainError(f"signing key: {type(key).__name__} is not an Ed25519 key")
        return cls(key)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def checkpoint(self, head: Chained, at: datetime, offset: int = -1) -> Checkpoint:
        msg = checkpoint_message(head.partition, head.seq, head.hash, at, self.key_id)
        sig = self._key.sign(CHECKPOINT_DOMAIN + msg).hex()
        return Checkpoint(head.partition, head.seq, head.hash, at, self.key_id, sig, offset)


def load_public_keys(pem_bundle: bytes) -> dict[str, Ed25519PublicKey]:
    """Every public key of a PEM bundle by key id: old keys stay in it after a rotation."""
    marker = b"-----BEGIN PUBLIC KEY-----"
    keys: dict[str, Ed25519PublicKey] = {}
    for n, chunk in enumerate(pem_bundle.split(marker)[1:], start=1):
        try:
            key = serialization.load_pem_public_key(marker + chunk)
        except ValueError as exc:
            raise ChainError(f"public keys: key {n} is not a PEM public key ({exc})") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ChainError(f"public keys: key {n} is {type(key).__name__}, not Ed25519")
        keys[key_id_of(key)] = key
    if not keys:
        raise ChainError("public keys: no '-----BEGIN PUBLIC KEY-----' block found")
    return keys


# -- verification ------------------------------------------------------------------
class Problem(StrEnum):
    ALTERED = "altered"  # the entry no longer hashes to its hash
    BROKEN_LINK = "broken-link"  # prev_hash is not the hash of the entry before
    MISSING = "missing"  # a seq never appears (a gap, or a cut before a checkpoint)
    REORDERED = "reordered"  # a seq appears, but later than its place
    INSERTED = "inserted"  # an entry the chain does not lead through
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_KEY = "unknown-key"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"  # signed, but not over this chain


@dataclass(frozen=True)
class Finding:
    partition: int
    index: int  # position of the bad item among the partition's items, as read
    offset: int
    seq: int
    problem: Problem
    detail: str

    def __str__(self) -> str:
        return (
            f"partition {self.partition} seq {self.seq} (offset {self.offset}, item "
            f"{self.index}): {self.problem}: {self.detail}"
        )


@dataclass
class PartitionReport:
    partition: int
    entries: int = 0
    checkpoints: int = 0
    last_seq: int = -1
    finding: Finding | None = None


@dataclass
class Report:
    partitions: dict[int, PartitionReport] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(p.finding is None for p in self.partitions.values())

    @property
    def first(self) -> Finding | None:
        found = [p.finding for p in self.partitions.values() if p.finding]
        return min(found, key=lambda f: (f.partition, f.index)) if found else None


def verify(items: Iterable[Item], keys: Mapping[str, Ed25519PublicKey]) -> Report:
    """Check every partition's items, in the order read; stop each at its first fault."""
    by_partition: dict[int, list[Item]] = {}
    for item in items:
        by_partition.setdefault(item.partition, []).append(item)
    report = Report()
    for partition in sorted(by_partition):
        report.partitions[partition] = _verify_partition(partition, by_partition[partition], keys)
    return report


def _genuine(items: list[Item], start: int, seq: int) -> str | None:
    """The hash the rest of the chain vouches for at `seq`: the next entry's prev_hash,
    or a checkpoint over `seq`; None when nothing after `start` says."""
    for item in items[start:]:
        if isinstance(item, Chained) and item.seq == seq + 1:
            return item.prev_hash
        if isinstance(item, Checkpoint) and item.seq == seq:
            return item.hash
    return None


def _verify_partition(
    partition: int, items: list[Item], keys: Mapping[str, Ed25519PublicKey]
) -> PartitionReport:
    rep = PartitionReport(partition)
    hashes: dict[int, str] = {}  # accepted seq -> hash
    expected, prev = 0, GENESIS

    def bad(i: int, item: Item, seq: int, problem: Problem, detail: str) -> PartitionReport:
        rep.finding = Finding(partition, i, item.offset, seq, problem, detail)
        return rep

    for i, item in enumerate(items):
        if isinstance(item, Checkpoint):
            key = keys.get(item.key_id)
            if key is None:
                return bad(i, item, item.seq, Problem.UNKNOWN_KEY, f"key id {item.key_id!r}")
            try:
                key.verify(bytes.fromhex(item.signature), item.message())
            except (InvalidSignature, ValueError):
                return bad(i, item, item.seq, Problem.BAD_SIGNATURE, f"key id {item.key_id}")
            if item.seq not in hashes:
                return bad(
                    i,
                    item,
                    expected,
                    Problem.MISSING,
                    f"checkpoint signs seq {item.seq}, the chain ends at {expected - 1}",
                )
            if hashes[item.seq] != item.hash:
                return bad(
                    i,
                    item,
                    item.seq,
                    Problem.CHECKPOINT_MISMATCH,
                    f"signed hash {item.hash[:12]}… but the chain has {hashes[item.seq][:12]}…",
                )
            rep.checkpoints += 1
            continue
        if entry_hash(item.partition, item.seq, item.prev_hash, item.entry) != item.hash:
            return bad(i, item, item.seq, Problem.ALTERED, "the entry does not hash to its hash")
        later = items[i + 1 :]
        if item.seq < expected:
            what = "a second copy of" if hashes.get(item.seq) == item.hash else "another"
            return bad(i, item, item.seq, Problem.INSERTED, f"{what} seq {item.seq}")
        if item.seq > expected:
            if any(isinstance(x, Chained) and x.seq == expected for x in later):
                return bad(
                    i,
                    item,
                    item.seq,
                    Problem.REORDERED,
                    f"seq {item.seq} where {expected} belongs (it comes later)",
                )
            return bad(i, item, expected, Problem.MISSING, f"seq {expected} never appears")
        if item.prev_hash != prev:
            return bad(
                i,
                item,
                item.seq,
                Problem.BROKEN_LINK,
                f"prev_hash is not seq {item.seq - 1}'s hash (it or this entry was rewritten)",
            )
        # An entry may be well formed at its place and still be a forgery slipped in
        # before the real one: the genuine one is what the rest of the chain leads through.
        if any(isinstance(x, Chained) and x.seq == item.seq for x in later):
            vouched = _genuine(items, i + 1, item.seq)
            if vouched is not None and vouched != item.hash:
                return bad(
                    i,
                    item,
                    item.seq,
                    Problem.INSERTED,
                    f"seq {item.seq} twice; the chain goes on from the other one",
                )
        hashes[item.seq] = item.hash
        expected, prev = item.seq + 1, item.hash
        rep.entries += 1
        rep.last_seq = item.seq
    return rep


# -- JSON lines (a dump of the topic, to verify or to tamper with in a copy) -----------
def to_json(item: Item) -> dict[str, Any]:
    if isinstance(item, Chained):
        return {
            "kind": "entry",
            "partition": item.partition,
            "offset": item.offset,
            "seq": item.seq,
            "prev_hash": item.prev_hash,
            "hash": item.hash,
            "entry": entry_dict(item.entry),
        }
    return {
        "kind": "checkpoint",
        "partition": item.partition,
        "offset": item.offset,
        "seq": item.seq,
        "hash": item.hash,
        "at": _time(item.at),
        "key_id": item.key_id,
        "signature": item.signature,
    }


def from_json(d: Mapping[str, Any]) -> Item:
    try:
        if d["kind"] == "entry":
            return Chained(
                int(d["partition"]),
                int(d["seq"]),
                str(d["prev_hash"]),
                str(d["hash"]),
                entry_from_dict(d["entry"]),
                int(d.get("offset", -1)),
            )
        if d["kind"] == "checkpoint":
            at = datetime.fromisoformat(str(d["at"]).replace("Z", "+00:00"))
            return Checkpoint(
                int(d["partition"]),
                int(d["seq"]),
                str(d["hash"]),
                at,
                str(d["key_id"]),
                str(d["signature"]),
                int(d.get("offset", -1)),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainError(f"{type(exc).__name__}: {exc}") from exc
    raise ChainError(f"kind: {d.get('kind')!r} is neither 'entry' nor 'checkpoint'")
