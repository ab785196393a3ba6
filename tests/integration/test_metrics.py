"""Every service's /metrics, /healthz and /readyz on the real broker: each
service runs as its own process, a small flow plays through it, and its
scrape must hold the catalogue's series for that flow with values above
zero, and the lag of its own consumer group. The SDKs (agency subscriber,
hospital recorder) run in this process and are read from its registry."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from homeward.agencies import AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    Event,
    IdentityCheck,
    ReferralRequested,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward.topology import answer_topic_id
from homeward_agency import Subscriber
from homeward_demo.processes import ServiceProcess
from homeward_health import HealthRecorder
from tests.fixtures.bus import Bus, principal_of
from tests.fixtures.intake import IntakeProcess
from tests.integration.support import TopicReader, service
from tests.unit.detector.world import admission, mother
from tests.unit.fanout.geo import agency_at
from tests.unit.intake import samples as intake_samples
from tests.unit.referrals.world import AGENCIES as REFERRAL_AGENCIES
from tests.unit.referrals.world import answer, rescue

pytestmark = pytest.mark.integration

Sample = tuple[str, dict[str, str], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(text: str) -> list[Sample]:
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def matching(found: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in found if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]


def positive(found: list[Sample], name: str, **labels: str) -> bool:
    return any(v > 0 for *_, v in matching(found, name, **labels))


def until(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.2)  # between two polls of the service, not a wait for an outcome


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.last: list[Sample] = []

    def scrape(self) -> list[Sample]:
        status, body = get(f"{self.url}/metrics")
        assert status == 200
        self.last = samples(body)
        return self.last

    def wait_for(self, what: str, *checks: tuple[str, dict[str, str]], timeout: float = 60) -> None:
        """Until every (name, labels) has a sample above zero."""

        def ok() -> bool:
            found = self.scrape()
            return all(positive(found, name, **labels) for name, labels in checks)

        try:
            until(ok, what, timeout)
        except AssertionError:
            missing = [c for c in checks if not positive(self.last, c[0], **c[1])]
            raise AssertionError(f"{what}: no positive sample of {missing}") from None

    def probes_answer(self, service_name: str, group: str) -> None:
        until(lambda: get(f"{self.url}/readyz")[0] == 200, "/readyz 200")
        assert get(f"{self.url}/healthz")[0] == 200
        found = self.scrape()
        assert positive(found, "homeward_up", service=service_name)
        assert positive(found, "homeward_ready", service=service_name)
        assert positive(found, "homeward_build_info", service=service_name)
        # The lag reporter's first round runs at start: every partition of the group's topics.
        assert matching(found, "homeward_consumer_lag", service=service_name, group=group)


def start_service(
    bus: Bus, tmp_path: Path, module: str, ready: str, **env: str
) -> tuple[ServiceProcess, Scraper]:
    port = free_port()
    name = module.removeprefix("homeward_").upper()
    settings = {f"HOMEWARD_{name}_METRICS_PORT": str(port), **env}
    svc = service(
        ["-m", module], bus.env(principal_of(module), **settings), tmp_path / f"{module}.log"
    ).start(ready)
    return svc, Scraper(port)


def publish(bus: Bus, topic_id: str, *events: Event, key: str | None = None) -> list[str]:
    codec = Codec()
    p = producer(bus.settings)
    try:
        out = []
        for e in events:
            rec, meta = codec.encode(e, key=key or e.case_id, source="/test/metrics")
            send_all(p, [(bus.topic(topic_id), rec)])
            out.append(meta.id)
        return out
    finally:
        p.close()


def local(name: str, **labels: str) -> float:
    """The sum of this process's samples of `name` that carry `labels`."""
    found = [(s.name, s.labels, s.value) for f in REGISTRY.collect() for s in f.samples]
    return sum(v for *_, v in matching(found, name, **labels))


@pytest.fixture
def stopping() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for svc in started:
        assert svc.running, f"{svc.name} died during the test"
        svc.stop()


# -- fan-out, with an agency subscriber acknowledging ----------------------------


def test_fanout_metrics_after_an_alert_is_delivered_and_acknowledged(
    bus: Bus, tmp_path: Path, stopping: list[ServiceProcess]
) -> None:
    from tests.integration.test_fanout import make_alert

    police = agency_at(1, 5)  # 5 km from where the child was last seen: the first ring
    office = agency_at(2, 8, type_=AgencyType.COORDINATION_OFFICE)
    directory = tmp_path / "agencies.csv"
    dump_directory([police, office], directory)
    svc, fanout = start_service(
        bus,
        tmp_path,
        "homeward_fanout",
        "FANOUT_READY",
        HOMEWARD_FANOUT_DIRECTORY=str(directory),
        HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS="0.5",
    )
    stopping.append(svc)
    fanout.probes_answer("fanout", f"{bus.prefix}homeward-fanout")
    alerts = bus.topic("alert_events")
    inbox = bus.topology.inbox(AgencyType.POLICE).name
    consumed = local("homeward_events_consumed_total", service="agency", topic=inbox)
    case = f"CASE-MX-{uuid.uuid4().hex[:6]}"
    publish(bus, "alert_events", make_alert(case, 0.5))
    with Subscriber(
        police.id, police.type, bus.settings_for(police.type), topology=bus.topology
    ) as sub:
        got: list[Any] = []
        until(lambda: bool(got.extend(sub.poll(0.5)) or got), "the police delivery")
        sub.acknowledge(got[0])
        sub.commit()
    assert local("homeward_events_consumed_total", service="agency", topic=inbox) > consumed
    assert (
        local(
            "homeward_sdk_sent_total",
            sdk="agency",
            topic=bus.topic("alert_acks"),
            type=AgencyAcknowledgement.avro_name,
        )
        > 0
    )
    fanout.wait_for(
        "the fan-out's series",
        (
            "homeward_events_consumed_total",
            {"service": "fanout", "topic": alerts, "type": "homeward.alerts.AlertIssued"},
        ),
        (
            "homeward_events_consumed_total",
            {"service": "fanout", "type": AgencyAcknowledgement.avro_name},
        ),
        ("homeward_events_produced_total", {"service": "fanout", "topic": inbox}),
        ("homeward_handling_seconds_count", {"service": "fanout"}),
        ("homeward_deliveries_total", {"agency_type": "police", "kind": "alert"}),
        ("homeward_fanout_latency_seconds_count", {"kind": "alert"}),
        ("homeward_ack_seconds_count", {"agency_type": "police"}),
    )
    assert not any(case in str(labels) for _, labels, _ in fanout.last)


# -- referral router ---------------------------------------------------------------


def test_referral_metrics_after_a_rescue_and_an_answer(
    bus: Bus, tmp_path: Path, stopping: list[ServiceProcess]
) -> None:
    directory = tmp_path / "agencies.csv"
    dump_directory(list(REFERRAL_AGENCIES), directory)
    svc, router = start_service(
        bus,
        tmp_path,
        "homeward_referrals",
        "REFERRALS_READY",
        HOMEWARD_REFERRALS_DIRECTORY=str(directory),
        HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
    )
    stopping.append(svc)
    router.probes_answer("referrals", f"{bus.prefix}homeward-referrals")
    reader = TopicReader(bus.settings, [bus.topology.inbox(t).name for t in AgencyType])
    try:
        case = f"CASE-MR-{uuid.uuid4().hex[:6]}"
        publish(bus, "rescues", rescue(case))

        def requests() -> list[ReferralRequested]:
            return [
                d.event
                for _, d in reader.decoded
                if isinstance(d.event, ReferralRequested) and d.event.case_id == case
            ]

        def non_police() -> list[ReferralRequested]:
            return [r for r in requests() if r.agency_type != AgencyType.POLICE.value]

        # The rescue's requests come one by one: wait for the one answered below.
        reader.until(lambda _: bool(non_police()), 60, "a non-police referral request")
        q = non_police()[0]
    finally:
        reader.close()
    answered = answer(q.referral_id, q.agency_id, "accepted", case_id=case)
    publish(bus, answer_topic_id(q.agency_type), answered)
    router.wait_for(
        "the router's series",
        ("homeward_events_consumed_total", {"service": "referrals", "topic": bus.topic("rescues")}),
        ("homeward_events_produced_total", {"service": "referrals"}),
        ("homeward_handling_seconds_count", {"service": "referrals"}),
        ("homeward_referrals_total", {"agency_type": q.agency_type, "status": "accepted"}),
        ("homeward_referrals_open", {"agency_type": q.agency_type, "status": "accepted"}),
        ("homeward_referral_answer_seconds_count", {"agency_type": q.agency_type}),
    )
    assert not any(case in str(labels) for _, labels, _ in router.last)


# -- anomaly detector, fed by the hospital SDK --------------------------------------


def test_detector_metrics_after_a_failed_identity_check(
    bus: Bus, tmp_path: Path, stopping: list[ServiceProcess]
) -> None:
    svc, detector = start_service(
        bus,
        tmp_path,
        "homeward_detector",
        "DETECTOR_READY",
        HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS="0.5",
    )
    stopping.append(svc)
    detector.probes_answer("detector", f"{bus.prefix}homeward-detector")
    records = bus.topic("health_records")
    who = mother(uuid.uuid4().hex[:8])
    failed = IdentityCheck(document_match=False)
    with HealthRecorder(bus.settings_for("health"), topology=bus.topology) as recorder:
        recorder.record(admission(who, f"ADM-{uuid.uuid4().hex[:6]}", utcnow(), check=failed))
    kind = "homeward.health.AdmissionRegistered"
    assert local("homeward_sdk_sent_total", sdk="health", topic=records, type=kind) > 0
    detector.wait_for(
        "the detector's series",
        ("homeward_events_consumed_total", {"service": "detector", "topic": records, "type": kind}),
        (
            "homeward_events_produced_total",
            {"service": "detector", "topic": bus.topic("anomalies")},
        ),
        ("homeward_handling_seconds_count", {"service": "detector"}),
        ("homeward_anomalies_total", {"rule": "identity_check_failed"}),
    )


# -- intake (its own HTTP port) ------------------------------------------------------


def test_intake_serves_metrics_on_its_http_port(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    ip = start_intake()
    case = f"POL-0001-MI-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=ip.url, timeout=15, headers=ip.auth()) as http:
        assert http.get("/readyz").status_code == 200
        assert http.get("/healthz").status_code == 200
        assert http.post("/v1/alerts", json=intake_samples.alert(case_id=case)).status_code == 202
        sighting = http.post(f"/v1/alerts/{case}/sightings", json={})
        assert sighting.status_code == 422
        found = samples(http.get("/metrics").text)
    alerts = bus.topic("alert_events")
    assert positive(found, "homeward_ready", service="intake")
    assert positive(found, "homeward_up", service="intake")
    assert positive(found, "homeward_build_info", service="intake")
    assert positive(
        found,
        "homeward_events_produced_total",
        service="intake",
        topic=alerts,
        type="homeward.alerts.AlertIssued",
    )
    assert positive(
        found, "homeward_http_requests_total", route="/v1/alerts", method="POST", status="202"
    )
    assert positive(
        found,
        "homeward_http_requests_total",
        route="/v1/alerts/{case_id}/sightings",
        method="POST",
        status="422",
    )
    assert positive(found, "homeward_http_request_seconds_count", route="/v1/alerts")
    assert not any(case in str(labels) for _, labels, _ in found)


def test_a_taken_metrics_port_is_refused_plainly(bus: Bus, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = bus.env("detector", HOMEWARD_DETECTOR_METRICS_PORT=str(port))
        svc = service(["-m", "homeward_detector"], env, tmp_path / "detector.log")
        svc.start("error: HOMEWARD_DETECTOR_METRICS_PORT", timeout=60)
        assert svc.proc is not None and svc.proc.wait(30) == 2


def test_lag_is_reported_for_records_a_worker_has_not_read(
    bus: Bus, tmp_path: Path, stopping: list[ServiceProcess]
) -> None:
    """With a record on the broker before the worker starts, the group's lag is
    reported from the first round, and falls to zero only once the worker's
    committed offset is read back: the committed-offset path against the real
    broker (a group never read back would stay behind by everything)."""
    who = mother(uuid.uuid4().hex[:8])
    with HealthRecorder(bus.settings_for("health"), topology=bus.topology) as recorder:
        recorder.record(
            admission(who, f"ADM-{uuid.uuid4().hex[:6]}", utcnow() - timedelta(hours=1))
        )
    svc, detector = start_service(
        bus,
        tmp_path,
        "homeward_detector",
        "DETECTOR_READY",
        HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS="0.5",
    )
    stopping.append(svc)
    group = f"{bus.prefix}homeward-detector"
    records = bus.topic("health_records")

    def caught_up() -> bool:
        lag = matching(detector.scrape(), "homeward_consumer_lag", group=group, topic=records)
        return bool(lag) and all(v == 0 for *_, v in lag)

    until(caught_up, "the detector's lag on health records back to 0", 90)
