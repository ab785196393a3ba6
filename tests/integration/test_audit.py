"""The audit record on the real broker, through the real sequencer process:
entries written with KafkaAuditor come out chained and signed, the verify
command passes them, every tampering of a copy is named at the right entry, and
a SIGKILLed sequencer's successor leaves a clean chain with each entry once."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from homeward.audit.chain import (
    Chained,
    Checkpoint,
    Item,
    Problem,
    Signer,
    chain_next,
    from_json,
    load_public_keys,
    to_json,
    verify,
)
from homeward.audit.record import AuditEntry, AuditOutcome
from homeward.audit.writer import KafkaAuditor
from homeward_audit import logio
from homeward_demo.processes import ServiceProcess
from tests.fixtures.bus import Bus
from tests.integration.support import service

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Keys:
    signing: Path
    public: Path
    signer: Signer


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    signer = Signer.generate()  # throwaway: this test's only
    signing, public = tmp_path / "audit-signing.pem", tmp_path / "audit-public.pem"
    signing.write_bytes(signer.private_pem())
    public.write_bytes(signer.public_pem())
    return Keys(signing, public, signer)


def audit_env(bus: Bus, keys: Keys) -> dict[str, str]:
    return bus.env(
        "audit",
        HOMEWARD_AUDIT_SIGNING_KEY_FILE=str(keys.signing),
        HOMEWARD_AUDIT_PUBLIC_KEYS_FILE=str(keys.public),
        HOMEWARD_AUDIT_CHECKPOINT_EVERY="20",
        HOMEWARD_AUDIT_CHECKPOINT_SECONDS="0.5",
    )


def start_sequencer(bus: Bus, keys: Keys, log: Path) -> ServiceProcess:
    return service(["-m", "homeward_audit"], audit_env(bus, keys), log).start("AUDIT_READY")


@pytest.fixture
def auditor(bus: Bus) -> Iterator[KafkaAuditor]:
    a = KafkaAuditor(bus.settings_for("intake"), topology=bus.topology)
    yield a
    a.close()


def entry(n: int) -> AuditEntry:
    """Plainly fake ids only; a few entries have no case (keyed by principal)."""
    refused = n % 9 == 0
    return AuditEntry(
        entry_id=f"AUD-TEST-{n:05d}",
        at=T0 + timedelta(seconds=n),
        service="intake",
        action=("timeline.read", "alert.issue", "alert.update")[n % 3],
        outcome=AuditOutcome.REFUSED if refused else AuditOutcome.ACCEPTED,
        principal=f"svc-test-{n % 5}" if n % 11 else "",
        agency_id="POL-0001",
        case_id="" if n % 7 == 0 else f"CASE-TEST-{n % 13:03d}",
        event_id=f"evt-test-{n}",
        status=403 if refused else 202,
        reason="role may not issue alerts" if refused else "",
        detail={"topic": "alerts.events.v1"},
    )


def complete(items: list[Item], expected: int) -> bool:
    """Every entry chained, and each partition ends on a checkpoint over its last entry."""
    entries = [i for i in items if isinstance(i, Chained)]
    if len(entries) < expected:
        return False
    last: dict[int, Item] = {}
    for i in items:
        last[i.partition] = i
    heads = {e.partition: e.seq for e in entries}
    return all(isinstance(last[p], Checkpoint) and last[p].seq == s for p, s in heads.items())


def read_complete(bus: Bus, expected: int, timeout: float = 90) -> list[Item]:
    topic = bus.topic("audit_log")
    deadline = time.monotonic() + timeout
    while True:
        items = logio.read_all(bus.settings, topic)
        if complete(items, expected):
            return items
        if time.monotonic() > deadline:
            n = sum(isinstance(i, Chained) for i in items)
            raise AssertionError(f"{n} of {expected} entries chained and checkpointed in time")


def run_verify(bus: Bus, keys: Keys, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeward_audit", "verify", *args],
        env=audit_env(bus, keys),
        capture_output=True,
        text=True,
        timeout=120,
    )


N = 300


def test_entries_written_through_the_service_verify_and_every_tampering_is_named(
    bus: Bus, keys: Keys, auditor: KafkaAuditor, tmp_path: Path
) -> None:
    seq = start_sequencer(bus, keys, tmp_path / "audit.log")
    try:
        for n in range(N):
            auditor.record(entry(n))
        read_complete(bus, N)
    finally:
        seq.stop()

    dump = tmp_path / "audit-dump.jsonl"
    done = run_verify(bus, keys, "--dump", str(dump))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"VERIFIED {N} entries" in done.stdout
    items = [from_json(json.loads(line)) for line in dump.read_text().splitlines()]
    assert sorted(i.entry.entry_id for i in items if isinstance(i, Chained)) == [
        entry(n).entry_id for n in range(N)
    ]
    assert len({i.partition for i in items}) == bus.partitions
    pub = load_public_keys(keys.public.read_bytes())
    assert verify(items, pub).ok

    # In a copy: each entry in turn altered, deleted, moved after its successor,
    # and preceded by a well-formed forgery; each must be named where it is.
    # Each partition's first and last two entries and every 7th of the rest: every
    # verify of a copy re-checks the whole chain and its signatures, so all 300 in
    # turn (1,200 verifies) was most of this test's time for little more.
    caught = Counter[str]()
    chained = [at for at, x in enumerate(items) if isinstance(x, Chained)]
    by_partition: dict[int, list[int]] = {}
    for at in chained:
        by_partition.setdefault(items[at].partition, []).append(at)
    edges = {at for ats in by_partition.values() for at in (*ats[:2], *ats[-2:])}
    sample = sorted(edges | set(chained[::7]))
    for at in sample:
        item = items[at]
        assert isinstance(item, Chained)
        same = [i for i, x in enumerate(items) if x.partition == item.partition]
        index = same.index(at)  # position among the partition's items
        altered = dataclasses.replace(item, entry=dataclasses.replace(item.entry, action="forged"))
        forged = chain_next(
            item.partition, item.seq, item.prev_hash, dataclasses.replace(entry(99999))
        )
        nxt = next((j for j in same[index + 1 :] if isinstance(items[j], Chained)), None)
        cases: list[tuple[str, list[Item], int, int, Problem]] = [
            ("alter", [*items[:at], altered, *items[at + 1 :]], index, item.seq, Problem.ALTERED),
            ("delete", items[:at] + items[at + 1 :], index, item.seq, Problem.MISSING),
            ("insert", [*items[:at], forged, *items[at:]], index, item.seq, Problem.INSERTED),
        ]
        if nxt is not None:
            swapped = list(items)
            swapped[at], swapped[nxt] = swapped[nxt], swapped[at]
            nseq = items[nxt].seq
            cases.append(("reorder", swapped, index, nseq, Problem.REORDERED))
        for what, copy, want_index, want_seq, want in cases:
            first = verify(copy, pub).first
            assert first is not None, f"{what} of partition {item.partition} seq {item.seq}"
            got = (first.partition, first.index, first.seq, first.problem)
            assert got == (item.partition, want_index, want_seq, want), (what, item.seq, first)
            caught[what] += 1
    assert len(chained) == N
    assert caught["alter"] == caught["delete"] == caught["insert"] == len(sample)
    # The last of each partition has no successor to swap with.
    assert caught["reorder"] == len(sample) - bus.partitions

    # The command names the first bad entry of a tampered file, and fails.
    victim = next(i for i, x in enumerate(items) if isinstance(x, Chained) and x.seq == 5)
    lines = dump.read_text().splitlines()
    bad = json.loads(lines[victim])
    bad["entry"]["principal"] = "someone-else"
    lines[victim] = json.dumps(bad)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    done = run_verify(bus, keys, "--file", str(tampered))
    assert done.returncode == 1, done.stdout
    assert f"FIRST BAD: partition {items[victim].partition} seq 5" in done.stdout
    assert "altered" in done.stdout


def test_a_sigkilled_sequencer_leaves_a_clean_chain_with_each_entry_once(
    bus: Bus, keys: Keys, auditor: KafkaAuditor, tmp_path: Path
) -> None:
    topic = bus.topic("audit_log")
    first = start_sequencer(bus, keys, tmp_path / "audit-1.log")
    written = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(N):
                auditor.record(entry(n))
            for n in range(0, N, 10):  # at-least-once input: some entries arrive twice
                auditor.record(entry(n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            written.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while sum(isinstance(i, Chained) for i in logio.read_all(bus.settings, topic)) < 60:
            assert time.monotonic() < deadline, "the sequencer chained nothing in time"
        first.kill()  # SIGKILL, mid-stream
        second = start_sequencer(bus, keys, tmp_path / "audit-2.log")
        try:
            writer.join(timeout=120)
            assert written.is_set() and not errors, errors
            items = read_complete(bus, N)
        finally:
            second.stop()
    finally:
        first.kill()
        writer.join(timeout=5)

    ids = Counter(i.entry.entry_id for i in items if isinstance(i, Chained))
    assert set(ids) == {entry(n).entry_id for n in range(N)}
    assert set(ids.values()) == {1}, [k for k, v in ids.items() if v > 1]
    report = verify(items, load_public_keys(keys.public.read_bytes()))
    assert report.ok, report.first
    done = run_verify(bus, keys)
    assert done.returncode == 0 and f"VERIFIED {N} entries" in done.stdout, done.stdout
    assert all(to_json(i) for i in items)
