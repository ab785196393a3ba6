"""Every route refuses a caller it cannot trust (401) or the roles table does
not allow (403), names the reason, publishes nothing and leaves an audit entry."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from homeward.audit.record import AuditOutcome, MemoryAuditor
from homeward.auth.jwt_verifier import (
    JwksKeys,
    OidcVerifierSettings,
    TokenVerifier,
    Unauthenticated,
)
from homeward_intake.publisher import MemoryPublisher
from tests.unit.intake import samples
from tests.unit.intake.idp import ISSUER, TestIdp, bearer
from tests.unit.intake.test_routes_health import DELIVERY

CASE = samples.CASE_ID
HOSPITAL = {"agency_id": "HL-TEST-1", "agency_type": "health", "roles": ["hospital_system"]}
CASEWORKER = {
    "agency_id": "CA-TEST-1",
    "agency_type": "civil_affairs",
    "roles": ["agency_caseworker"],
}

# (method, path, body): one request per protected route.
ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/alerts", samples.alert()),
    ("POST", f"/v1/alerts/{CASE}/updates", {"new_information": "test"}),
    ("POST", f"/v1/alerts/{CASE}/sightings", {}),
    ("POST", f"/v1/alerts/{CASE}/cancellation", samples.cancellation()),
    ("POST", "/v1/rescues", samples.rescue()),
    ("POST", f"/v1/cases/{CASE}/dna-comparisons", {}),
    ("POST", f"/v1/referrals/{CASE}/R1/answers", {"agency_id": "CA-TEST-1", "status": "received"}),
    ("GET", f"/v1/referrals/{CASE}/R1", None),
    ("GET", f"/v1/cases/{CASE}/timeline", None),
    ("POST", "/v1/reports", {}),
    ("POST", "/v1/reports/RPT-1/acknowledgement", samples.report_ack()),
    ("POST", "/v1/health/admissions", {}),
    ("POST", "/v1/health/deliveries", {}),
    ("POST", "/v1/health/birth-certificates", {}),
    ("POST", "/v1/health/discharges", {}),
]


def send(client: TestClient, method: str, path: str, body: Any, **kw: Any) -> Any:
    if method == "GET":
        return client.get(path, **kw)
    return client.post(path, json=body, **kw)


def refusal(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc: dict[str, Any] = resp.json()
    assert doc["error"] == code, doc
    assert doc["errors"] and all(e["reason"] for e in doc["errors"])
    return doc


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_without_a_token_is_401_with_a_bearer_challenge(
    anon: TestClient,
    publisher: MemoryPublisher,
    auditor: MemoryAuditor,
    method: str,
    path: str,
    body: Any,
) -> None:
    resp = send(anon, method, path, body)
    refusal(resp, 401, "invalid_token")
    assert resp.headers["WWW-Authenticate"].startswith(
        'Bearer realm="homeward", error="invalid_token"'
    )
    assert publisher.events() == []
    [entry] = auditor.entries
    assert (entry.outcome, entry.status, entry.principal) == (AuditOutcome.REFUSED, 401, "")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_route_refuses_a_principal_without_the_role(
    anon: TestClient,
    idp: TestIdp,
    publisher: MemoryPublisher,
    auditor: MemoryAuditor,
    method: str,
    path: str,
    body: Any,
) -> None:
    # A media agency's system: it may read nothing here and write nothing.
    token = idp.mint(
        agency_id="MD-TEST-1", agency_type="media", roles=["mandatory_reporter"], azp="media-system"
    )
    resp = send(anon, method, path, body, headers=bearer(token))
    doc = refusal(resp, 403, "insufficient_scope")
    assert "media-system (MD-TEST-1) may not" in doc["errors"][0]["reason"]
    assert publisher.events() == []
    assert [(e.status, e.principal) for e in auditor.entries] == [(403, "media-system")]


def bad_tokens(idp: TestIdp) -> dict[str, tuple[str, str]]:
    """Tokens no intake may accept, with the field the 401 must name."""
    good = idp.mint()
    head, payload, sig = good.split(".")
    tampered_sig = sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
    other = jwt.encode(
        idp.claims(),
        "a-shared-secret-of-32-bytes-long!!",
        algorithm="HS256",
        headers={"kid": idp.kid},
    )
    unsigned = jwt.encode(idp.claims(), None, algorithm="none", headers={"kid": idp.kid})
    forged_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps(idp.claims(agency_id="POL-0001")).encode()
    ).decode()
    return {
        "expired": (idp.mint(exp=1_600_000_000, iat=1_599_999_000), "exp"),
        "other issuer": (idp.mint(iss="https://other.test.invalid/realms/x"), "iss"),
        "other audience": (idp.mint(aud="account"), "aud"),
        "tampered signature": (f"{head}.{payload}.{tampered_sig}", "signature"),
        "forged claims": (f"{head}.{forged_payload}.{sig}", "signature"),
        "HS256 with a secret": (other, "alg"),
        "alg none": (unsigned, "alg"),
        "not before": (idp.mint(nbf=2_000_000_000_0), "nbf"),
        "no agency": (idp.mint(agency_id=None), "agency_id"),
        "unknown agency type": (idp.mint(agency_type="pirates"), "agency_type"),
        "not a jwt": ("not-a-token", "token"),
        "unknown kid": (idp.mint(headers={"kid": "no-such-key"}), "kid"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "expired",
        "other issuer",
        "other audience",
        "tampered signature",
        "forged claims",
        "HS256 with a secret",
        "alg none",
        "not before",
        "no agency",
        "unknown agency type",
        "not a jwt",
        "unknown kid",
    ],
)
def test_an_untrustworthy_token_is_401_naming_why(
    anon: TestClient, idp: TestIdp, publisher: MemoryPublisher, name: str
) -> None:
    token, field = bad_tokens(idp)[name]
    resp = anon.post("/v1/alerts", json=samples.alert(), headers=bearer(token))
    doc = refusal(resp, 401, "invalid_token")
    assert doc["errors"][0]["field"] == field, doc
    assert f'error_description="{field}:' in resp.headers["WWW-Authenticate"]
    assert publisher.events() == []


def test_a_rotated_key_is_fetched_again_at_a_bounded_rate() -> None:
    idp = TestIdp()
    now = [0.0]
    verifier = TokenVerifier(
        OidcVerifierSettings(issuer=ISSUER),
        JwksKeys(idp.jwks, min_refetch_seconds=10, clock=lambda: now[0]),
    )
    assert verifier.verify(idp.mint()).agency_id == "PS-TEST-1"
    assert idp.fetches == 1
    idp.rotate()
    rotated = idp.mint()
    now[0] = 5.0  # a flood of unknown kids within the bound fetches nothing
    for _ in range(3):
        with pytest.raises(Unauthenticated) as refused:
            verifier.verify(rotated)
        assert refused.value.field == "kid"
    assert idp.fetches == 1
    now[0] = 11.0  # past it: one fetch, and the provider's new key is known
    assert verifier.verify(rotated).agency_id == "PS-TEST-1"
    assert verifier.verify(idp.mint(kid="test-key-1")).agency_id == "PS-TEST-1"
    assert idp.fetches == 2


def test_a_case_id_outside_the_callers_namespace_is_422(
    anon: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    # "An alert issued first under police's case id made police's real alert a dead
    # letter": a unit may only name cases inside its own namespace.
    resp = anon.post(
        "/v1/alerts", json=samples.alert("POL-0001-REAL-CASE"), headers=bearer(idp.mint())
    )
    doc = refusal(resp, 422, "invalid_request")
    assert doc["errors"][0]["field"] == "case_id"
    assert "PS-TEST-1-" in doc["errors"][0]["reason"]
    assert publisher.events() == []


def test_intake_assigns_a_case_id_in_the_callers_namespace(
    anon: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    body = {k: v for k, v in samples.alert().items() if k != "case_id"}
    key = {"Idempotency-Key": "assign-1", **bearer(idp.mint())}
    first = anon.post("/v1/alerts", json=body, headers=key)
    assert first.status_code == 202, first.text
    assert first.json()["case_id"].startswith("PS-TEST-1-")
    again = anon.post("/v1/alerts", json=body, headers=key)  # a retry names the same case
    assert again.json() == first.json()
    assert len(publisher.events()) == 1


def test_a_public_summary_needs_the_release_grant(
    anon: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    officer = idp.mint(roles=["police_officer"])
    resp = anon.post("/v1/alerts", json=samples.alert(), headers=bearer(officer))
    doc = refusal(resp, 403, "insufficient_scope")
    assert "alert.release_public" in doc["errors"][0]["reason"]
    ok = anon.post("/v1/alerts", json=samples.alert(public_summary=""), headers=bearer(officer))
    assert ok.status_code == 202, ok.text
    assert len(publisher.events()) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/health/deliveries", "delivery", "hospital_id"),
        ("/v1/reports/RPT-1/acknowledgement", "ack", "agency_id"),
    ],
)
def test_a_record_in_another_agencys_name_is_403(
    anon: TestClient, idp: TestIdp, publisher: MemoryPublisher, path: str, body: str, field: str
) -> None:
    if body == "delivery":
        # "A forged delivery record hid a birth-certificate anomaly": a hospital
        # system records deliveries only in its own hospital's name.
        payload = DELIVERY.model_dump(mode="json")
        token = idp.mint(**{**HOSPITAL, "agency_id": "HL-OTHER"})
    else:
        payload = samples.report_ack()
        token = idp.mint(agency_id="PS-OTHER")
    resp = anon.post(path, json=payload, headers=bearer(token))
    doc = refusal(resp, 403, "insufficient_scope")
    assert doc["errors"][0]["field"] == field
    assert publisher.events() == []


def test_the_docs_and_probes_need_no_token(anon: TestClient) -> None:
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/docs").status_code == 200
    schema = anon.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_the_issuer_is_compared_exactly(idp: TestIdp) -> None:
    verifier = idp.verifier()
    assert verifier.verify(idp.mint()).issuer == ISSUER
