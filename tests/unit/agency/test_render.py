from __future__ import annotations

import json

from homeward.codec import Codec
from homeward.events import AlertDelivery
from homeward_agency.delivery import Delivery, decode_delivery
from homeward_agency.render import clean, format_line, to_json, to_json_line
from tests.unit.agency import samples as s

codec = Codec()


def make(event: AlertDelivery | None = None, key: str = "PS-1") -> Delivery:
    return decode_delivery(codec, s.raw(s.encode(codec, event or s.delivery(key, "D-1"), key)))


def test_alert_line_has_time_kind_case_ring_distance_name_and_summary() -> None:
    line = format_line(make())
    assert line.startswith("2030-01-02 03:04:05Z  alert ")
    for part in (
        "case CASE-TEST-1",
        "ring 5km",
        "dist 2.2km",
        '"Test Child Alpha"',
        "7y female",
        "Fake alert for testing",
    ):
        assert part in line, part
    assert "\n" not in line


def test_each_kind_has_its_own_line() -> None:
    lines = {
        "update": format_line(make(s.delivery("PS-1", "D-1", event=s.updated()))),
        "sighting": format_line(make(s.delivery("PS-1", "D-1", event=s.sighting()))),
        "cancellation": format_line(make(s.delivery("PS-1", "D-1", event=s.cancelled()))),
        "escalation": format_line(make(s.escalated("D-1"), key="CO-1")),  # type: ignore[arg-type]
    }
    assert "blue test hat" in lines["update"]
    assert "Sample Station, Fakeville" in lines["sighting"] and "(public)" in lines["sighting"]
    assert "found: Found safe (test)." in lines["cancellation"]
    assert "SCHOOL-TEST-9" in lines["escalation"] and "3 attempt(s)" in lines["escalation"]
    for kind, line in lines.items():
        assert f"  {kind} " in line


def test_resends_show_their_attempt() -> None:
    assert "attempt 2" in format_line(make(s.delivery("PS-1", "D-1", attempt=2)))
    assert "attempt" not in format_line(make())


def test_control_characters_cannot_break_the_line() -> None:
    evil = s.issued(name="Test\x1b[2J Child\nNext")
    line = format_line(make(s.delivery("PS-1", "D-1", event=evil)))
    assert "\x1b" not in line and "\n" not in line
    assert '"Test [2J Child Next"' in line


def test_clean_truncates_long_text() -> None:
    assert clean("x" * 500, 10) == "x" * 9 + "…"
    assert clean("  a \t b\r\n c ") == "a b c"


def test_json_carries_delivery_meta_origin_and_event_type() -> None:
    d = make()
    obj = to_json(d)
    assert obj["kind"] == "alert" and obj["delivery_id"] == "D-1"
    assert obj["type"] == "homeward.alerts.AlertDelivery"
    assert obj["origin"] == {"topic": "police.inbox.v1", "partition": 0, "offset": 0}
    assert obj["meta"]["id"] == d.meta.id and obj["meta"]["classification"] == "restricted"
    assert obj["data"]["event_type"] == "homeward.alerts.AlertIssued"
    assert obj["data"]["event"]["child"]["name"] == "Test Child Alpha"
    assert obj["latency_ms"] == 250
    # The data part is the model's own JSON: it reads back into the model.
    data = {k: v for k, v in obj["data"].items() if k != "event_type"}
    assert AlertDelivery.model_validate(data) == d.event


def test_json_line_is_one_line_of_json() -> None:
    line = to_json_line(make(s.delivery("PS-1", "D-1", event=s.issued(name="测试 Child\nX"))))
    assert "\n" not in line
    assert json.loads(line)["data"]["event"]["child"]["name"] == "测试 Child\nX"


def test_escalation_json_has_no_event_type() -> None:
    obj = to_json(make(s.escalated("D-1"), key="CO-1"))  # type: ignore[arg-type]
    assert obj["kind"] == "escalation" and "event_type" not in obj["data"]
    assert obj["latency_ms"] is None


def test_a_drill_is_marked_in_the_line_and_the_json() -> None:
    drill = s.delivery("PS-1", "D-1").model_copy(update={"exercise": True})
    line = format_line(make(drill))
    assert "[EXERCISE 演练]" in line
    assert to_json(make(drill))["exercise"] is True
    assert "EXERCISE" not in format_line(make()) and to_json(make())["exercise"] is False
