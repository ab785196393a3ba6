"""Valid request bodies for the intake API, with plainly fake people and places."""

from __future__ import annotations

import copy
from typing import Any

CASE_ID = "PS-TEST-1-CASE-0001"


def alert(case_id: str = CASE_ID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case_id,
        "issuing_unit": "Sampleville Police Test Unit",
        "chief_officer": {
            "officer_id": "OFF-TEST-1",
            "name": "Officer Example",
            "unit": "Test Unit 1",
            "phone": "+00 000 0000",
        },
        "child": {
            "name": "Test Child A",
            "sex": "female",
            "age_years": 9,
            "height_cm": 130,
            "clothing": "red test jacket",
        },
        "last_seen": {
            "latitude": 10.5,
            "longitude": 20.25,
            "description": "Sampleville central market (fictional)",
            "admin_code": "000001",
        },
        "last_seen_at": "2026-01-01T08:00:00+08:00",
        "target_types": ["police", "education"],
        "public_summary": "Test alert with synthetic data: Test Child A, Sampleville.",
    }
    body.update(copy.deepcopy(overrides))
    return body


def update(**overrides: Any) -> dict[str, Any]:
    return {"new_information": "Seen wearing a blue test cap.", **overrides}


def sighting(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sighting_id": "SIGHT-TEST-1",
        "location": {"latitude": 10.6, "longitude": 20.3, "description": "Sampleville station"},
        "seen_at": "2026-01-01T10:30:00Z",
        "reporter_kind": "public",
        "description": "A caller saw a child matching the test description.",
    }
    body.update(overrides)
    return body


def cancellation(reason: str = "FOUND", note: str = "Found safe (test).") -> dict[str, Any]:
    return {"reason": reason, "note": note}


# -- rescue, referrals, reports ------------------------------------------------------
DNA_CANARY = "DNA-CANARY-INTAKE-UNIT-0001"


def rescue(case_id: str = CASE_ID, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case_id,
        "rescue_id": "RESCUE-TEST-1",
        "rescuing_unit": "Sampleville Police Test Unit",
        "officer": {"officer_id": "OFF-TEST-1", "name": "Officer Example", "unit": "Test Unit 1"},
        "person": {
            "name": "Test Child A",
            "sex": "female",
            "age_years": 9,
            "guardians_known": False,
            "identity_known": True,
            "household_registration": "non_local",
        },
        "rescued_at": "2026-01-02T09:00:00+08:00",
        "location": {"latitude": 10.7, "longitude": 20.4, "description": "Fictional Bus Station"},
        "closes_alert": True,
        "dna": {
            "sample_id": DNA_CANARY,
            "collected_at": "2026-01-02T10:00:00+08:00",
            "laboratory": "Fictional Test Laboratory",
            "profile": DNA_CANARY,
        },
        "notes": "Test notes that only police may read.",
    }
    body.update(copy.deepcopy(overrides))
    return body


def dna_comparison(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sample_id": DNA_CANARY,
        "database": "Fictional national test database",
        "result": "match",
        "matched_record": DNA_CANARY,
        "compared_at": "2026-01-03T09:00:00Z",
    }
    body.update(overrides)
    return body


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sector": "education",
        "reporter": {
            "name": "Test Teacher B",
            "organisation": "Sampleville Test School",
            "role": "teacher",
        },
        "observed": "A pupil said a stranger promised work in another city (test).",
        "location": {"latitude": 10.5, "longitude": 20.3, "description": "Sampleville Test School"},
        "observed_at": "2026-01-04T08:30:00+08:00",
        "person": {
            "description": "Pupil, about 14 (test)",
            "sex": "female",
            "apparent_age_years": 14,
        },
    }
    body.update(copy.deepcopy(overrides))
    return body


def report_ack(**overrides: Any) -> dict[str, Any]:
    return {"police_unit": "Sampleville Police Test Unit", "agency_id": "PS-TEST-1", **overrides}


def police_principal(agency_id: str = "PS-TEST-1") -> Any:
    """The police case system's principal, as the token verifier would build it."""
    from homeward.agency_types import AgencyType
    from homeward.auth import Principal, PrincipalKind

    return Principal(
        subject="sub-police-case-system",
        name="police-case-system",
        kind=PrincipalKind.SYSTEM,
        agency_id=agency_id,
        agency_type=AgencyType.POLICE,
        roles=frozenset({"police_officer", "police_supervisor"}),
        client_id="police-case-system",
    )


def agency_principal(agency_id: str, agency_type: str = "civil_affairs") -> Any:
    """An agency's system, as the token verifier would build it."""
    from homeward.agency_types import AgencyType
    from homeward.auth import Principal, PrincipalKind

    return Principal(
        subject=f"sub-{agency_id}",
        name=f"agency-system-{agency_id.lower()}",
        kind=PrincipalKind.SYSTEM,
        agency_id=agency_id,
        agency_type=AgencyType(agency_type),
        roles=frozenset({"agency_caseworker"}),
    )


def seed_alert(view: Any, case_id: str = CASE_ID, owner: str = "PS-TEST-1") -> None:
    """An alert already on the bus for `case_id`, issued by `owner` (the read model
    intake would have built from alerts.events.v1)."""
    from homeward.events import Actor, AlertIssued

    body = {k: v for k, v in alert(case_id).items()}
    actor = Actor(principal="police-case-system", agency_id=owner, agency_type="police")
    view.table.apply(AlertIssued.model_validate({**body, "actor": actor}))


def bare(event: Any) -> Any:
    """The event without its actor (which the token decides), for comparing bodies."""
    return event.model_copy(update={"actor": None})
