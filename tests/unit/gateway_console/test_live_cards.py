"""The live stream's cards: what the console sends when an entry arrives while
the page is open (the browser test sees the alert page; these cover both)."""

from __future__ import annotations

from homeward.agency_types import AgencyType
from homeward.auth import Principal
from homeward.auth.principal import PrincipalKind
from homeward.topology import current_topology
from homeward_gateway.console.login import Login
from homeward_gateway.console.pages import Console as Pages
from homeward_gateway.console.settings import ConsoleSettings
from homeward_gateway.service import Gateway, MemorySink
from tests.unit.gateway import samples as g
from tests.unit.gateway_console.conftest import AGENCY, SECRET, filled_store
from tests.unit.intake.idp import ISSUER, TestIdp

CSRF = "t" * 43


def pages_and_caseworker() -> tuple[Pages, Gateway, Principal]:
    gateway = Gateway(filled_store(), MemorySink(), current_topology())
    settings = ConsoleSettings(session_secret=SECRET, issuer=ISSUER)
    pages = Pages(gateway, settings, Login(settings, TestIdp().verifier(), ISSUER), ISSUER)
    caseworker = Principal(
        subject=f"sub-{AGENCY}",
        name="staff-test",
        kind=PrincipalKind.PERSON,
        agency_id=AGENCY,
        agency_type=AgencyType.HEALTH,
        roles=frozenset({"agency_caseworker"}),
    )
    return pages, gateway, caseworker


def test_a_referral_arriving_on_the_open_referrals_page_is_rendered_as_its_card() -> None:
    pages, gateway, caseworker = pages_and_caseworker()
    entry = gateway.store.add(g.referral(AGENCY, "REF-TEST-LIVE"))
    assert entry is not None
    fragment = pages.fragment(caseworker, "referrals", entry, CSRF)
    assert fragment is not None
    assert fragment["id"].endswith("REF-TEST-LIVE")
    assert "REF-TEST-LIVE" in fragment["html"]
    assert CSRF in fragment["html"]  # its forms carry the session's token


def test_an_alert_arriving_on_the_open_referrals_page_changes_no_card() -> None:
    pages, gateway, caseworker = pages_and_caseworker()
    entry = gateway.store.entries(AGENCY)[0]
    assert entry.kind != "referral"
    assert pages.fragment(caseworker, "referrals", entry, CSRF) is None
