"""Intake through a broker outage, on a broker of its own (the session's stays up).

While intake cannot publish it answers 503 with Retry-After and /readyz is red with
a reason; once the broker is back it goes green again, and every request it
answered 202 is on the topic exactly once. The outage lasts until the 503s and
the red readiness are seen (a few seconds); HOMEWARD_OUTAGE_SECONDS=60 (`make
outage`) keeps the broker down for a full minute instead.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeward.broker import KafkaCluster
from homeward.codec import Codec
from homeward.settings import KafkaSettings
from homeward.topology.principals import load_principals
from tests.fixtures.bus import Bus, _make_bus
from tests.fixtures.idp import Idp
from tests.fixtures.intake import IntakeProcess, spawn
from tests.fixtures.kafka import KafkaAccess
from tests.integration.test_intake import alert_json, drain

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = float(os.environ.get("HOMEWARD_OUTAGE_SECONDS", "0"))


@dataclass
class OwnBroker:
    cluster: KafkaCluster
    bus: Bus


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    cluster = KafkaCluster(nodes=1, security="scram", run_dir=tmp_path_factory.mktemp("outage"))
    cluster.start()
    try:
        assert cluster.security is not None
        admin = KafkaSettings(
            bootstrap_servers=cluster.bootstrap_servers, **cluster.security.admin_env_kw()
        )
        passwords = {p.name: secrets.token_urlsafe(18) for p in load_principals()}
        access = KafkaAccess(cluster.bootstrap_servers, admin, True, passwords)
        yield OwnBroker(cluster, _make_bus(access, 1))
    finally:
        cluster.stop()


def post_alert(client: httpx.Client, intake: IntakeProcess) -> httpx.Response:
    return client.post(
        f"{intake.url}/v1/alerts",
        json=alert_json(),
        headers={**intake.auth(), "Idempotency-Key": f"outage-{uuid.uuid4().hex}"},
    )


def test_intake_answers_503_while_the_broker_is_down_and_loses_nothing(
    own_broker: OwnBroker, idp: Idp, tmp_path: Path
) -> None:
    bus, cluster = own_broker.bus, own_broker.cluster
    intake = spawn(
        bus.env(
            "intake",
            HOMEWARD_INTAKE_PORT="0",
            HOMEWARD_OIDC_ISSUER=idp.issuer,
            HOMEWARD_INTAKE_PUBLISH_TIMEOUT_SECONDS="3",
        ),
        tmp_path / "intake.log",
    )
    intake.idp = idp
    accepted: list[str] = []
    refused: list[httpx.Response] = []
    red: dict[str, Any] = {}
    try:
        intake.wait_for("INTAKE_READY")
        with httpx.Client(timeout=30) as client:
            intake.auth()  # a token before the outage: the identity provider stays up anyway
            for _ in range(5):
                resp = post_alert(client, intake)
                assert resp.status_code == 202, resp.text
                accepted.append(resp.json()["event_id"])

            cluster.stop_node(0)
            down_at = time.monotonic()
            deadline = down_at + 90
            # Keep asking until both the 503 and the red readiness were seen (and, in
            # the long variant, until the outage has lasted its full length).
            while not (refused and red) or time.monotonic() - down_at < OUTAGE_SECONDS:
                assert time.monotonic() < deadline, f"no 503 or red readyz\n{intake.log_tail()}"
                resp = post_alert(client, intake)
                if resp.status_code == 202:  # acknowledged just before the stop
                    accepted.append(resp.json()["event_id"])
                else:
                    refused.append(resp)
                ready = client.get(f"{intake.url}/readyz")
                if ready.status_code == 503:
                    red = ready.json()

            cluster.start_node(0)
            deadline = time.monotonic() + 90
            while client.get(f"{intake.url}/readyz").status_code != 200:
                assert time.monotonic() < deadline, f"not ready again\n{intake.log_tail()}"
            recovered_in = time.monotonic() - down_at
            for _ in range(5):
                resp = post_alert(client, intake)
                assert resp.status_code == 202, resp.text
                accepted.append(resp.json()["event_id"])
    finally:
        intake.stop()

    for resp in refused:
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["Retry-After"]) >= 1
        body = resp.json()
        assert body["error"] == "unavailable"
        assert body["errors"][0]["reason"] and body["message"]
    assert red["status"] == "not_ready"
    assert red["reasons"], red
    assert "producer" in red["reasons"] or "idempotency_log" in red["reasons"], red

    codec = Codec()
    on_topic = [codec.decode(r.value, r.headers).meta.id for r in drain(bus, "alert_events")]
    for event_id in accepted:
        assert on_topic.count(event_id) == 1, event_id
    print(
        f"\noutage: {len(accepted)} accepted, {len(refused)} refused with 503, "
        f"ready again {recovered_in:.1f}s after the stop"
    )
