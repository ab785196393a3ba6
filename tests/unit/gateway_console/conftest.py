"""The console over an in-memory gateway (no broker): a store filled with fake
deliveries, a MemorySink that keeps what would be published, and a session cookie
signed as Starlette's SessionMiddleware signs it (the OIDC login itself is the
integration tests' business, against the real Keycloak)."""

from __future__ import annotations

import json
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import itsdangerous
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from homeward.events import Location, ReferralRequested, ResponsibleOfficer
from homeward.topology import current_topology
from homeward_gateway.app import create_app
from homeward_gateway.console import mount
from homeward_gateway.console.settings import ConsoleSettings
from homeward_gateway.service import Gateway, MemorySink
from homeward_gateway.store import InboxStore
from tests.unit.agency import samples as s
from tests.unit.gateway import samples as g
from tests.unit.intake.idp import ISSUER, TestIdp

SECRET = "unit-test-session-secret"
AGENCY = "HL-TEST-1"
COORD = "CO-TEST-1"


@dataclass
class Console:
    http: TestClient
    store: InboxStore
    sink: MemorySink
    app: FastAPI

    def login(
        self,
        agency_id: str = AGENCY,
        agency_type: str = "health",
        roles: tuple[str, ...] = ("agency_caseworker",),
        csrf: str = "t" * 43,
    ) -> str:
        """Put a logged-in session cookie on the client; returns its CSRF token."""
        session: dict[str, Any] = {
            "who": {
                "sub": f"sub-{agency_id}",
                "name": f"staff-{agency_id.lower()}",
                "kind": "person",
                "agency": agency_id,
                "type": agency_type,
                "roles": list(roles),
                "client": "homeward-console",
                "iss": ISSUER,
            },
            "refresh": "unit-refresh-token",
            "fresh_until": time.time() + 600,
            "csrf": csrf,
        }
        data = b64encode(json.dumps(session).encode())
        cookie = itsdangerous.TimestampSigner(SECRET).sign(data).decode()
        self.http.cookies.set(
            "homeward_console", cookie, domain="testserver.local", path="/console"
        )
        return csrf


def full_victim_referral() -> ReferralRequested:
    """A referral whose projection keeps a place, a time and a contact (civil affairs')."""
    offer = s.referral(AGENCY, "REF-TEST-2", case_id="CASE-TEST-3")
    victim = offer.victim.model_copy(
        update={
            "location": Location(latitude=30.1, longitude=104.1, description="Fake Station"),
            "rescued_at": s.T0,
            "police_contact": ResponsibleOfficer(
                officer_id="OFF-T", name="Officer Test", unit="Fake Unit", phone="000"
            ),
            "languages": ["zh", "yue"],
            "guardians_known": False,
        }
    )
    return offer.model_copy(update={"victim": victim})


def filled_store() -> InboxStore:
    store = InboxStore()
    store.add(g.alert(AGENCY, "DLV-1", s.issued("CASE-TEST-1")))
    store.add(g.alert(AGENCY, "DLV-2", s.sighting("CASE-TEST-1")))
    store.add(g.alert(AGENCY, "DLV-3", s.issued("CASE-TEST-2", name="Test Child Gamma")))
    store.add(g.alert(AGENCY, "DLV-4", s.cancelled("CASE-TEST-2")))
    store.add(g.referral(AGENCY, "REF-TEST-1"))
    store.add(g.delivered(full_victim_referral(), AGENCY))
    store.add(g.delivered(s.referral_overdue(AGENCY), COORD, "inbox.coordination_office.v1"))
    store.add(g.delivered(s.escalated("DLV-9"), COORD, "inbox.coordination_office.v1"))
    return store


@pytest.fixture
def console() -> Iterator[Console]:
    idp = TestIdp()
    store = filled_store()
    sink = MemorySink()
    gateway = Gateway(store, sink, current_topology())
    settings = ConsoleSettings(session_secret=SECRET, issuer=ISSUER)
    app = create_app(
        gateway,
        None,
        idp.verifier(),
        mounts=[lambda a, gw, st: mount(a, gw, st, settings)],
        exempt_prefixes=("/console",),
    )
    # https: the cookies are Secure, and a client sends those only over https.
    with TestClient(app, base_url="https://testserver.local", follow_redirects=False) as http:
        yield Console(http, store, sink, app)
