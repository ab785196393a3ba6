"""The agency subscriber, its CLI and the fleet on the real broker.

Deliveries are encoded here with the Codec, as the fan-out would, into the
inbox of a private topic slice (the `bus` fixture); every wait is a poll
against a deadline (helpers in tests/integration/agency_broker_io.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from kafka import TopicPartition

from homeward import kafka
from homeward.codec import Record
from homeward.deadletter import OFFSET, PARTITION, REASON, TOPIC
from homeward.events import AgencyAcknowledgement
from homeward.events.base import utcnow
from homeward_agency import Fleet, Subscriber
from homeward_agency.subscriber import group_id_for
from tests.fixtures.bus import Bus
from tests.integration.agency_broker_io import (
    Collector,
    Endpoint,
    acks,
    cli,
    codec,
    committed,
    produce,
    read_topic,
    running,
    same_and_other_partition,
)
from tests.unit.agency import samples as s

pytestmark = pytest.mark.integration


def inbox_records(agency: str, ids: list[str], **kw: Any) -> list[Record]:
    return [s.encode(codec, s.delivery(agency, i, **kw), agency) for i in ids]


# -- the subscriber --------------------------------------------------------------
def test_gets_exactly_its_own_deliveries_in_order_and_acks_them(bus: Bus) -> None:
    me = "PS-TEST-ME"
    same, other = same_and_other_partition(me, bus.partitions)
    records: list[Record] = []
    for i in range(5):
        records += inbox_records(me, [f"ME-{i}"])
        records += inbox_records(same, [f"SAME-{i}"])
        records += inbox_records(other, [f"OTHER-{i}"])
    produce(bus, bus.topology.inbox("police").name, records)

    shown = Collector()
    with running(Subscriber(me, "police", bus.settings_for("police")), shown) as sub:
        assert shown.wait_for(5) == [f"ME-{i}" for i in range(5)]
        got = acks(bus, 5)
        stats = sub.stats()
    assert all(d.key == me and d.kind == "alert" for d in shown.shown)
    assert stats.skipped_other_agencies == 5  # the same-partition agency's, never decoded
    assert sub.partition == kafka.partition_for(me.encode(), bus.partitions)
    by_delivery = {d.delivery_id: d for d in shown.shown}
    assert sorted(decoded.event.delivery_id for _r, decoded in got) == sorted(by_delivery)
    for record, decoded in got:
        ack = decoded.event
        assert isinstance(ack, AgencyAcknowledgement)
        assert (ack.agency_id, ack.case_id) == (me, "CASE-TEST-1")
        assert record.key == b"CASE-TEST-1"
        assert decoded.meta.causation_id == by_delivery[ack.delivery_id].meta.id
        assert decoded.meta.correlation_id == "CASE-TEST-1"


def test_a_duplicate_is_shown_once_and_acknowledged_twice(bus: Bus) -> None:
    me = "PS-TEST-DUP"
    inbox = bus.topology.inbox("police").name
    produce(bus, inbox, inbox_records(me, ["D-1", "D-2"]))
    shown = Collector()
    with running(Subscriber(me, "police", bus.settings_for("police")), shown) as sub:
        shown.wait_for(2)
        acks(bus, 2)
        # The fan-out resends what it has no acknowledgement for (as if ours were lost).
        produce(bus, inbox, inbox_records(me, ["D-1"], attempt=2))
        got = acks(bus, 3)
        assert sub.stats().duplicates == 1
    assert shown.ids() == ["D-1", "D-2"]
    assert sorted(d.event.delivery_id for _r, d in got) == ["D-1", "D-1", "D-2"]
    assert [d.event.note for _r, d in got] == ["", "", "duplicate"]


def test_corrupt_records_are_dead_lettered_and_the_subscriber_goes_on(bus: Bus) -> None:
    me = "PS-TEST-DLQ"
    inbox = bus.topology.inbox("police").name
    good = inbox_records(me, ["D-1", "D-2"])
    garbage = Record(me.encode(), b"\x00this is not avro\xff", [])
    bad_header = Record(
        good[0].key,
        good[0].value,
        [(k, b"yesterday-ish" if k == "ce_time" else v) for k, v in good[0].headers],
    )
    produce(bus, inbox, [good[0], garbage, bad_header, good[1]])

    shown = Collector()
    with running(Subscriber(me, "police", bus.settings_for("police")), shown) as sub:
        assert shown.wait_for(2) == ["D-1", "D-2"]
        letters = read_topic(bus, bus.topic("dead_letters"), lambda rs: len(rs) >= 2)
        assert committed(bus, sub.group_id, TopicPartition(inbox, sub.partition), 4) == 4
    assert sub.stats().dead_letters == 2
    assert [r.value for r in letters] == [garbage.value, bad_header.value]
    for letter, offset in zip(letters, (1, 2), strict=True):
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers[TOPIC] == inbox and headers[OFFSET] == str(offset)
        assert headers[PARTITION] == str(sub.partition)
        assert headers[REASON]
        assert letter.key == me.encode()
    assert {k: v for k, v in letters[1].headers}["dlq_field"] == b"headers.ce_time"


def test_after_a_restart_in_the_same_group_nothing_is_shown_again(bus: Bus) -> None:
    me = "PS-TEST-RESTART"
    inbox = bus.topology.inbox("police").name
    garbage = Record(me.encode(), b"garbage at the end", [])
    produce(bus, inbox, [*inbox_records(me, ["D-1", "D-2"]), garbage])
    first = Collector()
    with running(Subscriber(me, "police", bus.settings_for("police")), first) as sub:
        first.wait_for(2)
        assert committed(bus, sub.group_id, TopicPartition(inbox, sub.partition), 3) == 3

    produce(bus, inbox, inbox_records(me, ["D-3"]))
    second = Collector()
    with running(Subscriber(me, "police", bus.settings_for("police")), second) as again:
        assert second.wait_for(1) == ["D-3"]
        acks(bus, 3)
    assert again.stats().dead_letters == 0  # the trailing bad record's offset was committed
    assert again.stats().shown == 1 and again.stats().duplicates == 0
    assert second.ids() == ["D-3"]


def test_a_failed_handler_gets_the_same_delivery_again_without_a_resend(bus: Bus) -> None:
    me = "PS-TEST-RETRY"
    inbox = bus.topology.inbox("police").name
    produce(
        bus,
        inbox,
        inbox_records(me, ["U-1"], event=s.updated())
        + inbox_records(me, ["C-1"], event=s.cancelled()),
    )
    committed_while_failing: list[int | None] = []
    sub = Subscriber(me, "police", bus.settings_for("police"))
    tp = TopicPartition(inbox, sub.partition)

    def on_call(delivery: Any) -> None:
        if delivery.delivery_id == "U-1" and len(shown.calls) > 1:
            # The subscriber is inside the handler: its committed offset is still.
            committed_while_failing.append(committed(bus, sub.group_id, tp, 0))

    shown = Collector(fail_on={"U-1": 2}, on_call=on_call)
    with running(sub, shown, retry_delay=0.05):
        assert shown.wait_for(2) == ["U-1", "C-1"]
        got = acks(bus, 2)
        assert committed(bus, sub.group_id, tp, 2) == 2
        stats = sub.stats()
    assert shown.calls == ["U-1", "U-1", "U-1", "C-1"]  # C-1 waited behind U-1
    assert committed_while_failing == [0, 0]  # never past U-1 while it failed
    assert [d.kind for d in shown.shown] == ["update", "cancellation"]
    assert [d.event.attempt for d in shown.shown] == [1, 1]  # the same record, no resend
    assert [d.event.delivery_id for _r, d in got] == ["U-1", "C-1"]
    assert (stats.handler_failures, stats.acks_sent, stats.duplicates) == (2, 2, 0)
    # Stopped and closed: the acks topic holds all it will get, U-1 acknowledged once.
    assert sorted(d.event.delivery_id for _r, d in acks(bus)) == ["C-1", "U-1"]


def test_the_coordination_office_sees_escalations_without_acking_them(bus: Bus) -> None:
    office = "CO-TEST-1"
    records = [
        s.encode(codec, s.escalated("SCHOOL-D-7"), office),
        *inbox_records(office, ["CO-D-1"], agency_type="coordination_office"),
    ]
    produce(bus, bus.topology.inbox("coordination_office").name, records)
    shown = Collector()
    with running(
        Subscriber(office, "coordination_office", bus.settings_for("coordination_office")), shown
    ) as sub:
        shown.wait_for(2)
        got = acks(bus, 1)
    assert [d.kind for d in shown.shown] == ["escalation", "alert"]
    assert [d.event.delivery_id for _r, d in got] == ["CO-D-1"]
    assert sub.stats().acks_sent == 1


# -- the CLI ---------------------------------------------------------------------
def test_cli_prints_json_lines_acks_and_stops_on_sigterm(bus: Bus) -> None:
    me = "PS-TEST-CLI"
    inbox = bus.topology.inbox("police").name
    produce(bus, inbox, inbox_records(me, ["C-1", "C-2"]) + inbox_records(me, ["C-1"], attempt=2))
    with cli(bus, "--agency-id", me, "--agency-type", "police", "--json") as run:
        got = run.take(2)
        acks(bus, 3)
        assert run.stop() == 0, run.stderr
    objs = [json.loads(line) for line in got]
    assert [o["delivery_id"] for o in objs] == ["C-1", "C-2"]
    assert objs[0]["data"]["event"]["child"]["name"] == "Test Child Alpha"
    assert run.lines.empty()  # the resend of C-1 was not printed again
    tp = TopicPartition(inbox, kafka.partition_for(me.encode(), bus.partitions))
    assert committed(bus, bus.prefix + group_id_for(me), tp, 3) == 3


def test_cli_forwards_again_until_the_endpoint_takes_it_and_only_then_acks(bus: Bus) -> None:
    me = "PS-TEST-HOOK"
    inbox = bus.topology.inbox("police").name
    produce(
        bus,
        inbox,
        inbox_records(me, ["OK-1"])
        + inbox_records(me, ["C-1"], event=s.cancelled())
        + inbox_records(me, ["U-1"], event=s.updated()),
    )
    # Down for a while: more refusals than the forwarder's own tries.
    endpoint = Endpoint(refuse={"C-1": 3})
    tp = TopicPartition(inbox, kafka.partition_for(me.encode(), bus.partitions))
    try:
        with cli(
            bus,
            *("--agency-id", me, "--agency-type", "police", "--forward", endpoint.url, "--json"),
            HOMEWARD_AGENCY_FORWARD_ATTEMPTS="2",
            HOMEWARD_AGENCY_FORWARD_BACKOFF_SECONDS="0.01",
        ) as run:
            endpoint.wait_for({"OK-1": 1, "C-1": 4, "U-1": 1})
            got = acks(bus, 3)
            assert committed(bus, bus.prefix + group_id_for(me), tp, 3) == 3
            assert run.stop() == 0, run.stderr
    finally:
        endpoint.server.shutdown()
    # U-1 was posted only once C-1 had been taken: an agency's order holds.
    assert endpoint.posts == ["OK-1", "C-1", "C-1", "C-1", "C-1", "U-1"]
    assert [d.event.delivery_id for _r, d in got] == ["OK-1", "C-1", "U-1"]
    printed = [json.loads(line)["delivery_id"] for line in list(run.lines.queue)]
    assert list(dict.fromkeys(printed)) == ["OK-1", "C-1", "U-1"]
    assert "C-1" in run.stderr and "not acknowledged" in run.stderr and "HTTP 503" in run.stderr
    assert "Test Child" not in run.stderr
    # The process has flushed and exited: the acks topic holds all it will get.
    assert sorted(d.event.delivery_id for _r, d in acks(bus)) == ["C-1", "OK-1", "U-1"]


# -- the fleet -------------------------------------------------------------------
def test_fleet_acks_for_every_agency_but_the_silent_ones(bus: Bus) -> None:
    accepted = utcnow() - timedelta(seconds=1)
    police = ["PS-FLEET-1", "PS-FLEET-2", "PS-FLEET-SILENT"]
    schools = ["SCH-FLEET-1", "SCH-FLEET-2"]
    records: dict[str, list[Record]] = {"police": [], "education": []}
    for agency in police:
        records["police"] += inbox_records(
            agency, [f"{agency}-D1", f"{agency}-D2"], accepted_at=accepted
        )
    for agency in schools:
        records["education"] += inbox_records(
            agency, [f"{agency}-D1"], agency_type="education", accepted_at=accepted
        )
    records["police"] += inbox_records(
        "PS-FLEET-1", ["PS-FLEET-1-D1"], attempt=2, accepted_at=accepted
    )
    records["education"].append(Record(b"SCH-FLEET-1", b"broken", []))
    for agency_type, recs in records.items():
        produce(bus, bus.topology.inbox(agency_type).name, recs)

    fleet = Fleet(
        # Admin: a simulator over two agency types; no declared principal serves two types.
        bus.settings,
        agency_types=["police", "education"],
        group_id=f"fleet-{bus.prefix}",
        silent={"PS-FLEET-SILENT"},
        ack_delay={"SCH-FLEET-2": 0.3},
    ).start()
    try:
        expected = {(a, f"{a}-D{i}") for a in ("PS-FLEET-1", "PS-FLEET-2") for i in (1, 2)}
        expected |= {(a, f"{a}-D1") for a in schools}

        def acked(rs: list[Any]) -> bool:
            seen = {
                (e.agency_id, e.delivery_id)
                for e in (codec.decode(r.value, r.headers).event for r in rs)
            }
            return expected <= seen

        got = read_topic(bus, bus.topic("alert_acks"), acked)
        read_topic(bus, bus.topic("dead_letters"), lambda rs: len(rs) >= 1)
    finally:
        stats = fleet.stop()
    acked_by = {codec.decode(r.value, r.headers).event.agency_id for r in got}
    assert "PS-FLEET-SILENT" not in acked_by
    assert stats.deliveries == {
        "PS-FLEET-1": 2,
        "PS-FLEET-2": 2,
        "PS-FLEET-SILENT": 2,
        "SCH-FLEET-1": 1,
        "SCH-FLEET-2": 1,
    }
    assert stats.acks.get("PS-FLEET-SILENT", 0) == 0
    assert stats.duplicates_dropped == 1 and stats.dead_letters == 1
    assert len(stats.latencies_ms) == 8
    assert all(0 < ms < 60_000 for ms in stats.latencies_ms)
    assert stats.summary()["deliveries"] == 8
