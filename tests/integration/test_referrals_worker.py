"""The router worker's own machinery on the real broker: its timer ticks what
the wall clock has made due, and its state changelogs (which are not police
topics) hold no DNA, no police note and no reporter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homeward.events import (
    ReferralOverdue,
    ReferralStatusChanged,
    ReportOverdue,
    TaskStatus,
)
from homeward.events.base import utcnow
from tests.integration.support import TopicReader
from tests.integration.test_referrals import Router, new_case, request_for, router
from tests.unit.referrals.world import (
    DNA_CANARY,
    NOTE_CANARY,
    REPORTER_CANARY,
    T,
    answer,
    ids,
    report,
    rescue,
)

pytestmark = pytest.mark.integration
__all__ = ["router"]  # the module's router fixture


def test_the_timer_raises_what_the_wall_clock_has_made_overdue(router: Router) -> None:
    # Filed and rescued 90 minutes ago: the report's hour and the placement's
    # answer hour have passed by the wall clock, so the timer's own ticks (not
    # the test's) raise them.
    earlier = utcnow() - timedelta(minutes=90)
    rep, case = new_case("TIMER-REP"), new_case("TIMER")
    router.publish("reports", report(rep), at=earlier)
    router.publish("rescues", rescue(case), at=earlier)
    router.wait("the report overdue", lambda: router.of(rep, ReportOverdue, "referral_events"))
    router.wait(
        "the placement overdue",
        lambda: any(
            o.rule_id == "welfare_placement" and o.phase == "answer"
            for o in router.of(case, ReferralOverdue, "referral_events")
        ),
    )
    # Only what is due: the placement's answer (1 h) and nothing with a longer deadline.
    router.barrier("referral_ticks", case)
    late = {(o.rule_id, o.phase) for o in router.of(case, ReferralOverdue, "referral_events")}
    assert late == {("welfare_placement", "answer")}
    assert len(router.of(rep, ReportOverdue, "inbox.coordination_office")) == 1


def test_state_changelogs_hold_no_dna_no_police_note_and_no_reporter(router: Router) -> None:
    case, rep = new_case("STATE"), new_case("STATE-REP")
    router.publish("rescues", rescue(case, closes_alert=True))
    router.publish("reports", report(rep))
    dna = request_for(router, case, "dna_sampling")
    # Police's answer carries a note (it may name a DNA result): never kept, never logged.
    ok = router.publish(
        "police_referrals", answer(dna.referral_id, ids(T.POLICE)[0], TaskStatus.ACCEPTED, case)
    )
    router.wait(
        "the answer logged",
        lambda: any(c.answer_event_id == ok for c in router.of(case, ReferralStatusChanged)),
    )
    router.barrier("reports", rep)
    changelogs = [
        router.bus.topic("referrals_cases_changelog"),
        router.bus.topic("referrals_reports_changelog"),
    ]
    reader = TopicReader(router.bus.settings, changelogs)
    try:
        # Faust writes the changelog after the agent moves on: wait for the answer's state.
        reader.until(
            lambda r: any(
                k == case.encode() and v and b'"accepted"' in v for _, k, v, _ in r.records
            ),
            60,
            "the case's state after the answer",
        )
        reader.until(lambda r: any(k == rep.encode() for _, k, _, _ in r.records), 60, "report")
        stored = b"\n".join(v or b"" for _, _, v, _ in reader.records)
    finally:
        reader.close()
    secrets = [DNA_CANARY, NOTE_CANARY, REPORTER_CANARY, "Fictional Forensics Lab", "took her away"]
    for secret in secrets:
        assert secret.encode() not in stored
    # Nor anything the router wrote on the restricted topics it writes (inboxes, log, alerts).
    dlq = router.bus.topic("dead_letters")
    written = b"\n".join(v or b"" for t, _, v, _ in router.reader.records if t != dlq)
    for secret in (DNA_CANARY, NOTE_CANARY, REPORTER_CANARY):
        assert secret.encode() not in written
