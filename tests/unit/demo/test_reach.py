"""The demo's agencies that receive through the gateway (homeward_demo.reach): what
they count, how they tell a copy from a new delivery, and the summary's lines."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from homeward.agencies import Agency, AgencyType, DeliveryMode
from homeward.webhook_signing import sign
from homeward_demo import summary
from homeward_demo.monitor import Observed
from homeward_demo.reach import GATEWAY, SDK, WEBHOOK, Agenda, GatewayAgencies, channel_of


def agency(agency_id: str, mode: DeliveryMode, type_: AgencyType = AgencyType.EDUCATION) -> Agency:
    return Agency(
        id=agency_id,
        type=type_,
        name_zh="测试学校",
        name_en="Test School (fictional)",
        latitude=30.0,
        longitude=104.0,
        admin_code="990001",
        delivery_mode=mode,
    )


HOOKED = agency("EDU-0010", DeliveryMode.WEBHOOK)
STREAMED = agency("EDU-0002", DeliveryMode.GATEWAY)
ON_SDK = agency("EDU-0001", DeliveryMode.INBOX)


def no_tokens(_client_id: str) -> Any:
    raise AssertionError("a silent agency makes no call")


def delivery_body(delivery_id: str, event_id: str, accepted: datetime) -> bytes:
    """The SDK's JSON rendering of an alert delivery, as the gateway POSTs it."""
    return json.dumps(
        {
            "kind": "alert",
            "delivery_id": delivery_id,
            "meta": {"id": event_id},
            "data": {
                "event_type": "homeward.alerts.AlertIssued",
                "accepted_at": accepted.isoformat(),
                "ring_km": 100,
            },
        }
    ).encode()


def test_each_agency_has_one_way_and_only_non_sdk_ones_are_the_gateways() -> None:
    assert [channel_of(a) for a in (HOOKED, STREAMED, ON_SDK)] == [WEBHOOK, GATEWAY, SDK]
    reach = GatewayAgencies("http://127.0.0.1:1", [HOOKED, STREAMED, ON_SDK], no_tokens)
    try:
        assert set(reach.agencies) == {HOOKED.id, STREAMED.id}
        assert set(reach.secrets) == {HOOKED.id}
    finally:
        reach.stop()


def test_a_signed_webhook_counts_once_and_a_bad_signature_is_refused() -> None:
    reach = GatewayAgencies(
        "http://127.0.0.1:1", [HOOKED], no_tokens, silent=[HOOKED.id], initial_ring_km=100
    )
    try:
        accepted = datetime.now(UTC) - timedelta(milliseconds=250)
        body = delivery_body("dlv-1", "evt-1", accepted)
        headers = sign("dlv-1", body, [reach.secrets[HOOKED.id]])
        assert reach._on_webhook(HOOKED.id, headers, body) == 204
        # A resend: same delivery id, new event id: a copy, not a second delivery.
        again = delivery_body("dlv-1", "evt-2", accepted)
        assert (
            reach._on_webhook(HOOKED.id, sign("dlv-1", again, [reach.secrets[HOOKED.id]]), again)
            == 204
        )
        forged = dict(headers, **{"webhook-signature": "v1,AAAA"})
        assert reach._on_webhook(HOOKED.id, forged, body) == 400
        assert reach._on_webhook("EDU-9999", headers, body) == 404
        got = reach.figures()[WEBHOOK]
        assert got["deliveries_by_kind"] == {"alert": 1}
        assert got["duplicates_dropped"] == 1 and got["bad_signatures"] == 1
        assert got["agency_types_reached"] == ["education"]
        assert got["latency_ms"]["samples"] == 1 and got["latency_ms"]["p50"] >= 250
    finally:
        reach.stop()


def test_the_summary_says_how_each_type_received_and_names_a_type_no_way_reached() -> None:
    received = {
        WEBHOOK: {"agencies": 1, "agency_types_reached": ["education"], "agencies_reached": 1},
        GATEWAY: {"agencies": 1, "agency_types_reached": [], "agencies_reached": 0},
    }
    police = agency("POL-0001", DeliveryMode.INBOX, AgencyType.POLICE)
    got = summary.channels(Observed(), [HOOKED, STREAMED, police], received)
    assert got[SDK] == {"agencies": 1, "agency_types_reached": [], "agencies_reached": 0}
    assert got["agency_types_without_a_way"] == ["police"]
    lines = summary.channel_lines(got)
    assert any(line.startswith("  signed webhook: 1 of 1") for line in lines)
    assert lines[-1] == "  NOT REACHED by any way: police"


def test_one_agencys_actions_run_in_the_order_they_fell_due_never_together() -> None:
    """An agency's system answers a referral accept-then-complete: the second
    call starts only once the first has returned."""
    first_running = threading.Event()
    release = threading.Event()
    order: list[str] = []
    overlap: list[bool] = []

    def first() -> None:
        first_running.set()
        release.wait(5)
        order.append("accept")

    def second() -> None:
        overlap.append(not release.is_set())
        order.append("complete")

    agenda = Agenda(workers=4)
    try:
        agenda.at(0.0, first, "EDU-0002")
        agenda.at(0.0, second, "EDU-0002")
        assert first_running.wait(5)
        release.set()
        deadline = time.monotonic() + 5
        while agenda.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert order == ["accept", "complete"]
        assert overlap == [False]
    finally:
        agenda.stop()


def test_the_agenda_runs_due_actions_side_by_side_and_counts_them_until_done() -> None:
    """Agencies act independently: one agency's slow call does not hold back
    another's (run in turn, these two would wait for each other until the barrier
    broke), and an action still running counts as pending."""
    both = threading.Barrier(2, timeout=5)
    release = threading.Event()
    done: list[str] = []

    def act(name: str) -> None:
        both.wait()
        release.wait(5)
        done.append(name)

    agenda = Agenda(workers=2)
    try:
        agenda.at(0.0, lambda: act("a"), "EDU-0002")
        agenda.at(0.0, lambda: act("b"), "HEA-0002")
        assert agenda.pending() == 2
        release.set()
        deadline = time.monotonic() + 5
        while agenda.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(done) == ["a", "b"]
        assert agenda.pending() == 0
    finally:
        agenda.stop()
