"""The processor's failure handling, with a send function that stands in for
the producer (the flows themselves are tested on the real broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from homeward import processing
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.topology import Topology
from homeward_fanout.planner import Policy, to_ms
from homeward_fanout.processor import FanoutProcessor
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
    from homeward.events import AlertUpdated

    send, table = FlakySend(), {}
    p = make(send, table)
    orphan = record(AlertUpdated(case_id="CASE-T-1", new_information="before any alert"))
    asyncio.run(p.process("alerts.events.v1", 0, 1, *orphan))
    asyncio.run(p.process("alerts.events.v1", 0, 2, *record(alert(0.5))))
    assert send.sent[0] == ("police.deadletter.v1", b"CASE-T-1")
    assert len([t for t, _ in send.sent if t in inbox_topics()]) == 3
