"""Every CAP message the feed makes is valid against the OASIS CAP 1.2 XSD,
whatever the notices say (Chinese text, control characters, edge times, any
zone), and carries its times, rings and references in CAP's own forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from homeward.events import AlertDelivery, PublicNotice
from homeward_gateway.public.cap import CAP_NS, Texts, cap_time
from homeward_gateway.public.feed import ExerciseRefused, Feed
from homeward_gateway.public.schema import cap_errors
from tests.conformance.strategies import for_model

NS = {"cap": CAP_NS}
SENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
CIRCLE = re.compile(r"^-?\d{1,2}\.\d+,-?\d{1,3}\.\d+ \d+$")
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = st.one_of(
    st.just(UTC),
    st.sampled_from([ZoneInfo("Asia/Shanghai"), ZoneInfo("America/St_Johns")]),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
# Edge times: the epoch, leap days, the ends of the years CAP's 4-digit year allows.
MOMENTS = st.one_of(
    st.sampled_from(
        [
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(2028, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
            datetime(2030, 12, 31, 16, 0, tzinfo=UTC),
        ]
    ),
    st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
    ),
)
CHINESE = st.text(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=40
)
ANY_TEXT = st.one_of(CHINESE, st.text(max_size=60))
SUMMARY = ANY_TEXT.filter(str.strip)  # a blank one is an alert not released (below)


def delivery(notice: PublicNotice, n: int = 0, exercise: bool = False) -> AlertDelivery:
    return AlertDelivery(
        case_id=notice.case_id,
        delivery_id=f"D-{n}",
        agency_id=f"MED-{n:04d}",
        agency_type="media",
        ring_km=notice.radius_km or 0,
        distance_km=1.0,
        accepted_at=T0,
        source_event_id=f"ev-{n}",
        event=notice,
        exercise=exercise,
    )


@st.composite
def notices(draw: st.DrawFn) -> list[PublicNotice]:
    """A case's notices as the fan-out sends them: active, then changes, maybe closed."""
    base = draw(for_model(PublicNotice)).model_copy(
        update={
            "case_id": "CASE-CAP-1",
            "status": "active",
            "summary": draw(SUMMARY),
            "child_name": draw(st.none() | ANY_TEXT),
            "last_seen_area": draw(st.none() | CHINESE),
            "clothing": draw(st.none() | ANY_TEXT),
            "contact": draw(st.none() | ANY_TEXT),
            "as_of": draw(MOMENTS),
            "radius_km": draw(st.none() | st.integers(1, 20_000)),
            "area_latitude": round(draw(st.floats(-90, 90)), 2),
            "area_longitude": round(draw(st.floats(-180, 180)), 2),
        }
    )
    out = [base]
    for _ in range(draw(st.integers(0, 4))):
        prev = out[-1]
        status = draw(st.sampled_from(["updated", "widened"]))
        change = (
            {"summary": draw(SUMMARY)}
            if status == "updated"
            else {"radius_km": (prev.radius_km or 0) + draw(st.integers(1, 500))}
        )
        later = prev.as_of + timedelta(seconds=draw(st.integers(0, 10**6)))  # type: ignore[operator]
        out.append(prev.model_copy(update={"status": status, "as_of": later, **change}))
    if draw(st.booleans()):
        out.append(out[-1].model_copy(update={"status": "closed"}))
    return out


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


@PROPERTY
@given(notices(), ZONES)
def test_every_message_is_valid_cap_with_cap_times_rings_and_references(sequence, zone) -> None:
    feed = Feed(Texts(), zone, web="https://feed.example.invalid/public/cap")
    made = feed.offer_all(delivery(n, i) for i, n in enumerate(sequence))
    assert made, "the first notice of a case makes an Alert"
    kinds = [p.message.msg_type for p in made]
    assert kinds[0] == "Alert" and "Alert" not in kinds[1:]
    assert kinds.count("Cancel") == (sequence[-1].status == "closed")
    for i, p in enumerate(made):
        assert cap_errors(p.xml) == [], p.xml.decode()
        root = parse(p.xml)
        sent = root.findtext("cap:sent", namespaces=NS)
        assert SENT.match(sent) and not sent.endswith("Z")
        if zone.utcoffset(p.message.sent) == timedelta(0):
            assert sent.endswith("-00:00")
        assert root.findtext("cap:msgType", namespaces=NS) == p.message.msg_type
        assert root.findtext("cap:status", namespaces=NS) == "Actual"
        langs = [el.text for el in root.findall("cap:info/cap:language", namespaces=NS)]
        assert langs == ["zh-CN", "en"]
        refs = root.findtext("cap:references", namespaces=NS)
        expected = [
            f"{Texts().sender},{q.message.identifier},{parse(q.xml).findtext('cap:sent', namespaces=NS)}"
            for q in made[:i]
        ]
        assert (refs.split(" ") if refs else []) == expected
        for ring in root.findall("cap:info/cap:area/cap:circle", namespaces=NS):
            assert CIRCLE.match(ring.text), ring.text
            assert ring.text.endswith(f" {p.message.notice.radius_km}")


@pytest.mark.parametrize(
    ("moment", "zone", "text"),
    [
        (T0, UTC, "2030-01-01T08:00:00-00:00"),
        (T0, ZoneInfo("Asia/Shanghai"), "2030-01-01T16:00:00+08:00"),
        (T0, timezone(timedelta(hours=-3, minutes=-30)), "2030-01-01T04:30:00-03:30"),
        (T0 + timedelta(microseconds=999_999), UTC, "2030-01-01T08:00:00-00:00"),
        (datetime(2030, 1, 1, 8, tzinfo=timezone(timedelta(0))), UTC, "2030-01-01T08:00:00-00:00"),
    ],
)
def test_cap_times(moment: datetime, zone, text: str) -> None:
    assert cap_time(moment, zone) == text


def notice(**changes) -> PublicNotice:
    fields = {
        "case_id": "CASE-CAP-2",
        "status": "active",
        "summary": "测试儿童甲，7岁，红色外套",
        "child_name": "测试儿童甲",
        "sex": "female",
        "age_years": 7,
        "last_seen_area": "虚构公园",
        "last_seen_at": T0 - timedelta(hours=1),
        "contact": "示例市公安局虚构派出所",
        "radius_km": 100,
        "area_latitude": 30.0,
        "area_longitude": 104.0,
        "as_of": T0,
    }
    return PublicNotice(**{**fields, **changes})


def test_copies_and_late_older_copies_make_no_message() -> None:
    feed = Feed(Texts(), UTC)
    first = notice()
    assert feed.offer(delivery(first, 1)).message.msg_type == "Alert"
    assert feed.offer(delivery(first, 2)) is None  # the same notice, another inbox
    wider = notice(status="widened", radius_km=200, as_of=T0 + timedelta(hours=1))
    assert feed.offer(delivery(wider, 3)).message.msg_type == "Update"
    # A newly reached channel's alert at the same ring tells nothing new.
    assert feed.offer(delivery(wider.model_copy(update={"status": "active"}), 4)) is None
    # An older copy read late from another inbox does not step the ring back.
    assert feed.offer(delivery(first, 5)) is None
    closed = feed.offer(delivery(wider.model_copy(update={"status": "closed"}), 6))
    assert closed.message.msg_type == "Cancel"
    assert [r.identifier for r in closed.message.references] == ["CASE-CAP-2.1", "CASE-CAP-2.2"]
    # A closed case takes nothing more.
    assert feed.offer(delivery(notice(summary="again", as_of=T0 + timedelta(days=1)), 7)) is None
    assert [p.message.identifier for p in feed.newest(10)] == [
        "CASE-CAP-2.3",
        "CASE-CAP-2.2",
        "CASE-CAP-2.1",
    ]


def test_a_cancel_for_a_case_never_published_makes_nothing() -> None:
    feed = Feed(Texts(), UTC)
    assert feed.offer(delivery(notice(status="closed"))) is None
    assert feed.newest(10) == []


def test_a_drill_is_refused_and_counted() -> None:
    feed = Feed(Texts(), UTC)
    with pytest.raises(ExerciseRefused):
        feed.offer(delivery(notice(), exercise=True))
    feed.offer_entry(delivery(notice(), exercise=True))
    assert feed.refused_exercises == 1
    assert feed.newest(10) == [] and feed.get("CASE-CAP-2.1") is None


def test_exercise_status_is_valid_cap_when_a_builder_asks_for_it() -> None:
    from homeward_gateway.public.cap import Message, build, to_bytes

    xml = to_bytes(build(Message("X.1", T0, "Alert", notice(), status="Exercise"), Texts()))
    assert cap_errors(xml) == []
    root = parse(xml)
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"
    assert root.findtext("cap:info/cap:headline", namespaces=NS).startswith("【演练】")


def test_an_alert_not_released_to_the_public_is_not_published() -> None:
    feed = Feed(Texts(), UTC)
    assert feed.offer(delivery(notice(summary=""), 1)) is None
    released = notice(status="updated", summary="公开摘要", as_of=T0 + timedelta(hours=1))
    assert feed.offer(delivery(released, 2)).message.msg_type == "Alert"
