"""Idempotency: the rules (pure), the store abstraction and an in-memory store.

A request carries an optional Idempotency-Key. The answer given to it is
remembered under that key together with a hash of the request, so that:
- the same key with the same request replays the same answer, publishing nothing;
- the same key with a different request is a conflict (409);
- the event id is derived from the key and the request, so even two instances
  racing on one retry publish the same ce_id, which consumers de-duplicate.

The Kafka-backed store is in idempotency_kafka.py; both pass the same tests.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from homeward.errors import CodecError

KEY_HEADER = "Idempotency-Key"
KEY_MAX = 128
# Fixed forever: changing it would change the event id of every retried request.
INTAKE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:homeward:intake")


def request_hash(event_type: str, case_id: str, body: Mapping[str, Any]) -> str:
    """A stable digest of what was asked: route (event type), case and body.

    `body` is the validated request dumped with exclude_defaults, so key order,
    whitespace, time-zone spelling and spelled-out defaults do not matter, and a
    default added to a model in a later release does not turn an old retry into
    a conflict.
    """
    canonical = json.dumps(
        {"type": event_type, "case_id": case_id, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def event_id_for(key: str, req_hash: str) -> str:
    """uuid5 over the service namespace, the key and the request.

    The request hash is part of the name so that a key reused after it expired
    (or raced with a different body) never gives a *different* event the id of
    an earlier one: consumers drop duplicate ids, and dropping a real alert
    would be far worse than publishing one twice.
    """
    return str(uuid.uuid5(INTAKE_NAMESPACE, f"{key}\n{req_hash}"))


def report_id_for(key: str | None, event_type: str, body: Mapping[str, Any]) -> str:
    """A new mandatory report's id: "RPT-" and 32 hex digits.

    Without a key, random (uuid4). With one, derived from the key and the
    request (uuid5), so a retry names the same report and hashes the same;
    a random id would make every retry a different request, i.e. a conflict.
    """
    if key is None:
        return f"RPT-{uuid.uuid4().hex}"
    name = f"report\n{key}\n{request_hash(event_type, '', body)}"
    return f"RPT-{uuid.uuid5(INTAKE_NAMESPACE, name).hex}"


@dataclass(frozen=True)
class Remembered:
    """What is stored under a key: the request's hash and the answer given."""

    request_hash: str
    response: dict[str, Any]
    stored_at: float = 0.0  # epoch seconds; for expiry, not part of the wire value

    def to_json(self) -> bytes:
        return json.dumps(
            {"request_hash": self.request_hash, "response": self.response},
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, stored_at: float = 0.0) -> Remembered:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CodecError(f"not JSON: {exc}", field="value") from None
        if not isinstance(doc, dict):
            raise CodecError("not a JSON object", field="value")
        req_hash, response = doc.get("request_hash"), doc.get("response")
        if not isinstance(req_hash, str) or not req_hash:
            raise CodecError("missing or not a string", field="value.request_hash")
        if not isinstance(response, dict):
            raise CodecError("missing or not an object", field="value.response")
        return cls(req_hash, response, stored_at)


class Decision(Enum):
    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"


def decide(prior: Remembered | None, req_hash: str) -> Decision:
    if prior is None:
        return Decision.NEW
    return Decision.REPLAY if prior.request_hash == req_hash else Decision.CONFLICT


class IdempotencyStore(Protocol):
    """Where answers are remembered. Implementations are thread-safe."""

    def start(self) -> None:
        """Connect and load what is already remembered; raise if that fails."""

    def ready(self) -> bool:
        """True once start() has loaded everything remembered before it."""

    def get(self, key: str) -> Remembered | None:
        """The live answer under key, if any (expired ones are not returned)."""

    def sync(self, timeout: float) -> bool:
        """Catch up with answers other instances stored until now; False if it timed out."""

    def put(self, key: str, remembered: Remembered) -> None:
        """Remember durably; raise if it could not be stored."""

    def close(self) -> None: ...


class AnswerTable:
    """The in-memory table both stores keep: key -> Remembered, with expiry."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._answers: dict[str, Remembered] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Remembered | None:
        with self._lock:
            found = self._answers.get(key)
            if found is None:
                return None
            if self.clock() - found.stored_at > self.ttl:
                del self._answers[key]
                return None
            return found

    def set(self, key: str, remembered: Remembered) -> None:
        # Last write wins, as in the compacted topic, so every instance that
        # read the same log holds the same table.
        with self._lock:
            self._answers[key] = remembered

    def delete(self, key: str) -> None:
        with self._lock:
            self._answers.pop(key, None)

    def prune(self) -> int:
        """Forget expired answers, so memory follows the TTL rather than all history."""
        now = self.clock()
        with self._lock:
            old = [k for k, r in self._answers.items() if now - r.stored_at > self.ttl]
            for k in old:
                del self._answers[k]
        return len(old)

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)


class MemoryIdempotencyStore:
    """One process's memory: for unit tests and single-instance development."""

    def __init__(
        self, ttl_seconds: float = 7 * 24 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.table = AnswerTable(ttl_seconds, clock)
        self.fail_puts = False  # tests flip this to simulate the log being unwritable

    def start(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def get(self, key: str) -> Remembered | None:
        return self.table.get(key)

    def sync(self, timeout: float) -> bool:
        return True

    def put(self, key: str, remembered: Remembered) -> None:
        if self.fail_puts:
            raise OSError("idempotency store unavailable (simulated)")
        self.table.set(key, remembered)

    def close(self) -> None:
        pass


class KeyLocks:
    """Striped locks: two requests with one key in one process run one after the other.

    Without this, two concurrent retries could both see "no answer yet" and both
    publish. Across instances the deterministic event id covers the same race.
    Striping keeps memory fixed however many keys there are. A lock is held for
    a whole request (its Kafka round trips included), so two requests sharing a
    stripe wait for each other: 4,096 stripes make that 1 in 100 at 40 requests
    in flight (256 made it 1 in 7; seen as lock waits in a sampled profile).
    """

    def __init__(self, stripes: int = 4096) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest()
        lock = self._locks[int.from_bytes(digest, "big") % len(self._locks)]
        with lock:
            yield
