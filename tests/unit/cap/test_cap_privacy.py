"""Only the public part reaches the feed: the real fan-out planner's notices of
an alert, its updates, widenings and cancellation, made into CAP messages and
the Atom index, never carry the officer, the police details, the child's
distinguishing marks, a sighting or the exact last-seen coordinates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeward.agencies import Agency, AgencyType
from homeward.events import (
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    Location,
    ResponsibleOfficer,
    SightingReported,
)
from homeward.geo import destination
from homeward_fanout.planner import Policy, handle_event, handle_tick, to_ms
from homeward_gateway.public.atom import index
from homeward_gateway.public.cap import Texts
from homeward_gateway.public.feed import Feed
from homeward_gateway.public.schema import cap_errors
from tests.unit.fanout.geo import agency_at

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
HOUR = 3_600_000
POLICY = Policy(ack_timeout_ms=10 * HOUR)
OFFICER = "警官机密名"
PHONE = "13912345678"


def around(lat: float, lon: float) -> list[Agency]:
    """A media channel in the first ring, an online platform in the second, police."""
    agencies = []
    for i, (km, kind) in enumerate(
        [(10, AgencyType.MEDIA), (150, AgencyType.CYBERSPACE), (20, AgencyType.POLICE)]
    ):
        a = agency_at(i, km, type_=kind)
        at = destination(lat, lon, 45.0, km)
        agencies.append(a.model_copy(update={"latitude": at[0], "longitude": at[1]}))
    return agencies


def run(alert: AlertIssued) -> list[AlertDelivery]:
    where = alert.last_seen
    AGENCIES = around(where.latitude, where.longitude)
    res = handle_event(
        None,
        alert,
        event_id="e1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    )
    state, out = res.state, list(res.out)
    sighting = SightingReported(
        case_id=alert.case_id,
        sighting_id="S-1",
        location=Location(latitude=30.333333, longitude=104.444444, description="密报地点"),
        seen_at=T0,
        reporter_kind="police",
        description="线人密报",
    )
    update = AlertUpdated(
        case_id=alert.case_id, new_information="内部侦查进展", public_summary="已更换蓝色外套"
    )
    for i, event in enumerate([sighting, update], start=2):
        res = handle_event(
            state,
            event,
            event_id=f"e{i}",
            accepted_ms=to_ms(T0) + i,
            now_ms=to_ms(T0) + i,
            agencies=AGENCIES,
            policy=POLICY,
        )
        state, out = res.state, out + res.out
    for step in range(1, 9):
        res = handle_tick(
            state,
            now_ms=to_ms(T0) + step * HOUR // 2,
            agencies=AGENCIES,
            policy=POLICY,
            coordination_offices=[],
        )
        state, out = res.state, out + res.out
    cancel = AlertCancelled(case_id=alert.case_id, reason=CancelReason.FOUND, note="内部结案说明")
    res = handle_event(
        state,
        cancel,
        event_id="e9",
        accepted_ms=to_ms(T0) + 5 * HOUR,
        now_ms=to_ms(T0) + 5 * HOUR,
        agencies=AGENCIES,
        policy=POLICY,
    )
    out += res.out
    return [o.event for o in out if isinstance(o.event, AlertDelivery)]


# Points whose third decimal is never 0: an exact coordinate cannot pass for a rounded one.
EXACT = st.tuples(st.integers(-6000, 6000), st.integers(1, 8), st.integers(0, 999))


def exact(parts: tuple[int, int, int]) -> float:
    hundredths, thousandth, rest = parts
    return round(hundredths / 100 + thousandth / 1000 + rest / 1_000_000, 6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lat=EXACT.map(exact),
    lon=EXACT.map(lambda p: round(exact(p) + 100, 6)),
    marks=st.sampled_from(["左耳后胎记", "scar on left hand"]),
)
def test_the_feed_never_shows_the_officer_details_or_exact_coordinates(lat, lon, marks) -> None:
    alert = AlertIssued(
        case_id="CASE-PRIV-1",
        issuing_unit="示例市公安局虚构派出所",
        chief_officer=ResponsibleOfficer(
            officer_id="OFF-SECRET-9", name=OFFICER, unit="刑侦大队", phone=PHONE
        ),
        child=ChildDescription(
            name="测试儿童乙", sex="male", age_years=6, distinguishing_marks=marks
        ),
        last_seen=Location(
            latitude=lat, longitude=lon, description="虚构广场", admin_code="990101123"
        ),
        last_seen_at=T0 - timedelta(minutes=30),
        public_summary="测试儿童乙，6岁，红色外套",
        details="警方内部：疑似熟人带走",
    )
    feed = Feed(Texts(), UTC, web="https://feed.example.invalid/public/cap")
    made = feed.offer_all(run(alert))
    kinds = [p.message.msg_type for p in made]
    assert (kinds[0], kinds[-1]) == ("Alert", "Cancel") and "Update" in kinds
    atom = index(
        feed.newest(100),
        base="https://feed.example.invalid/public/cap",
        title="t",
        author="a",
        feed_id="urn:x",
        now=T0,
        zone=UTC,
    )
    secrets = [
        OFFICER,
        PHONE,
        "OFF-SECRET-9",
        "刑侦大队",
        marks,
        "警方内部",
        "内部侦查进展",
        "线人密报",
        "密报地点",
        "内部结案说明",
        "990101123",
        "30.333333",
        "104.444444",
        "30.33,104.44",
    ]
    # The exact point, in any form a writer might use (the centre is rounded to 0.01°).
    secrets += [f"{v:.{d}f}" for v in (lat, lon) for d in (3, 4, 5, 6)]
    for p in made:
        assert cap_errors(p.xml) == []
        assert f"{round(lat, 2):.2f},{round(lon, 2):.2f} " in p.xml.decode()
    for doc in [*(p.xml for p in made), atom]:
        text = doc.decode()
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked"
