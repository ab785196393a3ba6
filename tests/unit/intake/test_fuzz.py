"""Junk in, a 4xx out: never a 500, and nothing published for a refused request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeward.events import ReferralStatusChanged, TaskStatus
from homeward_intake.app import create_app
from homeward_intake.handlers import Intake
from homeward_intake.idempotency import MemoryIdempotencyStore
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.referral_view import MemoryReferralView
from homeward_intake.settings import IntakeSettings
from tests.unit.intake import samples
from tests.unit.intake.idp import PersonaAuth, TestIdp

ROUTES = [
    "/v1/alerts",
    "/v1/alerts/C1/updates",
    "/v1/alerts/C1/sightings",
    "/v1/alerts/C1/cancellation",
    "/v1/rescues",
    "/v1/cases/C1/dna-comparisons",
    "/v1/referrals/C1/R1/answers",
    "/v1/reports",
    "/v1/reports/RPT-1/acknowledgement",
]
REFUSED = {400, 404, 409, 413, 415, 422}
# A valid body per route family, for the one-field-of-junk test.
VALID = {
    "/v1/alerts": lambda: samples.alert(case_id="PS-TEST-1-CASE-FUZZ"),
    "/v1/rescues": lambda: samples.rescue(case_id="PS-TEST-1-CASE-FUZZ"),
    "/v1/reports": samples.report,
    "/v1/referrals/C1/R1/answers": lambda: {
        "agency_id": "HL-FUZZ",
        "status": "rejected",
        "reason": "no_capacity",
        "note": "test",
    },
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5)
    ),
    max_leaves=30,
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[TestClient, MemoryPublisher]]:
    # One app for every example: hypothesis calls the test body many times.
    publisher = MemoryPublisher()
    referrals = MemoryReferralView()
    referrals.table.apply(
        ReferralStatusChanged(
            case_id="C1",
            referral_id="R1",
            rule_id="health_check",
            agency_id="HL-FUZZ",
            agency_type="health",
            offer=1,
            status=TaskStatus.REQUESTED,
            changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
        "e-fuzz",
    )
    intake = Intake(publisher, MemoryIdempotencyStore(), source_name="fuzz", referrals=referrals)
    idp = TestIdp()
    app = create_app(intake, IntakeSettings(source_name="fuzz"), verifier=idp.verifier())
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = PersonaAuth(idp)
        yield client, publisher


def post(
    rig: tuple[TestClient, MemoryPublisher], route: str, raw: bytes
) -> tuple[int, dict[str, Any], int]:
    client, publisher = rig
    before = len(publisher.events())
    resp = client.post(route, content=raw, headers={"content-type": "application/json"})
    return resp.status_code, resp.json(), len(publisher.events()) - before


@FUZZ
@given(route=st.sampled_from(ROUTES), body=json_values)
def test_random_json_is_refused_cleanly(
    rig: tuple[TestClient, MemoryPublisher], route: str, body: Any
) -> None:
    status, doc, published = post(rig, route, json.dumps(body).encode())
    assert status in REFUSED, doc
    assert published == 0
    assert doc["errors"] and all(e["reason"] for e in doc["errors"])


@FUZZ
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=300))
def test_random_bytes_are_refused_cleanly(
    rig: tuple[TestClient, MemoryPublisher], route: str, raw: bytes
) -> None:
    status, doc, published = post(rig, route, raw)
    assert status in REFUSED | {202}, doc
    assert published == (1 if status == 202 else 0)


def _paths(body: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(body, dict):
        for k, v in body.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(data=st.data(), junk=json_values, route=st.sampled_from(sorted(VALID)))
def test_a_valid_body_with_one_field_replaced_by_junk_never_500s(
    rig: tuple[TestClient, MemoryPublisher], data: st.DataObject, junk: Any, route: str
) -> None:
    body = VALID[route]()
    path = data.draw(st.sampled_from(_paths(body)))
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = junk
    status, doc, published = post(rig, route, json.dumps(body).encode())
    assert status in REFUSED | {202}, doc
    assert published == (1 if status == 202 else 0)
    if status == 422:
        assert doc["errors"], doc
