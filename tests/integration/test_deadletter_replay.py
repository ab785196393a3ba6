"""`homeward deadletters list | replay` on the real (secured) broker, as the operator.

The referral router is restarted with a directory that lacks the agency holding
a referral (a row lost in an export): that agency's answer is dead-lettered
("not an agency in the directory"). With the directory fixed and the router
restarted, the answer is replayed: the referral moves on once. A second replay
skips it (its marker), and a forced one (--again) is dropped by the router as a
copy (its event id): still one status change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from homeward import kafka as hkafka
from homeward.agencies import AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import ReferralRequested, ReferralStatusChanged, TaskStatus
from homeward.kafka import producer, send_all
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader, service
from tests.unit.referrals.world import AGENCIES, answer, ids, rescue

pytestmark = pytest.mark.integration

REASON = "not an agency in the directory"


def deadletters(bus: Bus, *args: str) -> dict[str, Any] | list[Any]:
    done = subprocess.run(
        [sys.executable, "-m", "homeward", "deadletters", *args],
        env=bus.env("operator"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    parsed: dict[str, Any] | list[Any] = json.loads(done.stdout)
    return parsed


def warm_group_coordinator(bus: Bus) -> None:
    """Join a group once and wait for its assignment: on a fresh broker the first
    group (the router's) can otherwise be assigned nothing while the offsets
    topic is created, and would not rejoin for minutes."""
    consumer = hkafka.consumer(
        bus.settings, bus.topic("rescues"), group_id=f"{bus.prefix}warm-{uuid.uuid4().hex[:6]}"
    )
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            assert time.monotonic() < deadline, "no assignment for a warm-up group"
            consumer.poll(timeout_ms=200)
    finally:
        consumer.close()


def test_dead_letters_of_a_missing_directory_entry_are_replayed_once_after_the_fix(
    bus: Bus, tmp_path: Path
) -> None:
    holder = ids(AgencyType.HEALTH)[0]
    directory = tmp_path / "agencies.csv"
    dump_directory(list(AGENCIES), directory)
    env = bus.env(
        "referrals",
        HOMEWARD_REFERRALS_DIRECTORY=str(directory),
        HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
        F_DATADIR=str(tmp_path / "faust-data"),
    )
    router = service(["-m", "homeward_referrals"], env, tmp_path / "referrals.log")
    events, dlq = bus.topic("referral_events"), bus.topic("dead_letters")
    inbox = bus.topology.inbox(AgencyType.HEALTH).name
    reader = TopicReader(bus.settings, [events, dlq, inbox])
    codec, p = Codec(), producer(bus.settings)
    case = f"CASE-REPLAY-{uuid.uuid4().hex[:8]}"

    def publish(topic_id: str, event: Any) -> str:
        rec, meta = codec.encode(event, key=event.case_id, source="/test/agency")
        send_all(p, [(bus.topic(topic_id), rec)])
        return meta.id

    def of(kind: type, topic: str = events) -> list[Any]:
        return [d.event for t, d in reader.decoded if t == topic and isinstance(d.event, kind)]

    def accepted(answer_id: str) -> list[ReferralStatusChanged]:
        return [c for c in of(ReferralStatusChanged) if c.answer_event_id == answer_id]

    try:
        warm_group_coordinator(bus)
        router.start("REFERRALS_READY")
        publish("rescues", rescue(case))
        reader.until(
            lambda _: any(
                q.case_id == case and q.agency_id == holder for q in of(ReferralRequested, inbox)
            ),
            60,
            "a referral offered to the holder",
        )
        request = next(q for q in of(ReferralRequested, inbox) if q.agency_id == holder)

        # The directory loses the holder's row; its answer cannot be handled.
        router.stop()
        dump_directory([a for a in AGENCIES if a.id != holder], directory)
        router.start("REFERRALS_READY")
        answer_id = publish(
            "referral_answers", answer(request.referral_id, holder, TaskStatus.ACCEPTED, case)
        )

        def letters(r: TopicReader) -> list[dict[str, bytes]]:
            return [
                dict(h)
                for t, _, _, h in r.records
                if t == dlq and dict(h).get("ce_id") == answer_id.encode()
            ]

        reader.until(lambda r: len(letters(r)) == 1, 60, "the answer dead-lettered")
        assert letters(reader)[0]["dlq_reason"] == REASON.encode()

        listed = deadletters(bus, "list", "--reason", REASON)
        assert listed == [
            {
                "origin": bus.topic("referral_answers"),
                "service": "referrals",
                "reason": f"agency_id: {REASON}",
                "count": 1,
                "replayed": 0,
            }
        ]

        # The fix, then the replay.
        router.stop()
        dump_directory(list(AGENCIES), directory)
        router.start("REFERRALS_READY")
        select = ["--reason", REASON, "--origin", "referral_answers", "--by", "Test Operator"]
        first = deadletters(bus, "replay", *select)
        assert isinstance(first, dict) and len(first["sent"]) == 1, first
        assert first["actor"] == "Test Operator as operator"
        reader.until(lambda _: len(accepted(answer_id)) == 1, 60, "the replayed answer handled")
        assert accepted(answer_id)[0].status == TaskStatus.ACCEPTED

        again = deadletters(bus, "replay", *select)
        assert (
            isinstance(again, dict)
            and again["sent"] == []
            and len(again["skipped_already_replayed"]) == 1
        )
        forced = deadletters(bus, "replay", *select, "--again")
        assert isinstance(forced, dict) and len(forced["sent"]) == 1

        # A barrier on the answer's partition: once it is dead-lettered, the
        # forced copy before it was handled too.
        token = f"barrier-{uuid.uuid4().hex}".encode()
        p.send(bus.topic("referral_answers"), key=case.encode(), value=token).get(30)
        reader.until(
            lambda r: any(t == dlq and v == token for t, _, v, _ in r.records), 60, "barrier"
        )
        reader.poll()
        assert len(accepted(answer_id)) == 1
        listed = deadletters(bus, "list", "--reason", REASON)
        assert isinstance(listed, list) and listed[0]["replayed"] == 1
        assert router.running
    finally:
        p.close()
        reader.close()
        router.stop()
