"""The inbox's new kinds: referrals, the router's notices, reports overdue and
public notices: decoded, de-duplicated on their event id, never acknowledged,
and shown on one line (or as JSON) by the CLI's renderers."""

from __future__ import annotations

import json

import pytest

from homeward.codec import Codec
from homeward.errors import CodecError
from homeward.events.base import Event
from homeward_agency.delivery import Delivery, acknowledgement, decode_delivery
from homeward_agency.render import format_line, to_json, to_json_line
from tests.unit.agency import samples as s

codec = Codec()


def make(event: Event, key: str, recipient: str | None = None) -> Delivery:
    return decode_delivery(codec, s.raw(s.encode(codec, event, key)), recipient=recipient)


CASES = [
    (s.referral(), "HL-TEST-1", "referral", "REF-TEST-1"),
    (s.answer_refused(), "HL-TEST-1", "answer_refused", "REF-TEST-1"),
    (s.referral_overdue(), "CO-TEST-1", "referral_overdue", "REF-TEST-1"),
    (s.referral_escalated(), "CO-TEST-1", "referral_escalated", "REF-TEST-1"),
    (s.report_overdue(), "CO-TEST-1", "report_overdue", None),
]


@pytest.mark.parametrize(("event", "key", "kind", "referral_id"), CASES)
def test_each_new_kind_is_decoded_and_not_acknowledged(
    event: Event, key: str, kind: str, referral_id: str | None
) -> None:
    d = make(event, key, recipient=key)
    assert d.kind == kind and d.referral_id == referral_id
    assert not d.needs_ack and d.latency_ms is None
    assert d.dedup_key == f"{kind}:{d.meta.id}"
    with pytest.raises(ValueError):
        acknowledgement(codec, d, key)


def test_the_ids_of_the_new_kinds() -> None:
    assert make(s.referral(), "HL-TEST-1").delivery_id == "REF-TEST-1"
    assert make(s.report_overdue("RPT-9"), "CO-1").delivery_id == "RPT-9"
    assert make(s.report_overdue("RPT-9"), "CO-1").case_id == "RPT-9"


def test_a_copy_of_a_router_record_keeps_its_dedup_key_and_a_new_one_does_not() -> None:
    record = s.encode(codec, s.referral(), "HL-TEST-1")
    a = decode_delivery(codec, s.raw(record, offset=1))
    b = decode_delivery(codec, s.raw(record, offset=2))
    c = make(s.referral(), "HL-TEST-1")
    assert a.dedup_key == b.dedup_key != c.dedup_key


def test_a_referral_addressed_to_another_agency_is_refused() -> None:
    with pytest.raises(CodecError) as err:
        make(s.referral("HL-OTHER"), "HL-TEST-1", recipient="HL-TEST-1")
    assert err.value.field == "value.agency_id"


def test_notices_naming_the_late_agency_reach_the_coordination_office() -> None:
    d = make(s.referral_overdue("HL-LATE"), "CO-TEST-1", recipient="CO-TEST-1")
    assert d.kind == "referral_overdue" and d.key == "CO-TEST-1"


def test_an_alert_delivery_carrying_a_public_notice_is_a_public_notice() -> None:
    delivery = s.delivery("MEDIA-1", "D-9", agency_type="media", event=s.public_notice())
    d = make(delivery, "MEDIA-1", recipient="MEDIA-1")
    assert d.kind == "public_notice" and d.needs_ack and d.dedup_key == "D-9"
    assert d.meta.classification.value == "public"
    line = format_line(d)
    assert "  public_notice " in line and "active: Fake public notice" in line


def test_lines_of_the_new_kinds() -> None:
    lines = {kind: format_line(make(e, k)) for e, k, kind, _r in CASES}
    assert "referral REF-TEST-1: Health check" in lines["referral"]
    assert '"Test Child Beta" 9y female' in lines["referral"]
    assert "answer by 2030-01-02 07:04Z" in lines["referral"] and "offer 1" in lines["referral"]
    assert (
        "refused" in lines["answer_refused"] and "status stays accepted" in lines["answer_refused"]
    )
    assert "overdue for answer" in lines["referral_overdue"]
    assert "no civil_affairs agency left after 2 offer(s)" in lines["referral_escalated"]
    assert "last reason no_capacity" in lines["referral_escalated"]
    assert "mandatory report RPT-TEST-1 (education, Fakeville district)" in lines["report_overdue"]
    for kind, line in lines.items():
        assert f"  {kind} " in line and "\n" not in line


def test_a_referral_without_the_persons_details_says_so() -> None:
    from homeward.events import VictimProfile

    bare = s.referral().model_copy(update={"victim": VictimProfile()})
    assert "person details withheld for this agency" in format_line(make(bare, "HL-TEST-1"))


def test_json_of_a_referral_carries_its_id_and_the_event() -> None:
    d = make(s.referral(), "HL-TEST-1")
    obj = to_json(d)
    assert obj["kind"] == "referral" and obj["referral_id"] == "REF-TEST-1"
    assert obj["data"]["victim"]["name"] == "Test Child Beta"
    assert obj["type"] == "homeward.referrals.ReferralRequested"
    assert json.loads(to_json_line(d))["delivery_id"] == "REF-TEST-1"
