"""The intake HTTP layer over in-memory adapters: no broker, real codec."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from homeward_intake.app import create_app
from homeward_intake.handlers import Intake
from homeward_intake.idempotency import MemoryIdempotencyStore
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.settings import IntakeSettings


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher(topic="test.alerts.events.v1")


@pytest.fixture
def store() -> MemoryIdempotencyStore:
    return MemoryIdempotencyStore()


@pytest.fixture
def intake(publisher: MemoryPublisher, store: MemoryIdempotencyStore) -> Intake:
    return Intake(publisher, store, source_name="unit-test")


@pytest.fixture
def app(intake: Intake) -> FastAPI:
    return create_app(intake, IntakeSettings(source_name="unit-test", max_body_bytes=64 * 1024))


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug must show as the 500 a caller would
    # see, so tests can assert there is none.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
