"""Valid request bodies for the intake API, with plainly fake people and places."""

from __future__ import annotations

import copy
from typing import Any

CASE_ID = "CASE-TEST-0001"


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
