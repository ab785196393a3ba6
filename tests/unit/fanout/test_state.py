"""The case state's stored form: small enough for Kafka at any realistic
agency count, in parts (on the case's partition) beyond that, and the
format before it still read."""

from __future__ import annotations

import json
import random
import string
from collections.abc import MutableMapping
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner import DefaultPartitioner as KafkaPythonPartitioner

from homeward.actors import agency_actor
from homeward.agencies import Agency, AgencyType
from homeward.events import AgencyAcknowledgement, AlertDelivery, DeliveryEscalated
from homeward.geo import haversine_km
from homeward_fanout.planner import (
    CaseState,
    delivery_id,
    directory_of,
    handle_event,
    handle_tick,
    to_ms,
)
from homeward_fanout.state import StateFormatError
from homeward_fanout.store import PART_BYTES, CaseStore, is_case_key, partition_of
from tests.unit.fanout.geo import agency_at
from tests.unit.fanout.test_planner import AGENCIES, OFFICES, POLICY, T0, alert, issue

KAFKA_LIMIT = 1_000_000


def v1_doc(state: CaseState, agencies: list[Agency]) -> dict[str, Any]:
    """The state as the fan-out stored it before format 2 (one JSON object,
    [type, ring, km] per recipient, a pending entry per delivery id)."""
    by_id = directory_of(agencies)
    issued = state.issued

    def km(aid: str) -> float:
        a = by_id.get(aid)
        assert a is not None
        where = issued.last_seen
        return round(haversine_km(where.latitude, where.longitude, a.latitude, a.longitude), 3)

    def type_of(aid: str) -> str:
        a = by_id.get(aid)
        assert a is not None
        return a.type.value

    return {
        "case_id": state.case_id,
        "status": state.status,
        "alert": state.alert,
        "alert_event_id": state.alert_event_id,
        "accepted_ms": state.accepted_ms,
        "radius_km": state.radius_km,
        "recipients": {
            aid: [type_of(aid), ring, km(aid)] for aid, ring in state.recipients.items()
        },
        "pending": {
            delivery_id(state.alert_event_id, aid): {
                "agency_id": aid,
                "agency_type": type_of(aid),
                "ring_km": state.recipients[aid],
                "distance_km": km(aid),
                "attempts": attempts,
                "first_sent_ms": state.first_sent_ms(aid),
                "due_ms": due,
            }
            for aid, (attempts, due) in state.pending.items()
        },
        "seen_events": state.seen_events,
        "public": state.public,
    }


def synthetic_state(n: int, make_id: Any) -> CaseState:
    state, _ = issue(0.5)
    due = to_ms(T0) + 600_000
    for i in range(n):
        aid = make_id(i)
        state.recipients[aid] = (100, 200, 300, 500)[i * 4 // n]
        state.pending[aid] = (1 + i % 2, due + i % 7)
    state.sent_ms.update({100: to_ms(T0), 200: to_ms(T0) + 1, 300: to_ms(T0) + 2, 500: 3})
    return state


class Recording(dict[bytes, bytes]):
    """A table that remembers each write's size, and can fail after `fail_after` writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[bytes, int]] = []
        self.fail_after: int | None = None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if self.fail_after is not None and len(self.writes) >= self.fail_after:
            raise RuntimeError("worker killed")
        self.writes.append((key, len(value)))
        super().__setitem__(key, value)


def test_the_stored_state_keeps_per_recipient_only_its_ring_and_pending_clock() -> None:
    state, out = issue(0.5)
    doc = state.to_json()
    assert doc["v"] == 2
    ring = {km: entries for km, _, entries in doc["rings"]}
    assert sorted(ring) == [100]
    assert sorted(e[0] for e in ring[100]) == sorted(o.key for o in out)
    assert all(e[1:] == [1, to_ms(T0) + 60_000] for e in ring[100])
    state.pending.pop("TST-00000")
    entries = {e if isinstance(e, str) else e[0]: e for e in state.to_json()["rings"][0][2]}
    assert entries["TST-00000"] == "TST-00000"  # acknowledged: its id only


@pytest.mark.parametrize(
    "make_id",
    [
        lambda i: f"BENCH-{i:05d}",
        lambda i: f"POL-{110000 + (i * 7919) % 549999}-{i % 10000:04d}",
    ],
    ids=["numbered", "structured"],
)
def test_a_case_reaching_50000_agencies_is_one_record_well_under_a_megabyte(make_id: Any) -> None:
    state = synthetic_state(50_000, make_id)
    table = Recording()
    CaseStore(table).save(b"CASE-T-1", state)
    assert [k for k, _ in table.writes] == [b"CASE-T-1"]
    assert table.writes[0][1] < KAFKA_LIMIT // 2
    assert CaseStore(table).load(b"CASE-T-1") == state


def test_a_state_too_large_for_one_record_is_kept_in_parts_each_under_the_limit() -> None:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    # The longest ids the directory allows, random: the worst case for compression.
    ids = ["".join(rng.choices(alphabet, k=64)) for _ in range(50_000)]
    state = synthetic_state(len(ids), ids.__getitem__)
    table = Recording()
    store = CaseStore(table)
    store.save(b"CASE-T-1", state)
    assert len(table.writes) > 2
    assert all(size <= PART_BYTES + 64 < KAFKA_LIMIT for _, size in table.writes)
    assert table.writes[-1][0] == b"CASE-T-1"  # the case record last, after its parts
    assert store.load(b"CASE-T-1") == state
    assert list(store.case_keys()) == [b"CASE-T-1"]
    # Smaller again: one record, and the parts are gone.
    small = synthetic_state(10, ids.__getitem__)
    store.save(b"CASE-T-1", small)
    assert set(table) == {b"CASE-T-1"}
    assert store.load(b"CASE-T-1") == small


def test_a_worker_killed_between_the_parts_and_the_case_record_leaves_the_old_state() -> None:
    first = synthetic_state(3_000, lambda i: f"{i:064d}")
    second = synthetic_state(3_001, lambda i: f"{i:064d}")
    table = Recording()
    store = CaseStore(table, part_bytes=4096)
    store.save(b"CASE-T-1", first)
    table.fail_after = len(table.writes) + 2  # two parts of the new version, then killed
    with pytest.raises(RuntimeError):
        store.save(b"CASE-T-1", second)
    assert store.load(b"CASE-T-1") == first
    table.fail_after = None
    store.save(b"CASE-T-1", second)
    assert store.load(b"CASE-T-1") == second
    store.save(b"CASE-T-1", first)
    assert store.load(b"CASE-T-1") == first


class Cluster:
    """Just enough of kafka-python's cluster metadata for its partitioner."""

    def __init__(self, partitions: int) -> None:
        self.every = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.every

    available_partitions_for_topic = partitions_for_topic


def test_every_key_of_a_case_is_on_the_partition_producers_pick_for_the_case() -> None:
    # aiokafka: the fan-out's own producer (ticks, changelog); kafka-python:
    # intake's and the agency SDK's (alerts, acks).
    aiokafka, kafka_python = DefaultPartitioner(), KafkaPythonPartitioner()
    for n in range(200):
        case = f"CASE-{n:04d}-{'x' * (n % 9)}".encode()
        for partitions in (1, 3, 6, 12):
            every = list(range(partitions))
            expected = aiokafka(case, every, every)
            assert expected == kafka_python.partition(
                "t", case, case, b"", b"", Cluster(partitions)
            )
            assert partition_of(case, partitions) == expected
            assert partition_of(case + b"/1/7", partitions) == expected
    assert is_case_key(b"CASE-1") and not is_case_key(b"CASE-1/0/0")


def test_a_state_in_the_format_before_2_is_read_and_handled_on() -> None:
    state, out = issue(0.5)
    old = v1_doc(state, AGENCIES)
    table = {b"CASE-T-1": json.dumps(old).encode()}
    read = CaseStore(table).load(b"CASE-T-1")
    assert read == state
    # An ack of a delivery the old version sent stops its clock...
    theirs = next(o for o in out if o.key == "TST-00000")
    ack = AgencyAcknowledgement(
        case_id="CASE-T-1",
        delivery_id=theirs.event_id,
        agency_id="TST-00000",
        actor=agency_actor("TST-00000", ""),
    )
    assert read is not None
    handle_event(read, ack, event_id="a", accepted_ms=1, now_ms=1, agencies=AGENCIES, policy=POLICY)
    assert "TST-00000" not in read.pending
    # ...and the others are resent with their ids, then escalated with their first send.
    t = to_ms(T0) + 61_000
    resent = handle_tick(
        read, now_ms=t, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert {o.event_id for o in resent} == {o.event_id for o in out if o.key != "TST-00000"}
    assert all(isinstance(o.event, AlertDelivery) and o.event.attempt == 2 for o in resent)
    escalated = handle_tick(
        read, now_ms=t + 61_000, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert escalated and all(
        isinstance(o.event, DeliveryEscalated) and o.event.first_sent_at == T0 for o in escalated
    )


def test_a_state_stored_before_public_parts_existed_still_loads() -> None:
    state, _ = issue(0.5)
    old = v1_doc(state, AGENCIES)
    del old["public"]
    assert CaseState.from_json(json.loads(json.dumps(old))).public_part == state.public_part


@pytest.mark.parametrize(
    "stored",
    [b'{"v": 3, "case_id": "CASE-T-1"}', b"x\x9c garbage", b'{"case_id": "CASE-T-1"}'],
    ids=["a later format", "an unknown form", "a broken format 1"],
)
def test_a_state_this_version_cannot_read_fails_clearly(stored: bytes) -> None:
    with pytest.raises(StateFormatError) as caught:
        CaseStore({b"CASE-T-1": stored}).load(b"CASE-T-1")
    assert caught.value.field == "state"


def test_a_missing_part_fails_clearly() -> None:
    state = synthetic_state(3_000, lambda i: f"{i:064d}")
    table: MutableMapping[bytes, bytes] = {}
    store = CaseStore(table, part_bytes=4096)
    store.save(b"CASE-T-1", state)
    del table[next(k for k in table if not is_case_key(k))]
    with pytest.raises(StateFormatError, match="missing"):
        CaseStore(table).load(b"CASE-T-1")  # as a restarted worker reads it


def test_a_parsed_state_is_reused_only_while_the_table_holds_what_it_was_read_from() -> None:
    first, _ = issue(0.5)
    table: dict[bytes, bytes] = {}
    store = CaseStore(table)
    store.save(b"CASE-T-1", first)
    loaded = store.load(b"CASE-T-1")
    assert loaded is first  # no parse for the case's next batch
    store.keep(b"CASE-T-1", first)
    # Another version arrives in the table (recovered from the changelog after
    # a rebalance): it is read, not the object kept.
    second = first.copy()
    second.pending.clear()
    CaseStore(table).save(b"CASE-T-1", second)
    assert store.load(b"CASE-T-1") == second


def test_an_alert_to_50000_agencies_is_planned_and_stored_in_one_small_record() -> None:
    types = list(AgencyType)
    agencies = [
        agency_at(i, 1 + i % 95, bearing=(i * 7.3) % 360, type_=types[i % len(types)])
        for i in range(50_000)
    ]
    res = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=agencies,
        policy=POLICY,
    )
    assert res.state is not None and len(res.state.recipients) > 40_000
    table = Recording()
    CaseStore(table).save(b"CASE-T-1", res.state)
    assert [k for k, _ in table.writes] == [b"CASE-T-1"]
    assert table.writes[0][1] < KAFKA_LIMIT // 4
