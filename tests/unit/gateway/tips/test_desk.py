"""The desk's own rules: the alert log is read up to now before a case is
said to take no tips, and the book keeps each unit's tips to itself."""

from __future__ import annotations

from homeward.audit import MemoryAuditor
from homeward.events import AlertUpdated, TipAcknowledged
from homeward_gateway.tips.book import TipBook
from homeward_gateway.tips.cases import PublicCases
from homeward_gateway.tips.desk import TipDesk
from homeward_gateway.tips.models import TipSubmission
from tests.unit.gateway.tips.world import (
    HIDDEN_CASE,
    NOW,
    PUBLIC_CASE,
    Published,
    alert,
    police,
    tip_body,
)


def desk(cases: PublicCases, sync: object = None) -> tuple[TipDesk, Published]:
    published = Published()
    d = TipDesk(
        cases=cases,
        book=TipBook(),
        publish=published,
        auditor=MemoryAuditor(),
        topic="police.tips.v1",
        clock=lambda: NOW.timestamp(),
        sync=sync,  # type: ignore[arg-type]
    )
    return d, published


def test_an_alert_released_a_moment_ago_takes_tips_once_the_log_is_read() -> None:
    cases = PublicCases()
    synced: list[float] = []

    def sync(timeout: float) -> bool:
        synced.append(timeout)
        cases.apply(alert(PUBLIC_CASE))  # what the follower had not applied yet
        return True

    d, published = desk(cases, sync)
    tip = d.submit(TipSubmission.model_validate(tip_body()))
    assert tip.case_id == PUBLIC_CASE and len(published.records) == 1 and synced


def test_a_later_public_summary_opens_a_case_to_tips() -> None:
    cases = PublicCases()
    cases.apply(alert(HIDDEN_CASE, public=False))
    assert cases.target(HIDDEN_CASE) is None
    cases.apply(AlertUpdated(case_id=HIDDEN_CASE, new_information="x", public_summary="Now public"))
    target = cases.target(HIDDEN_CASE)
    assert target is not None and target.agency_id == "POL-T1"


def test_a_second_alert_for_a_case_does_not_move_its_tips_elsewhere() -> None:
    cases = PublicCases()
    cases.apply(alert(PUBLIC_CASE))
    cases.apply(alert(PUBLIC_CASE, unit="POL-T9"))  # refused downstream; the first stands
    target = cases.target(PUBLIC_CASE)
    assert target is not None and target.agency_id == "POL-T1"


def test_an_acknowledgement_by_another_unit_changes_nothing_in_the_book() -> None:
    cases = PublicCases()
    cases.apply(alert(PUBLIC_CASE))
    d, _ = desk(cases)
    tip = d.submit(TipSubmission.model_validate(tip_body()))
    forged = TipAcknowledged(case_id=PUBLIC_CASE, tip_id=tip.tip_id, agency_id="POL-T2")
    d.book.apply(forged, "ev-forged", NOW)
    entry = d.book.get("POL-T1", tip.tip_id)
    assert entry is not None and entry.acknowledged_at is None
    assert d.book.get("POL-T2", tip.tip_id) is None
    assert d.tips_of(police("POL-T2")) == []
