"""Control and bidirectional-control characters (issue 14) on the real broker.

Typed into intake, they are refused with a 422 naming the field, and nothing
is published. Written straight to the bus by some other system (here: an
alert produced to alerts.events.v1 without intake), they reach the public
CAP feed as U+FFFD, not as characters that reorder what the public reads
("Trojan Source") or break the XML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from tests.fixtures.bus import Bus
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.intake import IntakeProcess
from tests.integration.test_fanout import fanout, make_alert, publish
from tests.integration.test_gateway_cap import SENDER, Feed, case_id, near, text
from tests.integration.test_intake import drain
from tests.unit.intake import samples

pytestmark = pytest.mark.integration

RLO, NUL, ESC = "\u202e", "\x00", "\x1b"


@pytest.mark.parametrize(
    ("where", "overrides", "field", "reason"),
    [
        (
            "a nested field",
            {
                "child": {
                    "name": "测试儿童丁",
                    "sex": "male",
                    "age_years": 6,
                    "clothing": f"red{RLO}",
                }
            },
            "child",
            "clothing: contains a bidirectional control character (U+202E)",
        ),
        ("a NUL", {"public_summary": f"测试{NUL}摘要"}, "public_summary", "U+0000"),
        ("an escape", {"details": f"x{ESC}[31m"}, "details", "control character (U+001B)"),
    ],
)
def test_intake_refuses_unsafe_text_naming_the_field_and_publishes_nothing(
    bus: Bus,
    start_intake: Callable[..., IntakeProcess],
    where: str,
    overrides: dict[str, object],
    field: str,
    reason: str,
) -> None:
    intake = start_intake()
    body = samples.alert(case_id(), **overrides)
    r = httpx.post(f"{intake.url}/v1/alerts", json=body, headers=intake.auth())
    assert r.status_code == 422, (where, r.text)
    errors = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert field in errors and reason in errors[field], (where, errors)
    assert RLO not in r.text and ESC not in r.text  # the reason names, never echoes
    assert drain(bus, "alert_events") == []


def test_unsafe_text_written_straight_to_the_bus_reaches_the_cap_feed_neutralised(
    bus: Bus, tmp_path: Path, start_gateway: Callable[..., GatewayProcess]
) -> None:
    svc = fanout(bus, tmp_path, [near("MED-0001", 10, AgencyType.MEDIA)]).start("FANOUT_READY")
    gw = start_gateway(HOMEWARD_GATEWAY_CAP_SENDER=SENDER)
    feed = Feed(gw.url)
    case = case_id()
    alert = make_alert(case, 0.5).model_copy(
        update={
            "public_summary": f"Test Child A, 7, {RLO}taoc der{NUL}",
            "actor": agency_actor("POL-0001", "police"),
        }
    )
    try:
        publish(bus, alert)
        (message,) = feed.until(case, 1)  # Feed checks each message against the CAP 1.2 XSD
    finally:
        svc.stop()
    description = text(message, "cap:info/cap:description")
    assert RLO not in description and NUL not in description
    assert "\ufffdtaoc der" in description
