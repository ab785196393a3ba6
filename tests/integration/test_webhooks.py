"""The agency gateway's signed webhooks on the real broker.

The dispatcher runs as its own process (`python -m homeward_gateway.webhooks
run`, principal `gateway`); each agency's endpoint is its own process too
(tests/integration/webhook_receiver.py), verifying every request with the
`standardwebhooks` package and recording what it took. Deliveries are put in
the inboxes as the fan-out writes them (or by the real fan-out). Every wait is
a poll against a deadline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import TopicPartition

from homeward import kafka
from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.events import AgencyAcknowledgement, AlertDelivery, DeliveryEscalated
from homeward.events.webhooks import WebhookReceipt
from homeward.webhook_signing import Secret
from homeward_demo.processes import ServiceProcess
from tests.fixtures.bus import Bus
from tests.integration.agency_broker_io import codec, committed, produce, read_topic
from tests.integration.support import TopicReader, service
from tests.unit.agency import samples as s

pytestmark = pytest.mark.integration
RECEIVER = Path(__file__).with_name("webhook_receiver.py")
WAIT = 60.0
# Fast tries for tests; the defaults are seconds to a minute.
FAST = {
    "HOMEWARD_GATEWAY_WEBHOOKS_BACKOFF_BASE_SECONDS": "0.05",
    "HOMEWARD_GATEWAY_WEBHOOKS_BACKOFF_CAP_SECONDS": "0.3",
    "HOMEWARD_GATEWAY_WEBHOOKS_COMMIT_INTERVAL_SECONDS": "0.2",
    "HOMEWARD_GATEWAY_WEBHOOKS_POLL_TIMEOUT_SECONDS": "0.2",
    "HOMEWARD_GATEWAY_WEBHOOKS_TIMEOUT_SECONDS": "5",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """One agency's endpoint process, restartable on the same port."""

    def __init__(self, tmp_path: Path, name: str, secret: Secret, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/homeward"
        self.out = tmp_path / f"{name}.jsonl"
        self.out.touch()
        self.args = [
            str(RECEIVER),
            "--port",
            str(self.port),
            "--secret",
            secret.serialize(),
            "--out",
            str(self.out),
        ]
        self.proc = ServiceProcess(
            name=f"receiver-{name}",
            args=self.args,
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(RECEIVER.parents[2]),
            },
            log_path=tmp_path / f"receiver-{name}.log",
        )

    def start(self, kill_after: int = 0) -> Receiver:
        """Start it; with `kill_after`, it SIGKILLs itself after taking that
        many deliveries, before answering the last one."""
        self.proc.args = [*self.args, "--kill-after", str(kill_after)]
        self.proc.start("RECEIVER_READY", timeout=30)
        return self

    def lines(self) -> list[dict[str, Any]]:
        text = self.out.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def taken(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "id" in line]

    def ids(self) -> list[str]:
        return [line["id"] for line in self.taken()]


def wait_until(cond: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)  # polling a file another process writes; not a race fix


def registry(tmp_path: Path, endpoints: dict[str, tuple[str, list[str]]]) -> Path:
    """agency -> (url, secret env var names); written as a site would, by reference."""
    doc = {
        "endpoints": {
            agency: {"url": url, "secrets": [f"env:{name}" for name in names]}
            for agency, (url, names) in endpoints.items()
        }
    }
    path = tmp_path / "webhooks.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def dispatcher(bus: Bus, tmp_path: Path, registry_file: Path, **env: str) -> ServiceProcess:
    settings = {
        "HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE": str(registry_file),
        **FAST,
        **env,
    }
    return service(
        ["-m", "homeward_gateway.webhooks", "run"],
        bus.env("gateway", **settings),
        tmp_path / "webhooks.log",
    )


def deliveries(agency: str, agency_type: str, ids: list[str]) -> list[Any]:
    return [s.encode(codec, s.delivery(agency, i, agency_type=agency_type), agency) for i in ids]


def receipts(bus: Bus, until: Callable[[list[WebhookReceipt]], bool]) -> list[WebhookReceipt]:
    def decoded(records: list[Any]) -> list[WebhookReceipt]:
        return [codec.decode(r.value, r.headers).event for r in records]

    records = read_topic(bus, bus.topic("webhook_receipts"), lambda rs: until(decoded(rs)))
    return decoded(records)


def secrets_env(**secrets: Secret) -> dict[str, str]:
    return {name: secret.serialize() for name, secret in secrets.items()}


# -- a receiver killed mid-run, then the dispatcher ----------------------------------
def test_receiver_and_dispatcher_killed_mid_run_lose_nothing_and_repeat_exactly(
    bus: Bus, tmp_path: Path
) -> None:
    a = "EDU-TEST-A"
    # B shares A's inbox partition: a dead endpoint must not hold up its neighbour.
    b = next(
        f"EDU-TEST-B{i}"
        for i in range(1000)
        if kafka.partition_for(f"EDU-TEST-B{i}".encode(), bus.partitions)
        == kafka.partition_for(a.encode(), bus.partitions)
    )
    current, old, other = Secret.generate(), Secret.generate(), Secret.generate()
    # A's registry entry signs with two secrets (a rotation under way); its
    # endpoint still verifies with the old one only.
    recv_a = Receiver(tmp_path, "a", old).start(kill_after=5)
    recv_b = Receiver(tmp_path, "b", other).start()
    reg = registry(
        tmp_path,
        {a: (recv_a.url, ["WH_A_CURRENT", "WH_A_OLD"]), b: (recv_b.url, ["WH_B"])},
    )
    env = secrets_env(WH_A_CURRENT=current, WH_A_OLD=old, WH_B=other)
    env["HOMEWARD_GATEWAY_WEBHOOKS_MAX_ATTEMPTS"] = "200"  # nothing dead-letters here
    edu = bus.topology.inbox("education").name
    batches = [[f"A-{n}-{i}" for i in range(10)] for n in range(3)]
    svc = dispatcher(bus, tmp_path, reg, **env).start("WEBHOOKS_READY")
    try:
        # 1. A's endpoint dies (SIGKILL) mid-run: after taking the 5th delivery
        # of batch 1, before answering it. An unregistered agency's deliveries
        # on the same inbox are not sent anywhere.
        produce(bus, edu, deliveries(a, "education", batches[0]))
        produce(bus, edu, deliveries("EDU-TEST-NOHOOK", "education", ["N-1", "N-2"]))
        wait_until(
            lambda: recv_a.proc.proc is not None and recv_a.proc.proc.poll() == -9, "A's death"
        )
        assert recv_a.ids() == batches[0][:5]

        # 2. While A is down, B (on A's very partition) goes on receiving.
        produce(bus, edu, deliveries(a, "education", batches[1]))
        produce(bus, edu, deliveries(b, "education", ["B-1", "B-2", "B-3"]))
        failed = receipts(
            bus, lambda rs: any(r.outcome == "failed" and r.agency_id == a for r in rs)
        )
        wait_until(lambda: set(recv_b.ids()) >= {"B-1", "B-2", "B-3"}, "B while A is down")

        # 3. The dispatcher dies too (SIGKILL: no commit on the way out), with
        # batch 2 unsettled; both come back, and batch 3 follows.
        svc.kill()
        recv_a.start()
        svc.start("WEBHOOKS_READY")
        produce(bus, edu, deliveries(a, "education", batches[2]))
        expected = [i for batch in batches for i in batch]
        wait_until(lambda: set(recv_a.ids()) >= set(expected), "every delivery at A")
        done = receipts(
            bus,
            lambda rs: {r.delivery_id for r in rs if r.outcome == "delivered"} >= set(expected),
        )
    finally:
        svc.stop()
        recv_a.proc.stop()
        recv_b.proc.stop()

    lines = recv_a.lines()
    assert not [line for line in lines if "invalid" in line]  # every request verified
    taken = recv_a.taken()
    assert set(recv_a.ids()) == set(expected)  # none lost, none from elsewhere
    bodies: dict[str, set[str]] = defaultdict(set)
    for line in taken:
        bodies[line["id"]].add(line["body"])
    assert all(len(b) == 1 for b in bodies.values()), "a duplicate differs from its first copy"
    # The one A took as it died came again, the same (and maybe more, re-read
    # after the dispatcher's SIGKILL).
    assert recv_a.ids().count(batches[0][4]) >= 2
    for webhook_id, (body,) in bodies.items():
        doc = json.loads(body)
        assert doc["delivery_id"] == webhook_id and doc["data"]["agency_id"] == a
    # One agency's deliveries arrive in inbox order (first copies).
    first_seen = list(dict.fromkeys(recv_a.ids()))
    assert first_seen == expected
    # Receipts: the failures while A was down name no status (no answer came),
    # and every delivery ends delivered; all written as the gateway.
    down = [r for r in failed if r.outcome == "failed" and r.agency_id == a]
    assert down and all(r.last_status is None and r.reason for r in down)
    delivered = {r.delivery_id: r for r in done if r.outcome == "delivered"}
    assert set(expected) <= set(delivered)
    assert {r.kind for r in delivered.values()} == {"alert"}
    assert all(r.actor is not None and r.actor.principal == "homeward-gateway" for r in done)
    assert all(r.agency_id in (a, b) for r in done)  # the unregistered agency got none


# -- dead letters and their replay ---------------------------------------------------
def test_a_dead_endpoint_ends_in_the_dead_letter_topic_and_one_command_replays_it(
    bus: Bus, tmp_path: Path
) -> None:
    a, c = "CUL-TEST-A", "CUL-TEST-C"
    secret = Secret.generate()
    port = free_port()  # nothing listens here yet
    reg = registry(
        tmp_path,
        {
            a: (f"http://127.0.0.1:{port}/homeward", ["WH_SECRET"]),
            c: (f"http://127.0.0.1:{free_port()}/homeward", ["WH_SECRET"]),
        },
    )
    env = {
        **secrets_env(WH_SECRET=secret),
        "HOMEWARD_GATEWAY_WEBHOOKS_MAX_ATTEMPTS": "3",
    }
    inbox = bus.topology.inbox("culture_tourism").name
    ids = ["DL-1", "DL-2", "DL-3"]
    svc = dispatcher(bus, tmp_path, reg, **env).start("WEBHOOKS_READY")
    dlq = bus.topic("webhook_dead_letters")
    try:
        produce(bus, inbox, deliveries(a, "culture_tourism", ids))
        produce(bus, inbox, deliveries(c, "culture_tourism", ["DL-C"]))
        letters = read_topic(bus, dlq, lambda rs: len(rs) >= 4)
        # Settled by dead-lettering: the group's offset moves past them.
        tp = TopicPartition(inbox, kafka.partition_for(a.encode(), bus.partitions))
        end = kafka.consumer(bus.settings, group_id=None)
        try:
            end_offset = end.end_offsets([tp])[tp]
        finally:
            end.close()
        group = bus.prefix + "homeward-gateway-webhooks"
        assert committed(bus, group, tp, end_offset) == end_offset
        dead = receipts(bus, lambda rs: sum(r.outcome == "dead_lettered" for r in rs) >= 4)
    finally:
        svc.stop()

    by_id = {dict(r.headers)["dlq_webhook_id"].decode(): dict(r.headers) for r in letters}
    assert set(by_id) == {*ids, "DL-C"}
    for headers in by_id.values():
        assert headers["dlq_reason"] == b"ConnectError"  # nothing listened
        assert headers["dlq_attempts"] == b"3" and headers["dlq_last_status"] == b""
        assert headers["dlq_topic"] == inbox.encode()
        assert headers["dlq_service"] == b"gateway-webhooks"
    # The original record, bytes untouched: it still decodes as the delivery.
    for record in letters:
        event = codec.decode(record.value, record.headers).event
        assert isinstance(event, AlertDelivery) and event.delivery_id in by_id
    assert {r.delivery_id for r in dead if r.outcome == "dead_lettered"} == {*ids, "DL-C"}
    assert all(r.attempts == 3 for r in dead if r.outcome == "dead_lettered")

    # The endpoint is back: one command sends A's dead letters (C's endpoint is still down).
    recv = Receiver(tmp_path, "a", secret, port=port).start()

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homeward_gateway.webhooks", "replay", *args],
            env=bus.env("gateway", HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE=str(reg), **FAST, **env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    try:
        first = replay("--agency", a)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "replayed: 3 delivered, 0 failed, 0 skipped" in first.stdout
        assert sorted(recv.ids()) == ids
        # Replaying again is harmless: the same ids and bodies, which the receiver drops.
        again = replay("--agency", a)
        assert again.returncode == 0, again.stdout + again.stderr
        later = replay("--agency", a, "--since", "2999-01-01T00:00:00+00:00")
        assert "replayed: 0 delivered" in later.stdout
        replayed = receipts(
            bus, lambda rs: sum(r.replayed and r.outcome == "delivered" for r in rs) >= 6
        )
    finally:
        recv.proc.stop()
    bodies: dict[str, set[str]] = defaultdict(set)
    for line in recv.taken():
        bodies[line["id"]].add(line["body"])
    assert sorted(recv.ids()) == sorted(ids * 2)
    assert all(len(b) == 1 for b in bodies.values())
    assert not [line for line in recv.lines() if "invalid" in line]
    assert {r.delivery_id for r in replayed if r.replayed} == set(ids)


# -- the fan-out's resend and escalation do not depend on how an agency receives --------
def test_an_alert_received_only_by_webhook_and_not_acknowledged_is_resent_and_escalated(
    bus: Bus, tmp_path: Path
) -> None:
    from tests.integration.test_fanout import fanout, make_alert, publish
    from tests.unit.fanout.geo import agency_at

    agencies = [
        agency_at(1, 10, type_=AgencyType.POLICE),  # acknowledges, with the SDK's record
        agency_at(2, 20, type_=AgencyType.TRANSPORT),  # webhook only, never acknowledges
        agency_at(3, 30, type_=AgencyType.COORDINATION_OFFICE),  # webhook only
    ]
    silent, office = "TST-00002", "TST-00003"
    secret = Secret.generate()
    recv_t = Receiver(tmp_path, "transport", secret).start()
    recv_o = Receiver(tmp_path, "office", secret).start()
    reg = registry(tmp_path, {silent: (recv_t.url, ["WH"]), office: (recv_o.url, ["WH"])})
    hooks = dispatcher(bus, tmp_path, reg, **secrets_env(WH=secret)).start("WEBHOOKS_READY")
    fan = fanout(
        bus,
        tmp_path,
        agencies,
        HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="4",
        HOMEWARD_FANOUT_MAX_RESENDS="1",
    ).start("FANOUT_READY")
    reader = TopicReader(bus.settings, [bus.topology.inbox(t).name for t in AgencyType])
    producer = kafka.producer(bus.settings)
    try:
        (alert_id,) = publish(bus, make_alert("CASE-WH-1", 0.2))

        def police_delivery(r: TopicReader) -> list[AlertDelivery]:
            return [
                d.event
                for _, d in r.decoded
                if isinstance(d.event, AlertDelivery) and d.event.agency_id == "TST-00001"
            ]

        reader.until(police_delivery, 60, "police's delivery")
        (d,) = police_delivery(reader)
        ack = AgencyAcknowledgement(
            case_id=d.case_id,
            delivery_id=d.delivery_id,
            agency_id=d.agency_id,
            actor=agency_actor(d.agency_id, d.agency_type),
        )
        rec, _ = codec.encode(ack, key=d.case_id, source=f"/agency/{d.agency_id}")
        kafka.send_all(producer, [(bus.topic("alert_acks"), rec)])

        # The transport agency's endpoint took the delivery (a 2xx) and its
        # resend; the office's endpoint takes the escalation. (The office does
        # not acknowledge its own copy of the alert either: it is escalated too.)
        def escalation_at_office() -> list[dict[str, Any]]:
            bodies = [json.loads(line["body"]) for line in recv_o.taken()]
            return [
                b for b in bodies if b["kind"] == "escalation" and b["data"]["agency_id"] == silent
            ]

        (esc,) = wait_until(escalation_at_office, "the escalation at the office's endpoint")
        at_silent = [json.loads(line["body"]) for line in recv_t.taken()]
        acks = read_topic(bus, bus.topic("alert_acks"))
    finally:
        producer.close()
        reader.close()
        fan.stop()
        hooks.stop()
        recv_t.proc.stop()
        recv_o.proc.stop()

    alerts = [b for b in at_silent if b["kind"] == "alert"]
    assert sorted(b["data"]["attempt"] for b in alerts) == [1, 2]  # sent, then resent
    assert len({b["delivery_id"] for b in alerts}) == 1  # one delivery, one webhook-id
    assert {line["id"] for line in recv_t.taken()} == {alerts[0]["delivery_id"]}
    assert esc["data"]["agency_id"] == silent and esc["data"]["attempts"] == 2
    assert esc["data"]["delivery_id"] == alerts[0]["delivery_id"]
    assert alerts[0]["data"]["source_event_id"] == alert_id
    # The endpoint's 2xx acknowledged nothing: the only ack is police's own.
    acked = [codec.decode(r.value, r.headers).event for r in acks]
    assert [a.agency_id for a in acked] == ["TST-00001"]
    assert not any(isinstance(a, DeliveryEscalated) for a in acked)


# -- inside the gateway process -------------------------------------------------------
def test_the_gateway_process_sends_webhooks_and_the_agency_acknowledges_over_http(
    bus: Bus, tmp_path: Path, start_gateway: Callable[..., Any]
) -> None:
    agency, system = "CIV-0001", "agency-system-civ-0001"  # the realm's demo agency system
    secret = Secret.generate()
    recv = Receiver(tmp_path, "civ", secret).start()
    reg = registry(tmp_path, {agency: (recv.url, ["WH"])})
    gw = start_gateway(
        HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE=str(reg), **FAST, **secrets_env(WH=secret)
    )
    try:
        inbox = bus.topology.inbox("civil_affairs").name
        produce(bus, inbox, deliveries(agency, "civil_affairs", ["GW-1", "GW-2"]))
        wait_until(lambda: set(recv.ids()) >= {"GW-1", "GW-2"}, "the gateway's webhooks")
        assert read_topic(bus, bus.topic("alert_acks")) == []  # a 2xx acknowledges nothing
        answer = gw.post("/v1/inbox/GW-1/ack", gw.auth(system))
        assert answer.status_code == 200, answer.text
        (ack,) = [
            codec.decode(r.value, r.headers).event
            for r in read_topic(bus, bus.topic("alert_acks"), lambda rs: len(rs) >= 1)
        ]
    finally:
        gw.stop()
        recv.proc.stop()
    assert isinstance(ack, AgencyAcknowledgement)
    assert (ack.delivery_id, ack.agency_id) == ("GW-1", agency)
    assert ack.actor is not None and ack.actor.agency_id == agency
    assert not [line for line in recv.lines() if "invalid" in line]
