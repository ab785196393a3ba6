"""A real Prometheus (Debian's package) scrapes the real services while a
scenario plays on the real broker; then every Grafana panel's query and every
alert rule is evaluated through Prometheus's HTTP API.

The scrape configuration is deploy/prometheus/prometheus.yml with only its
targets and intervals replaced, so its jobs and rule files are the committed
ones. The scenario plays twice (two waves), and each wave waits until
Prometheus has scraped its effects: a counter seen in one scrape only (it was
created and incremented between two scrapes) has no rate, and a quantile of no
rate is NaN, which Grafana draws as nothing. A panel passes when its query
gives at least one number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeward.actors import agency_actor
from homeward.agencies import AgencyType, dump_directory
from homeward.audit.record import AuditEntry, AuditOutcome
from homeward.audit.writer import KafkaAuditor
from homeward.codec import Codec
from homeward.events import (
    AdmissionRegistered,
    AgencyAcknowledgement,
    AlertDelivery,
    AlertIssued,
    ChildDescription,
    ClockTick,
    HouseholdRegistration,
    IdentityCheck,
    Location,
    PersonIdentity,
    ReferralRequested,
    ReferralStatusChanged,
    RescuedPerson,
    RescueNotified,
    ResponsibleOfficer,
    TaskStatus,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward_demo.processes import ServiceProcess
from homeward_intake.client import IntakeClient
from tests.fixtures.bus import Bus, principal_of
from tests.fixtures.idp import Idp
from tests.fixtures.prometheus import (
    Prometheus,
    Query,
    alert_rules,
    dashboard_panels,
    ensure_installed,
    free_port,
    grafana_expr,
    has_data,
    scrape_config,
    scrape_jobs,
)
from tests.integration.data_law_flows import realm_ids
from tests.integration.support import TopicReader, WebhookSink, service
from tests.unit.fanout.geo import CENTRE, agency_at

pytestmark = pytest.mark.integration

# One agency of every type inside the first ring and the router's reach.
# Placed around the centre, under the realm's ids (each logs in as its own system).
AGENCIES = realm_ids(
    [agency_at(i, 10 + 3 * i, bearing=i * 22.5, type_=t) for i, t in enumerate(AgencyType)]
)
SILENT = next(a.id for a in AGENCIES if a.type == AgencyType.TRANSPORT)  # never acknowledges
# Acknowledges through the agency gateway (HTTP, its staff's token), not on Kafka.
ON_HTTP = next(a.id for a in AGENCIES if a.type == AgencyType.CIVIL_AFFAIRS)
# Also gets each delivery by signed webhook (acknowledging on Kafka as the rest).
ON_WEBHOOK = next(a.id for a in AGENCIES if a.type == AgencyType.EDUCATION)
PLACE = Location(latitude=CENTRE[0], longitude=CENTRE[1], description="Fictional Park")
OFFICER = ResponsibleOfficer(officer_id="OFF-1", name="Officer Example", unit="Sampleville PU")
ANSWERED_RULE = "legal_aid"  # an adult's referral to justice, answered in each wave
GARBAGE = b"\xc3\x01garbage"
# What each wave must have moved, as Prometheus sees it, before the next one.
WAVE_EFFECTS = {
    "deliveries": "sum(homeward_deliveries_total)",
    "acknowledgements": "sum(homeward_ack_seconds_count)",
    "escalations": "sum(homeward_escalations_total)",
    "first answers": "sum(homeward_referral_answer_seconds_count)",
    "overdue": 'sum(homeward_overdue_total{kind="referral"})',
    "anomalies": "sum(homeward_anomalies_total)",
    "fan-out dead letters": 'sum(homeward_dead_letters_total{service="fanout"})',
    "router dead letters": 'sum(homeward_dead_letters_total{service="referrals"})',
    "detector dead letters": 'sum(homeward_dead_letters_total{service="detector"})',
    "intake requests": "sum(homeward_http_requests_total)",
    "gateway writes": "sum(homeward_gateway_writes_total)",
    "gateway skipped records": "sum(homeward_gateway_records_skipped_total)",
}
PANEL_DEADLINE_SECONDS = 60


@dataclass
class Site:
    prometheus: Prometheus
    deadline: float  # for every panel's data, counted from the end of the scenario

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())


# -- the scenario ----------------------------------------------------------------------------
def alert(case_id: str) -> AlertIssued:
    return AlertIssued(
        case_id=case_id,
        issuing_unit="Sampleville Police Unit",
        chief_officer=OFFICER,
        child=ChildDescription(name="Test Child 5", sex="male", age_years=8),
        last_seen=PLACE,
        last_seen_at=utcnow() - timedelta(minutes=5),
        public_summary="Test Child 5, 8, green cap, last seen in Fictional Park",
    )


def rescue(case_id: str) -> RescueNotified:
    return RescueNotified(
        case_id=case_id,
        rescue_id=f"RSC-{case_id}",
        rescuing_unit="Sampleville County Police",
        officer=OFFICER,
        person=RescuedPerson(
            name="Test Adult 2",
            sex="female",
            age_years=24,
            guardians_known=True,
            identity_known=True,
            household_registration=HouseholdRegistration.LOCAL,
        ),
        rescued_at=utcnow(),
        location=PLACE,
    )


def admission(n: int) -> AdmissionRegistered:
    return AdmissionRegistered(
        case_id=f"ADM-PM-{n}",
        hospital_id="HOSP-DEMO-1",  # the realm's hospital-system-hosp-demo-1
        patient=PersonIdentity(id_type="resident_id", id_number=f"PM-P{n}", name=f"Test P{n}"),
        admitted_at=utcnow() - timedelta(hours=1),
        identity_check=IdentityCheck(document_match=True, face_match=False),
    )


def events(reader: TopicReader, cls: type[Any], **match: Any) -> list[Any]:
    return [
        d.event
        for _, d in reader.decoded
        if isinstance(d.event, cls) and all(getattr(d.event, k) == v for k, v in match.items())
    ]


def play_wave(
    n: int,
    bus: Bus,
    login: Callable[[str], IntakeClient],
    reader: TopicReader,
    ack_on_http: Callable[[str], None],
) -> None:
    """An alert fanned out and acknowledged by all but one agency (which is resent
    to, then escalated; one agency acknowledges through the gateway), a rescue
    whose legal-aid referral is answered, a failed identity check at a hospital,
    a corrupt record on each Faust service's input and on an inbox the gateway
    reads, and a clock tick that makes the rescue's other referrals overdue."""
    codec, p = Codec(), producer(bus.settings)
    client = login("police-case-system")
    try:
        alert_id = client.issue_alert(alert(f"POL-0001-PM-A{n}")).event_id
        if n > 1:
            client.update_alert("POL-0001-PM-A1", new_information="Seen near the river")
        everyone = {a.id for a in AGENCIES}
        reader.until(
            lambda r: (
                {d.agency_id for d in events(r, AlertDelivery, source_event_id=alert_id)}
                >= everyone
            ),
            60,
            f"wave {n}: the alert in every inbox",
        )
        acks = [
            AgencyAcknowledgement(
                case_id=d.case_id,
                delivery_id=d.delivery_id,
                agency_id=d.agency_id,
                actor=agency_actor(d.agency_id, d.agency_type),
            )
            for d in events(reader, AlertDelivery, source_event_id=alert_id, attempt=1)
            if d.agency_id not in (SILENT, ON_HTTP)
        ]
        topic = bus.topic("alert_acks")
        send_all(p, [(topic, codec.encode(a, key=a.case_id, source="/t/agency")[0]) for a in acks])
        (on_http,) = events(
            reader, AlertDelivery, source_event_id=alert_id, attempt=1, agency_id=ON_HTTP
        )
        ack_on_http(on_http.delivery_id)

        case = f"CASE-PM-R{n}"
        client.notify_rescue(rescue(case))
        reader.until(
            lambda r: bool(events(r, ReferralRequested, case_id=case, rule_id=ANSWERED_RULE)),
            60,
            f"wave {n}: the referrals",
        )
        (offer,) = events(reader, ReferralRequested, case_id=case, rule_id=ANSWERED_RULE)
        agency = login(f"agency-system-{offer.agency_id.lower()}")
        agency.answer_referral(case, offer.referral_id, offer.agency_id, "accepted")
        login("hospital-system-hosp-demo-1").record_admission(admission(n))
        for topic_id in ("alert_events", "rescues", "health_records", "audit_entries"):
            p.send(bus.topic(topic_id), key=b"CASE-PM-X", value=GARBAGE).get(30)
        inbox = bus.topology.inbox(AgencyType.CIVIL_AFFAIRS).name
        p.send(inbox, key=ON_HTTP.encode(), value=GARBAGE).get(30)
        audit_wave(n, bus)

        # Once the answer is on the router's log, time passes for this case only.
        reader.until(
            lambda r: bool(
                events(r, ReferralStatusChanged, case_id=case, status=TaskStatus.ACCEPTED)
            ),
            60,
            f"wave {n}: the answer handled",
        )
        tick = ClockTick(case_id=case, now=utcnow() + timedelta(days=100))
        rec, _ = codec.encode(tick, key=case, source="/t/clock")
        send_all(p, [(bus.topic("referral_ticks"), rec)])
    finally:
        p.close()


def audit_wave(n: int, bus: Bus) -> None:
    """Audit entries for the sequencer to chain, one of them sent twice (dropped)."""
    auditor = KafkaAuditor(bus.settings, topology=bus.topology)
    try:
        for k in (0, 1, 2, 0):
            auditor.record(
                AuditEntry(
                    entry_id=f"AUD-PM-{n}-{k}",
                    at=utcnow(),
                    service="test",
                    action="alert.issue",
                    outcome=AuditOutcome.ACCEPTED,
                    principal="svc-test-police",
                    case_id=f"CASE-PM-A{n}",
                )
            )
    finally:
        auditor.close()


def seen(prom: Prometheus) -> dict[str, float]:
    return {what: prom.value(expr) for what, expr in WAVE_EFFECTS.items()}


def wait_until_scraped(prom: Prometheus, before: dict[str, float], n: int) -> dict[str, float]:
    """Poll Prometheus until every effect of the wave is in its data."""
    now: dict[str, float] = {}

    def moved() -> bool:
        now.update(seen(prom))
        return all(
            not math.isnan(now[w]) and (math.isnan(before[w]) or now[w] > before[w])
            for w in WAVE_EFFECTS
        )

    try:
        prom.until(moved, 90, f"wave {n} scraped")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; before {before}, now {now}") from None
    return dict(now)


# -- the site --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(
    bus_factory_module: Callable[..., Bus], tmp_path_factory: pytest.TempPathFactory, idp: Idp
) -> Iterator[Site]:
    ensure_installed()
    bus = bus_factory_module()
    tmp: Path = tmp_path_factory.mktemp("prometheus")
    directory = str(tmp / "agencies.csv")
    dump_directory(AGENCIES, directory)
    ports = {
        name: free_port() for name in ("fanout", "referrals", "detector", "audit", "prometheus")
    }
    services: list[ServiceProcess] = []
    stops: list[WebhookSink] = []
    prom: Prometheus | None = None

    def start(module: str, marker: str, **env: str) -> ServiceProcess:
        svc = service(["-m", module], bus.env(principal_of(module), **env), tmp / f"{module}.log")
        services.append(svc)
        return svc.start(marker)

    inboxes = [bus.topology.inbox(t).name for t in AgencyType]
    reader = TopicReader(bus.settings, [*inboxes, bus.topic("referral_events")])
    try:
        start(
            "homeward_fanout",
            "FANOUT_READY",
            HOMEWARD_FANOUT_DIRECTORY=directory,
            HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS="0.2",
            # Long enough that the acknowledgements always land first.
            HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="4",
            HOMEWARD_FANOUT_MAX_RESENDS="1",
            HOMEWARD_FANOUT_METRICS_PORT=str(ports["fanout"]),
        )
        start(
            "homeward_referrals",
            "REFERRALS_READY",
            HOMEWARD_REFERRALS_DIRECTORY=directory,
            HOMEWARD_REFERRALS_METRICS_PORT=str(ports["referrals"]),
        )
        start(
            "homeward_detector",
            "DETECTOR_READY",
            HOMEWARD_DETECTOR_METRICS_PORT=str(ports["detector"]),
        )
        start(
            "homeward_audit",
            "AUDIT_READY",
            HOMEWARD_AUDIT_METRICS_PORT=str(ports["audit"]),
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
        # One agency takes its deliveries by webhook too (a receiver in this
        # test that answers 204), so the dispatcher's series have data.
        hook = WebhookSink().__enter__()
        stops.append(hook)
        registry = hook.registry(tmp, ON_WEBHOOK)
        gateway = start(
            "homeward_gateway",
            "GATEWAY_READY",
            HOMEWARD_GATEWAY_PORT="0",
            HOMEWARD_OIDC_ISSUER=idp.issuer,
            HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE=str(registry),
        )
        gateway_url = gateway.ready_line().split()[-1]
        targets = {
            f"homeward-{name}": name for name in ("fanout", "referrals", "detector", "audit")
        }
        config = scrape_config(
            {
                "homeward-intake": [url.split("://", 1)[1].rstrip("/")],
                "homeward-gateway": [gateway_url.split("://", 1)[1].rstrip("/")],
                "prometheus": [f"127.0.0.1:{ports['prometheus']}"],
                **{job: [f"127.0.0.1:{ports[name]}"] for job, name in targets.items()},
            }
        )
        prom = Prometheus(config, tmp, port=ports["prometheus"]).start()
        jobs = len(config["scrape_configs"])
        prom.until(lambda: prom.value("sum(up)") == jobs, 60, "every target scraped and up")
        before = seen(prom)
        with ExitStack() as clients:

            def login(client_id: str) -> IntakeClient:
                provider = idp.client(client_id)
                return clients.enter_context(IntakeClient(url, timeout=30, token_provider=provider))

            staff = idp.login(f"staff-{ON_HTTP.lower()}")

            def ack_on_http(delivery_id: str) -> None:
                headers = {"Authorization": f"Bearer {staff.token()}"}
                deadline = time.monotonic() + 30
                while True:  # the gateway tails the inbox: it may be a poll behind the reader
                    resp = httpx.post(
                        f"{gateway_url}/v1/inbox/{delivery_id}/ack", headers=headers, timeout=30
                    )
                    if resp.status_code != 404 or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                assert resp.status_code == 200, resp.text

            for n in (1, 2):
                play_wave(n, bus, login, reader, ack_on_http)
                before = wait_until_scraped(prom, before, n)
            send_a_public_tip(gateway_url, "POL-0001-PM-A1")
            hook.wait_for(1, 30)
        yield Site(prom, time.monotonic() + PANEL_DEADLINE_SECONDS)
    finally:
        reader.close()
        if prom is not None:
            prom.stop()
        for svc in reversed(services):
            svc.stop()
        for sink in stops:
            sink.__exit__(None, None, None)


def send_a_public_tip(gateway_url: str, case_id: str) -> None:
    """A sighting from the public on the waves' public alert; the tip line answers
    503 until it has read the alert log, so that is retried, nothing else."""
    body = {
        "case_id": case_id,
        "seen_at": utcnow().isoformat(),
        "place": "Fictional Park, by the gate",
        "description": "A child like the one on the poster (test tip)",
    }
    deadline = time.monotonic() + 30
    while True:
        resp = httpx.post(f"{gateway_url}/public/v1/tips", json=body, timeout=30)
        if resp.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert resp.status_code == 202, resp.text


# -- the verdicts ----------------------------------------------------------------------------
def test_every_target_is_scraped(site: Site) -> None:
    targets = site.prometheus.api("/api/v1/targets")["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == set(scrape_jobs())
    assert [t["scrapeUrl"] for t in targets if t["health"] != "up"] == []


@pytest.mark.parametrize("panel", dashboard_panels(), ids=lambda q: q.where)
def test_every_dashboard_panel_returns_data(site: Site, panel: Query) -> None:
    prom, expr = site.prometheus, grafana_expr(panel.expr)
    answer: dict[str, Any] = {}

    def answered() -> bool:
        answer.update(prom.query(expr))
        assert answer["status"] == "success", answer
        return has_data(answer)

    try:
        prom.until(answered, site.left(), panel.where)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: no data for {expr}: {answer}") from None


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda q: q.where)
def test_every_alert_rule_evaluates(site: Site, rule: Query) -> None:
    prom = site.prometheus
    answer = prom.query(rule.expr)
    assert answer["status"] == "success", answer
    name = rule.where.rpartition(" / ")[2]

    def loaded() -> dict[str, Any]:
        groups = prom.api("/api/v1/rules")["groups"]
        (found,) = [r for g in groups for r in g["rules"] if r["name"] == name]
        return dict(found)

    # Prometheus evaluates the committed rule file itself, every second here.
    prom.until(lambda: loaded()["health"] != "unknown", 30, f"{name} evaluated")
    assert loaded()["health"] == "ok", loaded()


def test_the_alerts_the_scenario_calls_for_and_no_others(site: Site) -> None:
    prom = site.prometheus
    exprs = {q.where.rpartition(" / ")[2]: q.expr for q in alert_rules()}

    def labels(name: str) -> list[dict[str, str]]:
        return [s["metric"] for s in prom.query(exprs[name])["data"]["result"]]

    assert {m["service"] for m in labels("HomewardDeadLetters")} == {
        "fanout",
        "referrals",
        "detector",
    }
    assert {m["phase"] for m in labels("HomewardReferralsOverdue")} >= {"answer"}
    for quiet in ("HomewardServiceDown", "HomewardServiceMissing", "HomewardServiceNotReady"):
        assert labels(quiet) == [], quiet
