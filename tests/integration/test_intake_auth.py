"""The attacks of issue 10 that go through intake, on the real broker and the
real identity provider (Keycloak): each is refused with a clear 401, 403, 409
or 422 and publishes nothing. The ones that go straight onto Kafka (a forged
acknowledgement, a forged delivery record on the topic) are the fan-out's,
the router's and the detector's tests, and the broker's ACL matrix."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from homeward.auth.oidc_client import ClientCredentials, TokenError
from homeward.codec import Codec
from homeward.idp.server import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET
from tests.fixtures.bus import Bus
from tests.fixtures.idp import Idp
from tests.fixtures.intake import IntakeProcess
from tests.integration.test_intake import drain
from tests.unit.intake import samples
from tests.unit.intake.test_routes_health import DELIVERY

pytestmark = pytest.mark.integration

POLICE = "police-case-system"  # POL-0001
OTHER_STATION = "police-station-2-system"  # POL-0002


def case_id() -> str:
    return f"POL-0001-AUTH-{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(resp: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc: dict[str, Any] = resp.json()
    if field is not None:
        assert doc["errors"][0]["field"] == field, doc
    return doc


def test_anonymous_callers_get_401_and_publish_nothing(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    case = case_id()
    # An anonymous alert (it reached 84 agencies, 6 of them media, before).
    doc = refused(httpx.post(f"{intake.url}/v1/alerts", json=samples.alert(case)), 401)
    assert doc["error"] == "invalid_token"
    # An anonymous cancellation, and a rescue that would close the alert.
    cancel = httpx.post(f"{intake.url}/v1/alerts/{case}/cancellation", json={"reason": "FOUND"})
    refused(cancel, 401)
    refused(httpx.post(f"{intake.url}/v1/rescues", json=samples.rescue(case)), 401)
    # Police-only content by asking for it.
    timeline = httpx.get(f"{intake.url}/v1/cases/{case}/timeline?clearance=police")
    refused(timeline, 401)
    assert drain(bus, "alert_events") == [] and drain(bus, "rescues") == []


def test_a_case_belongs_to_its_unit(bus: Bus, start_intake: Callable[..., IntakeProcess]) -> None:
    intake = start_intake()
    case = case_id()
    other = intake.auth(OTHER_STATION)
    # Taking police's case id first (it made the real alert a dead letter, before).
    squat_body = samples.alert(case, public_summary="")  # no public release: agencies only
    squat = httpx.post(f"{intake.url}/v1/alerts", json=squat_body, headers=other)
    assert "POL-0002-" in refused(squat, 422, "case_id")["errors"][0]["reason"]
    # The real alert, then a second one for the same case: 409 before anything is published.
    first = httpx.post(f"{intake.url}/v1/alerts", json=samples.alert(case), headers=intake.auth())
    assert first.status_code == 202, first.text
    again = samples.alert(case, details="a second alert for the same case")
    refused(httpx.post(f"{intake.url}/v1/alerts", json=again, headers=intake.auth()), 409)
    # Another unit may not cancel it, nor close it with a rescue.
    cancel = httpx.post(
        f"{intake.url}/v1/alerts/{case}/cancellation", json={"reason": "FOUND"}, headers=other
    )
    refused(cancel, 403, "case_id")
    rescue = httpx.post(f"{intake.url}/v1/rescues", json=samples.rescue(case), headers=other)
    refused(rescue, 403, "case_id")
    # After the owner's cancellation, an update is a 409 naming the state.
    own = httpx.post(
        f"{intake.url}/v1/alerts/{case}/cancellation",
        json={"reason": "WITHDRAWN"},
        headers=intake.auth(),
    )
    assert own.status_code == 202, own.text
    late = httpx.post(
        f"{intake.url}/v1/alerts/{case}/updates",
        json=samples.update(),
        headers=intake.auth(),
    )
    assert refused(late, 409, "case_id")["state"] == "cancelled_withdrawn"
    # A last-seen time in the future.
    future = samples.alert(
        case_id(), last_seen_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()
    )
    refused(
        httpx.post(f"{intake.url}/v1/alerts", json=future, headers=intake.auth()),
        422,
        "last_seen_at",
    )
    types = [Codec().decode(r.value, r.headers).event.ce_type() for r in drain(bus, "alert_events")]
    assert types == ["homeward.alerts.AlertIssued", "homeward.alerts.AlertCancelled"]


def test_acting_for_another_agency_is_403(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    case = case_id()
    # A DNA comparison from anyone but police forensics.
    dna = httpx.post(
        f"{intake.url}/v1/cases/{case}/dna-comparisons",
        json=samples.dna_comparison(),
        headers=intake.auth("agency-system-hea-0001"),
    )
    refused(dna, 403)
    # A delivery record in another hospital's name (it hid an anomaly, before).
    delivery = DELIVERY.model_copy(update={"hospital_id": "HOSP-DEMO-1"}).model_dump(
        mode="json", exclude={"actor"}
    )
    forged = httpx.post(
        f"{intake.url}/v1/health/deliveries",
        json=delivery,
        headers=intake.auth("hospital-system-hosp-demo-2"),
    )
    refused(forged, 403, "hospital_id")
    # A referral answered "as" the agency holding it.
    answer = httpx.post(
        f"{intake.url}/v1/referrals/{case}/REF-1/answers",
        json={"agency_id": "HEA-0001", "status": "rejected", "reason": "no_capacity"},
        headers=intake.auth("agency-system-hea-0002"),
    )
    refused(answer, 403, "agency_id")
    # A report acknowledged in another police unit's name.
    ack = httpx.post(
        f"{intake.url}/v1/reports/RPT-AUTH-1/acknowledgement",
        json={"police_unit": "Sampleville Station 2", "agency_id": "POL-0001"},
        headers=intake.auth(OTHER_STATION),
    )
    refused(ack, 403, "agency_id")
    for topic in ("police_referrals", "health_records", "referral_answers", "reports"):
        assert drain(bus, topic) == [], topic


def test_untrustworthy_tokens_from_the_real_provider_are_401(
    start_intake: Callable[..., IntakeProcess], idp: Idp
) -> None:
    # No leeway, so a token that has just expired is refused at once.
    intake = start_intake(HOMEWARD_OIDC_LEEWAY_SECONDS="0")
    url = f"{intake.url}/v1/alerts"
    good = intake.tokens().token()
    head, payload, sig = good.split(".")
    tampered = f"{head}.{payload}.{sig[:-6]}{'A' * 6 if not sig.endswith('A' * 6) else 'B' * 6}"
    refused(httpx.post(url, json=samples.alert(case_id()), headers=bearer(tampered)), 401)
    # A token of another issuer (the provider's master realm) and for another audience.
    base = idp.issuer.rsplit("/realms/", 1)[0]
    master = ClientCredentials(f"{base}/realms/master", ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    doc = refused(
        httpx.post(url, json=samples.alert(case_id()), headers=bearer(master.token())), 401
    )
    assert doc["errors"][0]["field"] in {"kid", "iss", "aud"}


def test_a_revoked_client_gets_no_token_and_an_expired_one_is_refused(
    start_intake: Callable[..., IntakeProcess], idp: Idp
) -> None:
    intake = start_intake(HOMEWARD_OIDC_LEEWAY_SECONDS="0")
    admin = idp.admin_api()
    client = idp.revoked_client
    # A short-lived token for this client, taken before it is revoked.
    rep = admin.client(client)
    rep.setdefault("attributes", {})["access.token.lifespan"] = "2"
    admin._call("PUT", f"/clients/{rep['id']}", json=rep)
    try:
        token = idp.client(client, fresh=True).token()
        admin.disable_client(client)
        with pytest.raises(TokenError):
            idp.client(client, fresh=True).token()
        # The token out before the revocation lives only as long as its lifespan:
        # once its own `exp` has passed, intake refuses it, naming `exp`.
        exp = jwt.decode(token, options={"verify_signature": False})["exp"]
        while time.time() <= exp:  # the token's own clock, not a guess
            time.sleep(exp - time.time() + 0.05)
        resp = httpx.get(f"{intake.url}/v1/cases/{case_id()}/timeline", headers=bearer(token))
        assert refused(resp, 401, "exp")["error"] == "invalid_token"
    finally:
        admin.enable_client(client)
