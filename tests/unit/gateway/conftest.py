"""The gateway's HTTP layer over an in-memory store and sink: no broker, the
real codec, real RS256 tokens checked by the real verifier (a local key pair)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.audit.record import MemoryAuditor
from homeward.codec import Codec, Decoded
from homeward.topology import Topology
from homeward_gateway.app import create_app
from homeward_gateway.service import Gateway, MemorySink
from homeward_gateway.settings import GatewaySettings
from homeward_gateway.store import InboxStore
from tests.unit.intake.idp import TestIdp

# Who calls, as the realm mints them: an agency's system, its staff, police, a hospital.
CIVIL_SYSTEM = {
    "agency_id": "CIV-A",
    "agency_type": "civil_affairs",
    "roles": ["agency_caseworker"],
    "azp": "agency-system-civ-a",
    "preferred_username": "service-account-agency-system-civ-a",
}
CIVIL_STAFF = {
    **CIVIL_SYSTEM,
    "azp": "homeward-console",
    "preferred_username": "staff-civ-a",
}
OTHER_CIVIL = {
    **CIVIL_SYSTEM,
    "agency_id": "CIV-B",
    "azp": "agency-system-civ-b",
    "preferred_username": "service-account-agency-system-civ-b",
}
POLICE = {
    "agency_id": "PS-A",
    "agency_type": "police",
    "roles": ["police_officer"],
    "azp": "agency-system-ps-a",
    "preferred_username": "service-account-agency-system-ps-a",
}
HOSPITAL = {
    "agency_id": "HL-A",
    "agency_type": "health",
    "roles": ["hospital_system"],
    "azp": "hospital-system",
    "preferred_username": "service-account-hospital-system",
}


@dataclass
class World:
    client: TestClient
    store: InboxStore
    sink: MemorySink
    auditor: MemoryAuditor
    idp: TestIdp
    topology: Topology

    def auth(self, claims: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.mint(**claims)}"}

    def sent(self, topic_id: str) -> list[Decoded]:
        name = self.topology.get(topic_id).name
        codec = Codec()
        return [codec.decode(r.value, r.headers) for t, r in self.sink.sent if t == name]


@pytest.fixture(scope="session")
def test_idp() -> TestIdp:
    return TestIdp()


@pytest.fixture
def world(test_idp: TestIdp) -> Iterator[World]:
    store = InboxStore()
    sink = MemorySink()
    auditor = MemoryAuditor()
    topology = Topology.load(prefix="")
    gateway = Gateway(store, sink, topology, auditor=auditor)
    app = create_app(gateway, GatewaySettings(), test_idp.verifier())
    with TestClient(app) as client:
        yield World(client, store, sink, auditor, test_idp, topology)
