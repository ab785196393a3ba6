"""The handled journal: a subscriber killed before its offset commit acts on nothing
twice when it restarts (issue 12: "0 duplicate side effects at agencies")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.settings import KafkaSettings
from homeward_agency.journal import HandledJournal
from homeward_agency.subscriber import Subscriber
from tests.unit.agency.fakes import FakeConsumer, Stop
from tests.unit.agency.test_subscriber import ME, Handler, acked, clients, ours, partition

__all__ = ["clients"]  # the fixture, used by name


def test_keys_survive_a_reopen_and_a_torn_last_line_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "handled.log"
    j = HandledJournal(path)
    j.record("alert:D-1")
    j.record("alert:D-2")
    j.close()
    with path.open("a", encoding="utf-8") as f:
        f.write("alert:D-3")  # killed mid-write: no newline
    again = HandledJournal(path)
    assert "alert:D-1" in again and "alert:D-2" in again
    assert "alert:D-3" not in again


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=120), st.integers(1, 8))
def test_compaction_keeps_the_newest_keys(
    tmp_path_factory: pytest.TempPathFactory, keys: list[int], capacity: int
) -> None:
    path = tmp_path_factory.mktemp("j") / "handled.log"
    j = HandledJournal(path, capacity=capacity)
    for k in keys:
        j.record(f"k{k}")
    j.close()
    newest: list[str] = []
    for k in reversed(keys):
        if f"k{k}" not in newest:
            newest.append(f"k{k}")
    want = set(newest[:capacity])
    reopened = HandledJournal(path, capacity=capacity)
    assert {f"k{k}" for k in set(keys) if f"k{k}" in reopened} == want
    assert len(path.read_text().splitlines()) <= 2 * capacity + 1


def test_a_restart_before_the_commit_acts_on_nothing_twice(
    clients: dict[str, Any], tmp_path: Path
) -> None:
    journal_path = tmp_path / "handled.log"
    records = partition(ours("D-1"), ours("D-2"), ours("D-3"))

    def run_once() -> Handler:
        clients["consumer"] = consumer = FakeConsumer(list(records))
        journal = HandledJournal(journal_path)
        sub = Subscriber(
            ME,
            "police",
            KafkaSettings(bootstrap_servers="fake:9092", topic_prefix=""),
            journal=journal,
        )
        handler = Handler(consumer, {})
        stop = Stop()
        consumer.on_idle = stop.set
        sub.run(handler, stop)
        journal.close()
        return handler

    first = run_once()
    # The commit never reached the broker (killed): the restart reads from offset 0.
    second = run_once()
    assert [d.delivery_id for d in first.taken] == ["D-1", "D-2", "D-3"]
    assert second.taken == []
    # The copies are acknowledged again: the first acknowledgements may have been lost.
    assert acked(clients["producer"]) == ["D-1", "D-2", "D-3"] * 2


def test_without_a_journal_the_restart_acts_again(clients: dict[str, Any]) -> None:
    records = partition(ours("D-1"))
    taken = []
    for _ in range(2):
        clients["consumer"] = consumer = FakeConsumer(list(records))
        sub = Subscriber(
            ME, "police", KafkaSettings(bootstrap_servers="fake:9092", topic_prefix="")
        )
        handler = Handler(consumer, {})
        stop = Stop()
        consumer.on_idle = stop.set
        sub.run(handler, stop)
        taken += handler.taken
    assert len(taken) == 2  # what the journal is for
