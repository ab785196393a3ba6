"""The data law, on the real broker, with intake, the fan-out, the referral
router and the health-record detector each its own process.

Every flow runs once (module scope) with canary values (data_law_flows.py:
DNA data, police notes, a reporter's identity). Then:

(a) every topic of this test's slice outside `police.`, the dead-letter topic,
    every service's log and the case timeline (without police clearance) hold
    neither canary;
(b) every event record carries a ce_classification no more sensitive than
    its topic's classification;
(c) per agency role, its inbox holds only what topology/projections.yaml lets
    it have, and nothing police-only outside police's own inbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeward.agencies import AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import AlertDelivery, Classification, PublicNotice, ReferralRequested
from homeward.projections import default_projections
from homeward.topology import POLICE_ONLY_PREFIX
from homeward_demo.processes import ServiceProcess
from homeward_intake.client import IntakeClient
from tests.fixtures.bus import Bus, principal_of
from tests.fixtures.idp import Idp
from tests.integration.data_law_flows import (
    AGENCIES,
    CANARIES,
    CASE,
    CHILD,
    DETECTOR_INPUTS,
    FANOUT_INPUTS,
    FIRST,
    ROUTER_INPUTS,
    RULES,
    YOUTH,
    Broker,
    Raw,
    run_flows,
    run_health,
)
from tests.integration.support import TopicReader, WebhookSink, service
from tests.integration.test_tips import started_gateway

pytestmark = pytest.mark.integration
RANK = {Classification.PUBLIC: 0, Classification.RESTRICTED: 1, Classification.POLICE_ONLY: 2}
REFERRED = {r.to.value for p in (CHILD, YOUTH) for r in RULES.at_rescue(p)}


@dataclass
class World:
    bus: Bus
    records: list[Raw]
    logs: dict[str, bytes]
    timeline: str


@pytest.fixture(scope="module")
def world(
    bus_factory_module: Callable[..., Bus], tmp_path_factory: pytest.TempPathFactory, idp: Idp
) -> Iterator[World]:
    bus = bus_factory_module()
    tmp: Path = tmp_path_factory.mktemp("data-law")
    directory = str(tmp / "agencies.csv")
    dump_directory(AGENCIES, directory)
    services: list[ServiceProcess] = []
    # A school takes its deliveries by webhook too: the bodies it received are
    # searched for canaries as its inbox is.
    hook = WebhookSink().__enter__()
    registry = hook.registry(tmp, FIRST[AgencyType.EDUCATION])

    def start(module: str, marker: str, **env: str) -> ServiceProcess:
        svc = service(["-m", module], bus.env(principal_of(module), **env), tmp / f"{module}.log")
        services.append(svc)
        return svc.start(marker)

    inboxes = [bus.topology.inbox(t).name for t in AgencyType]
    reader = TopicReader(bus.settings, [*inboxes, bus.topic("referral_events")])
    broker = Broker(bus)
    try:
        start(
            "homeward_fanout",
            "FANOUT_READY",
            HOMEWARD_FANOUT_DIRECTORY=directory,
            HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="3600",
        )
        start("homeward_referrals", "REFERRALS_READY", HOMEWARD_REFERRALS_DIRECTORY=directory)
        start("homeward_detector", "DETECTOR_READY")
        start(
            "homeward_audit",
            "AUDIT_READY",
            HOMEWARD_AUDIT_SIGNING_KEY_FILE=str(tmp / "audit-keys" / "signing.pem"),
            HOMEWARD_AUDIT_PUBLIC_KEYS_FILE=str(tmp / "audit-keys" / "public.pem"),
            HOMEWARD_AUDIT_GENERATE_KEY="true",
            HOMEWARD_AUDIT_CHECKPOINT_SECONDS="0.5",
        )
        intake = start(
            "homeward_intake",
            "INTAKE_READY",
            HOMEWARD_INTAKE_PORT="0",
            HOMEWARD_OIDC_ISSUER=idp.issuer,
        )
        url = intake.ready_line().split()[-1]
        gateway = service(
            ["-m", "homeward_gateway"],
            bus.env(
                "gateway",
                HOMEWARD_GATEWAY_PORT="0",
                HOMEWARD_OIDC_ISSUER=idp.issuer,
                HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE=str(registry),
            ),
            tmp / "homeward_gateway.log",
        )
        services.append(gateway)
        tips_url = started_gateway(gateway)
        with ExitStack() as clients:

            def login(client_id: str) -> IntakeClient:
                return clients.enter_context(
                    IntakeClient(url, timeout=30, token_provider=idp.client(client_id))
                )

            run_flows(bus, login, reader, broker, tips_url=tips_url)
            # The coordination office reads the timeline: police-only entries by type only.
            timeline = login("coordination-system").timeline(CASE).model_dump_json()
        run_health(bus, broker)
        # Everything written has been handled before anything is read for the verdict.
        inputs = {
            "homeward-fanout": FANOUT_INPUTS,
            "homeward-referrals": ROUTER_INPUTS,
            "homeward-detector": DETECTOR_INPUTS,
            "homeward-audit": ["audit_entries"],
        }
        try:
            reader.until(
                lambda r: all(broker.consumed(app, topics) for app, topics in inputs.items()),
                90,
                "the services to consume every input",
            )
        except AssertionError as exc:
            lagging = {app: broker.behind(app, topics) for app, topics in inputs.items()}
            raise AssertionError(f"{exc}; behind: {lagging}") from None
        records = broker.read_all()
    finally:
        broker.close()
        reader.close()
        for svc in reversed(services):
            svc.stop()
        hook.__exit__(None, None, None)
    logs = {svc.log_path.name: svc.log_path.read_bytes() for svc in services}
    logs["webhook bodies"] = b"\0".join(hook.bodies)
    yield World(bus, records, logs, timeline)


# -- (a) the canaries ----------------------------------------------------------------------
def test_the_flows_ran_and_the_whole_slice_was_read(world: World) -> None:
    bus, read = world.bus, {t for t, *_ in world.records}
    for topic in bus.topology.all():
        if topic.values and topic.id not in ("alert_acks", "dead_letters"):
            assert topic.name in read or topic.id.startswith("inbox."), f"nothing on {topic.id}"
    internal = ("referrals_cases_changelog", "referrals_reports_changelog", "intake_requests")
    for tid in ("fanout_cases_changelog", *internal):
        assert bus.topic(tid) in read, f"nothing on {tid}"
    # The canaries are on the bus, where the law allows them.
    police = bus.prefix + POLICE_ONLY_PREFIX
    allowed = b"".join(v or b"" for t, _, _, v, _ in world.records if t.startswith(police))
    assert all(c in allowed for c in CANARIES)


def test_no_canary_outside_police_topics_nor_in_dead_letters_logs_or_timeline(
    world: World,
) -> None:
    bus, dlq = world.bus, world.bus.topic("dead_letters")
    hits = []
    for topic, offset, key, value, headers in world.records:
        if topic.startswith(bus.prefix + POLICE_ONLY_PREFIX) and topic != dlq:
            continue
        blob = b"\0".join([key or b"", value or b"", *(k.encode() + v for k, v in headers)])
        hits += [f"{topic}@{offset}" for c in CANARIES if c in blob]
    assert not hits, f"canary found on {hits}"
    for name, text in world.logs.items():
        assert not [c for c in CANARIES if c in text], f"canary in the {name} log"
    assert not [c for c in CANARIES if c in world.timeline.encode()], "canary in the timeline"


def test_the_timeline_without_clearance_names_no_agency_a_referral_is_at(world: World) -> None:
    # Where a referral is, the victim is: a welfare placement is the shelter (issue 14).
    # Police units are named on the case anyway (the issuing unit, a tip's unit).
    codec, at = Codec(), set()
    for topic, _, key, value, headers in world.records:
        if key == CASE.encode() and topic == world.bus.topic("referral_events"):
            event = codec.decode(value, headers).event
            kind = getattr(event, "agency_type", None)
            if hasattr(event, "agency_id") and kind and kind != AgencyType.POLICE.value:
                at.add(event.agency_id)
    assert at, "no referral of the case on referrals.events.v1"
    assert not [a for a in at if a in world.timeline], world.timeline


def test_no_flow_was_dead_lettered(world: World) -> None:
    dlq = world.bus.topic("dead_letters")
    letters = [dict(h).get("dlq_reason") for t, _, _, _, h in world.records if t == dlq]
    assert not letters, letters


# -- (b) classification headers --------------------------------------------------------------
def test_every_record_is_classified_no_higher_than_its_topic(world: World) -> None:
    declared = {t.name: t for t in world.bus.topology.all()}
    problems = []
    for topic, offset, _, _, headers in world.records:
        spec, h = declared.get(topic), dict(headers)
        if spec is None:
            assert "ce_type" not in h, f"an event on the undeclared topic {topic}"
            continue  # Faust's own bookkeeping (its assignor topic)
        if "ce_classification" not in h:
            # Only records that are not events go without: Faust's changelogs,
            # intake's idempotency log, the fan-out's empty wake-ups.
            if spec.values or "ce_type" in h:
                problems.append(f"{topic}@{offset}: no ce_classification")
            continue
        got = Classification(h["ce_classification"].decode())
        if RANK[got] > RANK[spec.classification]:
            problems.append(f"{topic}@{offset}: {got} on a {spec.classification} topic")
    assert not problems, problems


# -- (c) each role gets its projection ---------------------------------------------------------
@pytest.mark.parametrize("role", list(AgencyType), ids=str)
def test_each_role_receives_only_its_projection(world: World, role: AgencyType) -> None:
    inbox = world.bus.topology.inbox(role)
    projections, codec = default_projections(), Codec()
    counts = {"AlertDelivery": 0, "ReferralRequested": 0}
    notices: set[str] = set()
    for topic, offset, _, value, headers in world.records:
        if topic != inbox.name:
            continue
        decoded = codec.decode(value, headers)
        event, where = decoded.event, f"{topic}@{offset}"
        assert event.avro_name.rpartition(".")[2] in inbox.values, where
        if role != AgencyType.POLICE:
            assert decoded.meta.classification != Classification.POLICE_ONLY, where
            assert event.data_classification() != Classification.POLICE_ONLY, where
        if isinstance(event, AlertDelivery):
            counts["AlertDelivery"] += 1
            assert event.agency_type == role.value, where
            kind = event.event.avro_name.rpartition(".")[2]
            assert kind in projections.allowed("AlertDelivery.event", role.value), where
            if isinstance(event.event, PublicNotice):
                notices.add(event.event.status)
        elif isinstance(event, ReferralRequested):
            counts["ReferralRequested"] += 1
            assert event.agency_type == role.value, where
            filled = {k for k, v in event.victim.model_dump().items() if v is not None}
            assert filled <= projections.allowed("VictimProfile", role.value), (where, filled)
    # Not vacuous: every role had the alert, and every referred role a referral.
    assert counts["AlertDelivery"] > 0
    assert (counts["ReferralRequested"] > 0) == (role.value in REFERRED)
    if projections.allowed("AlertDelivery.event", role.value) == {"PublicNotice"}:
        assert notices == {"active", "updated", "closed"}
