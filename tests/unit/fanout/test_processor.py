"""The processor's failure handling, with a send function that stands in for
the producer (the flows themselves are tested on the real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from homeward import processing
from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.errors import CodecError
from homeward.events import AgencyAcknowledgement, AlertDelivery, AlertUpdated
from homeward.topology import Topology
from homeward_fanout.planner import Policy, delivery_id, to_ms
from homeward_fanout.processor import FanoutProcessor
from homeward_fanout.store import CaseStore
from tests.unit.fanout.geo import agency_at
from tests.unit.fanout.test_planner import AGENCIES, T0, alert


class FlakySend:
    """Fails the first `failures` sends, then records every send."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes, headers: Any) -> Awaitable[Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker not available")
        self.sent.append((topic, key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def make(send: FlakySend, table: dict[bytes, bytes]) -> FanoutProcessor:
    return FanoutProcessor(
        topology=Topology.load(prefix=""),
        agencies=AGENCIES,
        policy=Policy(),
        table=table,
        send=send,
        source="/test",
        clock=lambda: to_ms(T0) / 1000,
    )


def record(event: Any, key: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    rec, _ = Codec().encode(event, key=key or event.case_id, source="/test/police", time=T0)
    return rec.key, rec.value, rec.headers


def inbox_topics() -> set[str]:
    topology = Topology.load(prefix="")
    return {topology.inbox(t).name for t in AgencyType}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "RETRY_FIRST_SECONDS", 0.001)


def test_broker_trouble_is_retried_until_the_deliveries_are_written_then_state_saved() -> None:
    send, table = FlakySend(failures=2), {}
    key, value, headers = record(alert(0.5))
    asyncio.run(make(send, table).process("alerts.events.v1", 0, 7, key, value, headers))
    inboxes = [t for t, _ in send.sent if t in inbox_topics()]
    assert len(inboxes) == 3  # the first ring, written once the broker came back
    assert b"CASE-T-1" in table
    assert not any(t == "police.deadletter.v1" for t, _ in send.sent)


def test_a_record_keyed_by_something_else_is_dead_lettered_and_no_state_is_kept() -> None:
    send, table = FlakySend(), {}
    key, value, headers = record(alert(0.5), key="SOMETHING-ELSE")
    asyncio.run(make(send, table).process("alerts.events.v1", 2, 9, key, value, headers))
    assert send.sent == [("police.deadletter.v1", b"SOMETHING-ELSE")]
    assert table == {}


def test_an_event_the_planner_refuses_is_dead_lettered_and_the_next_one_is_handled() -> None:
    send, table = FlakySend(), {}
    p = make(send, table)
    orphan = record(AlertUpdated(case_id="CASE-T-1", new_information="before any alert"))
    asyncio.run(p.process("alerts.events.v1", 0, 1, *orphan))
    asyncio.run(p.process("alerts.events.v1", 0, 2, *record(alert(0.5))))
    assert send.sent[0] == ("police.deadletter.v1", b"CASE-T-1")
    assert len([t for t, _ in send.sent if t in inbox_topics()]) == 3


# -- batches -------------------------------------------------------------------


class HeldSend:
    """Takes every record at once; the broker's acknowledgements come when released."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.acks: list[asyncio.Future[None]] = []
        self.loop_turns = 0
        self.turns_at_send: list[int] = []

    async def __call__(self, topic: str, key: bytes, value: bytes, headers: Any) -> Awaitable[Any]:
        self.sent.append((topic, key))
        self.turns_at_send.append(self.loop_turns)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack

    def release(self) -> None:
        for ack in self.acks:
            if not ack.done():
                ack.set_result(None)

    async def count_turns(self) -> None:
        while True:
            self.loop_turns += 1
            await asyncio.sleep(0)


class Writes(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.keys_written: list[bytes] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.keys_written.append(key)
        super().__setitem__(key, value)


def msg(event: Any, offset: int = 0, topic: str = "alerts.events.v1") -> tuple[Any, ...]:
    key, value, headers = record(event)
    return (topic, 0, offset, key, value, headers)


def acks_for(table: dict[bytes, bytes], agency_ids: list[str]) -> list[tuple[Any, ...]]:
    state = CaseStore(table).load(b"CASE-T-1")
    assert state is not None
    return [
        msg(
            AgencyAcknowledgement(
                case_id="CASE-T-1",
                delivery_id=delivery_id(state.alert_event_id, aid),
                agency_id=aid,
                actor=agency_actor(aid, ""),
            ),
            n,
            "alerts.acks.v1",
        )
        for n, aid in enumerate(agency_ids)
    ]


def test_a_batch_is_stored_only_once_the_broker_has_all_of_its_output() -> None:
    async def run() -> None:
        send, table = HeldSend(), Writes()
        p = make(send, table)  # type: ignore[arg-type]
        other = alert(0.5).model_copy(update={"case_id": "CASE-T-2"})
        task = asyncio.create_task(p.process_batch([msg(alert(0.5)), msg(other, 1)]))
        while len(send.sent) < 6:
            await asyncio.sleep(0)
        assert not task.done() and table == {}  # nothing stored before the broker answered
        send.release()
        await task
        assert sorted(table.keys_written) == [b"CASE-T-1", b"CASE-T-2"]

    asyncio.run(run())


def test_a_batch_of_acks_changes_the_case_once() -> None:
    send, table = FlakySend(), Writes()
    p = make(send, table)  # type: ignore[arg-type]
    asyncio.run(p.process(*msg(alert(0.5))))
    table.keys_written.clear()
    acks = acks_for(table, ["TST-00000", "TST-00001"])
    asyncio.run(p.process_batch([*acks, acks[0]]))  # a copy of the first in the same batch
    assert table.keys_written == [b"CASE-T-1"]
    state = CaseStore(table).load(b"CASE-T-1")
    assert state is not None and set(state.pending) == {"TST-00006"}
    # A batch of acks that change nothing writes nothing.
    asyncio.run(p.process_batch(acks))
    assert table.keys_written == [b"CASE-T-1"]


def test_a_record_that_fails_half_way_leaves_the_batch_state_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send, table = FlakySend(), {}
    p = make(send, table)
    encode = p.codec.encode

    def failing(event: Any, **kw: Any) -> Any:
        inner = getattr(event, "event", None)
        if isinstance(inner, AlertUpdated) and inner.new_information == "boom":
            raise CodecError("cannot encode", field="event")
        return encode(event, **kw)

    monkeypatch.setattr(p.codec, "encode", failing)
    bad = AlertUpdated(case_id="CASE-T-1", new_information="boom", public_summary="Bad summary")
    good = AlertUpdated(case_id="CASE-T-1", new_information="fine")
    batch = [msg(alert(0.5)), msg(bad, 1), msg(good, 2)]
    asyncio.run(p.process_batch(batch))
    assert [t for t, _ in send.sent].count("police.deadletter.v1") == 1
    state = CaseStore(table).load(b"CASE-T-1")
    assert state is not None
    assert len(state.seen_events) == 2 and state.public == {}  # the bad update left no trace
    assert len(state.pending) == 3


def test_a_large_fan_out_is_sent_while_it_is_being_built() -> None:
    agencies = [agency_at(i, 1 + i % 90, bearing=i * 3.7) for i in range(1_000)]

    async def run() -> HeldSend:
        send = HeldSend()
        p = FanoutProcessor(
            topology=Topology.load(prefix=""),
            agencies=agencies,
            policy=Policy(),
            table={},
            send=send,
            source="/test",
            clock=lambda: to_ms(T0) / 1000,
        )
        turns = asyncio.create_task(send.count_turns())
        task = asyncio.create_task(p.process(*msg(alert(0.5))))
        while len(send.sent) < 1_000:
            await asyncio.sleep(0)
        send.release()
        await task
        turns.cancel()
        return send

    send = asyncio.run(run())
    # The producer's own tasks ran between the first record handed over and the last.
    assert send.turns_at_send[-1] - send.turns_at_send[0] >= 1_000 // 250 - 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_output_metrics_count_each_record_once_the_broker_has_it() -> None:
    agencies = [agency_at(i, 1 + i % 90, bearing=i * 3.7) for i in range(600)]
    p = FanoutProcessor(
        topology=Topology.load(prefix=""),
        agencies=agencies,
        policy=Policy(),
        table={},
        send=FlakySend(),
        source="/test",
        clock=lambda: to_ms(T0) / 1000 + 0.25,
    )
    before = (
        sample("homeward_deliveries_total", agency_type="police", kind="alert"),
        sample("homeward_fanout_latency_seconds_count", kind="alert"),
        sample("homeward_fanout_latency_seconds_sum", kind="alert"),
        sample(
            "homeward_events_produced_total",
            service="fanout",
            topic="police.inbox.v1",
            type=AlertDelivery.avro_name,
        ),
    )
    asyncio.run(p.process(*msg(alert(0.5))))
    after = (
        sample("homeward_deliveries_total", agency_type="police", kind="alert"),
        sample("homeward_fanout_latency_seconds_count", kind="alert"),
        sample("homeward_fanout_latency_seconds_sum", kind="alert"),
        sample(
            "homeward_events_produced_total",
            service="fanout",
            topic="police.inbox.v1",
            type=AlertDelivery.avro_name,
        ),
    )
    assert after[0] - before[0] == 600
    assert after[1] - before[1] == 600
    assert after[2] - before[2] == pytest.approx(600 * 0.25)
    assert after[3] - before[3] == 600
