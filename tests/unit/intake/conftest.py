"""The intake HTTP layer over in-memory adapters: no broker, real codec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from homeward.audit.record import MemoryAuditor
from homeward.codec import Codec
from homeward.events import Classification
from homeward_intake.alert_view import MemoryAlertView
from homeward_intake.app import create_app
from homeward_intake.handlers import Intake
from homeward_intake.idempotency import MemoryIdempotencyStore
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.referral_view import MemoryReferralView
from homeward_intake.settings import IntakeSettings
from homeward_timeline.query import TIMELINE_TOPICS, Timeline, assemble
from tests.unit.intake.idp import PersonaAuth, TestIdp


@pytest.fixture(scope="session")
def idp() -> TestIdp:
    return TestIdp()


@pytest.fixture
def auditor() -> MemoryAuditor:
    return MemoryAuditor()


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


class MemoryTimeline:
    """The timeline query over what the memory publisher (and tests) put on its
    topics, as the real one reads it from the case's partitions."""

    def __init__(self, publisher: MemoryPublisher) -> None:
        self.publisher = publisher
        self.topology = publisher.topology
        self.topics = {self.topology.get(t).name for t in TIMELINE_TOPICS}
        self.police_topics = frozenset(
            t.name
            for t in self.topology.all()
            if t.name in self.topics and t.classification is Classification.POLICE_ONLY
        )
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, case_id: str, *, police: bool = False, judicial: bool = False) -> Timeline:
        self.calls.append((case_id, police))
        records = [
            Rec(topic, 0, i, r.key, r.value, list(r.headers))
            for i, (topic, r) in enumerate(self.publisher.sent)
            if topic in self.topics
        ]
        return assemble(
            case_id,
            records,
            police=police,
            police_topics=self.police_topics,
            codec=Codec(),
            judicial=judicial,
        )


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher(prefix="test.")


@pytest.fixture
def store() -> MemoryIdempotencyStore:
    return MemoryIdempotencyStore()


@pytest.fixture
def referrals() -> MemoryReferralView:
    return MemoryReferralView()


@pytest.fixture
def timeline(publisher: MemoryPublisher) -> MemoryTimeline:
    return MemoryTimeline(publisher)


@pytest.fixture
def alerts() -> MemoryAlertView:
    return MemoryAlertView()


@pytest.fixture
def intake(
    publisher: MemoryPublisher,
    store: MemoryIdempotencyStore,
    referrals: MemoryReferralView,
    auditor: MemoryAuditor,
    alerts: MemoryAlertView,
) -> Intake:
    return Intake(
        publisher,
        store,
        source_name="unit-test",
        referrals=referrals,
        auditor=auditor,
        alerts=alerts,
    )


@pytest.fixture
def app(intake: Intake, timeline: MemoryTimeline, idp: TestIdp, auditor: MemoryAuditor) -> FastAPI:
    settings = IntakeSettings(source_name="unit-test", max_body_bytes=64 * 1024)
    return create_app(intake, settings, timeline, verifier=idp.verifier())


@pytest.fixture
def http(app: FastAPI, idp: TestIdp) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug must show as the 500 a caller would
    # see, so tests can assert there is none.
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = PersonaAuth(idp)
        yield client


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends no token unless a test gives one."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
