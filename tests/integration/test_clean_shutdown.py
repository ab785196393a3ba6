"""A SIGTERMed stream processor commits what it handled: after a restart, nothing
handled before the stop is handled again (0 redelivered records).

Each service reads a one-partition source topic: a few valid records, then a
corrupt marker record (dead-lettered: proof that everything before it was
handled). SIGTERM, restart, then a second marker. Had the restart begun before
the committed end, the first marker would be dead-lettered twice and the
restarted process would count consumed records of its own; it must count none
but what came after the restart. The agency subscriber (the SDK's CLI) the same
way: after a restart it prints only the deliveries that came after the stop
(its copy filter is in memory, so a redelivered one would be printed again).
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from homeward.agencies import dump_directory
from homeward.codec import Codec
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward_demo.processes import ServiceProcess
from tests.fixtures.bus import Bus
from tests.integration.agency_broker_io import cli, produce
from tests.integration.support import TopicReader, service
from tests.integration.test_agency_subscriber import inbox_records
from tests.integration.test_fanout import make_alert, ring_agencies
from tests.integration.test_metrics import free_port
from tests.unit.detector.world import admission, mother
from tests.unit.referrals.world import AGENCIES, rescue

pytestmark = pytest.mark.integration

VALID = 5


@dataclass(frozen=True)
class Case:
    module: str
    name: str  # the service's name in its metrics and dead letters
    source: str  # topic id of what it reads
    records: Callable[[], list[tuple[Any, str]]]  # (event, key)
    env: Callable[[Path], dict[str, str]]


def _directory(tmp: Path, agencies: list[Any]) -> str:
    path = tmp / "agencies.csv"
    dump_directory(agencies, path)
    return str(path)


def _alerts() -> list[tuple[Any, str]]:
    return [
        (make_alert(c, 0.1), c) for c in (f"CASE-TERM-{uuid.uuid4().hex[:6]}" for _ in range(VALID))
    ]


def _rescues() -> list[tuple[Any, str]]:
    return [(rescue(c), c) for c in (f"CASE-TERM-{uuid.uuid4().hex[:6]}" for _ in range(VALID))]


def _admissions() -> list[tuple[Any, str]]:
    people = [mother(uuid.uuid4().hex[:10]) for _ in range(VALID)]
    return [(admission(m, f"ADM-{uuid.uuid4().hex[:6]}", utcnow()), m.id_number) for m in people]


CASES = [
    Case(
        "homeward_fanout",
        "fanout",
        "alert_events",
        _alerts,
        lambda tmp: {"HOMEWARD_FANOUT_DIRECTORY": _directory(tmp, ring_agencies())},
    ),
    Case(
        "homeward_referrals",
        "referrals",
        "rescues",
        _rescues,
        lambda tmp: {"HOMEWARD_REFERRALS_DIRECTORY": _directory(tmp, list(AGENCIES))},
    ),
    Case("homeward_detector", "detector", "health_records", _admissions, lambda tmp: {}),
]


def consumed(port: int, topic: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = r'homeward_events_consumed_total\{[^}]*topic="' + re.escape(topic) + r'"[^}]*\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sigterm_commits_so_a_restart_handles_nothing_twice(
    case: Case, bus_factory: Callable[..., Bus], tmp_path: Path
) -> None:
    bus = bus_factory(partitions=1)
    topic, dlq = bus.topic(case.source), bus.topic("dead_letters")
    port = free_port()
    name = case.name.upper()
    env = bus.env(
        case.name,
        F_DATADIR=str(tmp_path / "faust-data"),
        **{f"HOMEWARD_{name}_METRICS_PORT": str(port)},
        **case.env(tmp_path),
    )
    svc: ServiceProcess = service(["-m", case.module], env, tmp_path / f"{case.name}.log")
    reader = TopicReader(bus.settings, [dlq])
    codec, p = Codec(), producer(bus.settings)

    def marker() -> bytes:
        token = f"marker-{uuid.uuid4().hex}".encode()
        p.send(topic, key=b"marker", value=token).get(30)
        return token

    def letters(token: bytes) -> int:
        return sum(1 for t, _, v, _ in reader.records if t == dlq and v == token)

    try:
        svc.start(f"{name}_READY")
        records = []
        for event, key in case.records():
            rec, _ = codec.encode(event, key=key, source="/test/shutdown")
            records.append((topic, rec))
        send_all(p, records)
        first = marker()
        reader.until(lambda _: letters(first) == 1, 60, "the first marker dead-lettered")
        assert consumed(port, topic) == VALID

        svc.stop()
        assert svc.proc is not None and svc.proc.returncode == 0, svc.proc.returncode
        svc.start(f"{name}_READY")
        second = marker()
        reader.until(lambda _: letters(second) == 1, 60, "the second marker dead-lettered")
        reader.poll()
        assert letters(first) == 1, "the last record before the stop was handled again"
        assert consumed(port, topic) == 0, "records before the stop were handled again"
    finally:
        p.close()
        reader.close()
        svc.stop()


def test_the_agency_subscriber_sigtermed_and_restarted_prints_nothing_twice(bus: Bus) -> None:
    me = "PS-TEST-TERM"
    inbox = bus.topology.inbox("police").name
    produce(bus, inbox, inbox_records(me, ["T-1", "T-2", "T-3"]))
    args = ("--agency-id", me, "--agency-type", "police", "--json")
    with cli(bus, *args) as run:
        before = [json.loads(line)["delivery_id"] for line in run.take(3)]
        assert run.stop() == 0, run.stderr
    assert before == ["T-1", "T-2", "T-3"]
    produce(bus, inbox, inbox_records(me, ["T-4"]))
    with cli(bus, *args) as run:
        # Deliveries come in partition order: a redelivered T-1 would come first.
        after = [json.loads(line)["delivery_id"] for line in run.take(1)]
        assert run.stop() == 0, run.stderr
    assert after == ["T-4"]
    assert run.lines.empty()
