"""The demo's audit record: the sequencer's settings, and at the end the chain read back
and checked as `python -m homeward_audit verify` checks it (homeward.audit.chain.verify over
every partition of audit.log.v1), once the sequencer has chained and checkpointed every
entry intake wrote (docs/audit.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from homeward import kafka as hkafka
from homeward.audit.chain import Chained, Checkpoint, Item, load_public_keys, verify
from homeward.codec import Codec
from homeward.errors import CodecError
from homeward.events.audit import AuditEntry
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_audit import logio

#: A short checkpoint interval: the demo's log should end on a signed head soon after the
#: last entry (5 s by default).
CHECKPOINT_SECONDS = "1"


def key_files(run_dir: Path) -> tuple[Path, Path]:
    """The throwaway signing key the sequencer makes for this run, and its public key."""
    return run_dir / "audit" / "audit-signing.pem", run_dir / "audit" / "audit-public.pem"


def sequencer_env(base: dict[str, str], run_dir: Path) -> dict[str, str]:
    signing, public = key_files(run_dir)
    return {
        **base,
        # Demo only: a key made for this run (docs/audit.md); never in production.
        "HOMEWARD_AUDIT_GENERATE_KEY": "true",
        "HOMEWARD_AUDIT_SIGNING_KEY_FILE": str(signing),
        "HOMEWARD_AUDIT_PUBLIC_KEYS_FILE": str(public),
        "HOMEWARD_AUDIT_CHECKPOINT_SECONDS": CHECKPOINT_SECONDS,
    }


def written(settings: KafkaSettings, topic: str, codec: Codec | None = None) -> set[str]:
    """The ids of every entry on audit.entries.v1 (a retried write is one entry)."""
    codec = codec or Codec()
    consumer = logio.reader(settings)
    ids: set[str] = set()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return ids
        ends = hkafka.end_offsets(consumer, tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end offsets in 60 s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    try:
                        event = codec.decode(r.value, r.headers).event
                    except CodecError:
                        continue  # the sequencer skips it too (and counts it)
                    if isinstance(event, AuditEntry):
                        ids.add(event.entry_id)
        return ids
    finally:
        consumer.close()


def complete(items: list[Item], ids: set[str]) -> bool:
    """Every entry chained, and each partition ends on a checkpoint over its last entry."""
    chained = {i.entry.entry_id for i in items if isinstance(i, Chained)}
    if not ids <= chained:
        return False
    last: dict[int, Item] = {}
    for item in items:
        last[item.partition] = item
    heads = {i.partition: i.seq for i in items if isinstance(i, Chained)}
    return all(isinstance(last[p], Checkpoint) and last[p].seq == s for p, s in heads.items())


def figures(
    settings: KafkaSettings,
    topology: Topology,
    public_keys: Path,
    timeout: float = 30,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Wait (bounded) until the sequencer has chained everything intake wrote, then verify
    the chain with the run's public key. A timeout still verifies what is there."""
    ids = written(settings, topology.get("audit_entries").name)
    log_topic = topology.get("audit_log").name
    deadline = time.monotonic() + timeout
    while True:
        items = logio.read_all(settings, log_topic)
        settled = complete(items, ids)
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # the sequencer checkpoints every CHECKPOINT_SECONDS; poll until then
    if not settled:
        n = sum(isinstance(i, Chained) for i in items)
        say(f"audit: {n} of {len(ids)} entries chained and checkpointed in {timeout:.0f} s")
    report = verify(items, load_public_keys(public_keys.read_bytes()))
    first = report.first
    return {
        "audit_entries_written": len(ids),
        "audit_entries_chained": sum(r.entries for r in report.partitions.values()),
        "audit_checkpoints": sum(r.checkpoints for r in report.partitions.values()),
        "audit_chain_settled": settled,
        "audit_chain_verified": first is None,
        "audit_first_bad": None if first is None else str(first),
    }
