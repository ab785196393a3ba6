"""Case outcomes (issue 14) on the real broker, with the real Keycloak: the
court's system records a judgement through intake; it lands on
police.case_outcomes.v1 only, as the court's; a procuratorate cannot record a
trial; and the case timeline shows the outcome to the court and to police,
never its content to the coordination office."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from homeward.codec import Codec
from homeward.events import CaseOutcomeRecorded
from tests.fixtures.bus import Bus
from tests.fixtures.intake import IntakeProcess
from tests.integration.test_intake import drain
from tests.unit.intake import samples

pytestmark = pytest.mark.integration

COURT, PROCURATORATE = "agency-system-crt-0001", "agency-system-pro-0001"


def test_a_court_judgement_is_on_the_police_topic_and_the_timeline_for_police_and_court(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    case = f"POL-0001-OUTCOME-{bus.prefix[-7:-1]}"
    r = httpx.post(
        f"{intake.url}/v1/alerts",
        json=samples.alert(case, public_summary=""),
        headers=intake.auth(),
    )
    assert r.status_code == 202, r.text
    judgement = {
        "stage": "judgement",
        "result": "convicted",
        "decided_at": "2026-11-30T09:00:00+08:00",
        "reference": "(2026) TEST-XING-CHU 0042",
    }
    r = httpx.post(
        f"{intake.url}/v1/cases/{case}/outcomes", json=judgement, headers=intake.auth(COURT)
    )
    assert r.status_code == 202, r.text
    r = httpx.post(
        f"{intake.url}/v1/cases/{case}/outcomes",
        json={**judgement, "stage": "tried", "result": None},
        headers=intake.auth(PROCURATORATE),
    )
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "stage", r.text

    (record,) = drain(bus, "police_case_outcomes")
    event = Codec().decode(record.value, record.headers).event
    assert isinstance(event, CaseOutcomeRecorded) and record.key == case.encode()
    assert (event.authority_id, event.authority_type, event.stage, event.result) == (
        "CRT-0001",
        "court",
        "judgement",
        "convicted",
    )
    assert event.actor is not None and event.actor.principal == COURT

    def outcome_seen_by(client_id: str) -> tuple[str, str | None]:
        r = httpx.get(f"{intake.url}/v1/cases/{case}/timeline", headers=intake.auth(client_id))
        assert r.status_code == 200, r.text
        body = r.json()
        (entry,) = [e for e in body["entries"] if e["type"].endswith("CaseOutcomeRecorded")]
        return body["clearance"], entry["summary"]

    line = "judgement: convicted (court CRT-0001, (2026) TEST-XING-CHU 0042)"
    assert outcome_seen_by(COURT) == ("judicial", line)
    assert outcome_seen_by("police-case-system") == ("police", line)
    assert outcome_seen_by("coordination-system") == ("none", None)
