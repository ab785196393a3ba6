"""Found by schemathesis against the live intake (docs/fuzzing.md, "The HTTP
APIs"): the two read routes answered 401 and 403 that their OpenAPI did not
list. Every status below is one a caller really gets."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.openapi_conformance import assert_documented
from tests.unit.intake.idp import TestIdp
from tests.unit.intake.samples import CASE_ID

HOSPITAL = {
    "agency_id": "HOSP-TEST-1",
    "agency_type": "health",
    "roles": ["hospital_system"],
    "azp": "hospital-system-test",
}
READS = {
    "/v1/cases/{case_id}/timeline": f"/v1/cases/{CASE_ID}/timeline",
    "/v1/referrals/{case_id}/{referral_id}": f"/v1/referrals/{CASE_ID}/REF-1",
}


def test_the_read_routes_document_their_401_and_403(
    app: FastAPI, anon: TestClient, idp: TestIdp
) -> None:
    openapi = app.openapi()
    for template, path in READS.items():
        no_token = anon.get(path)
        assert no_token.status_code == 401
        assert_documented(openapi, "GET", template, no_token)
        hospital = anon.get(path, headers={"Authorization": f"Bearer {idp.mint(**HOSPITAL)}"})
        assert hospital.status_code == 403
        assert_documented(openapi, "GET", template, hospital)
