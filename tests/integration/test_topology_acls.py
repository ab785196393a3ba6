"""The declared grants, enforced: on the secured broker (SCRAM, the standard authorizer, deny
by default) every declared principal tries every topic of its bus, reading and writing, and
every declared consumer group. What topology/ grants succeeds; everything else is refused
with a Kafka authorization error. 100% as declared."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.acls import plan
from homeward.topology.principals import KafkaPrincipal, load_principals
from homeward.topology.users import password_env_name
from tests.fixtures.bus import Bus

pytestmark = pytest.mark.integration

MARK = b"acl-probe"


def _expected_topics(bus: Bus, p: KafkaPrincipal) -> tuple[set[str], set[str]]:
    """(readable, writable) topic names as the declarations say, straight from the files."""
    roles = set(p.roles)
    topics = bus.topology.all()
    readable = {t.name for t in topics if roles & set(t.readers)}
    writable = {t.name for t in topics if roles & set(t.writers)}
    if p.police_prefix:
        readable |= {t.name for t in topics if t.name.startswith(bus.prefix + "police.")}
    if p.faust_app:
        own = f"{bus.prefix}{p.faust_app}-"
        readable |= {t.name for t in topics if t.name.startswith(own)}
        writable |= {t.name for t in topics if t.name.startswith(own)}
    return readable, writable


def _writes(bus: Bus, principal: str, names: list[str]) -> dict[str, bool]:
    producer = KafkaProducer(
        acks=1, retries=0, max_block_ms=15000, **bus.settings_for(principal).kafka_python()
    )
    futures = {}
    result: dict[str, bool] = {}
    try:
        for name in names:
            try:
                futures[name] = producer.send(name, key=MARK, value=MARK, partition=0)
            except TopicAuthorizationFailedError:
                result[name] = False
        for name, future in futures.items():
            try:
                future.get(timeout=30)
                result[name] = True
            except TopicAuthorizationFailedError:
                result[name] = False
    finally:
        producer.close(timeout=5)
    return result


def _reads(bus: Bus, principal: str, names: list[str]) -> dict[str, bool]:
    return _reads_as(bus.settings_for(principal), names)


def _reads_as(settings: KafkaSettings, names: list[str]) -> dict[str, bool]:
    """Fetch offset 0 of partition 0 of every topic (each holds one record): read or refused."""
    principal = settings.sasl_username
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **settings.kafka_python())
    result: dict[str, bool] = {}
    try:
        pending = {TopicPartition(n, 0) for n in names}
        consumer.assign(sorted(pending))
        for tp in pending:
            consumer.seek(tp, 0)  # no ListOffsets: the probe is a Fetch, which needs READ
        deadline = time.monotonic() + 60
        while pending:
            assert time.monotonic() < deadline, f"{principal}: no answer for {sorted(pending)}"
            refused: set[str] = set()
            try:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    if tp in pending and records:
                        result[tp.topic] = True
                        pending.discard(tp)
            except TopicAuthorizationFailedError as exc:  # Fetch refused (READ)
                refused = {t for arg in exc.args for t in (arg if isinstance(arg, set) else ())}
                assert refused, f"{principal}: an authorization error naming no topic: {exc!r}"
            # Metadata refused (not even DESCRIBE): kafka-python records the broker's
            # TOPIC_AUTHORIZATION_FAILED there instead of raising it from poll().
            refused |= set(consumer._client.cluster.unauthorized_topics) & {
                tp.topic for tp in pending
            }
            if refused:
                for topic in refused:
                    result[topic] = False
                pending = {tp for tp in pending if tp.topic not in refused}
                consumer.assign(sorted(pending))
                for tp in pending:
                    consumer.seek(tp, 0)
    finally:
        consumer.close()
    return result


def _groups(bus: Bus, principal: str, groups: list[str]) -> dict[str, bool]:
    admin = KafkaAdminClient(**bus.settings_for(principal).kafka_python())
    result: dict[str, bool] = {}
    try:
        for group in groups:
            deadline = time.monotonic() + 30
            while group not in result:
                try:
                    admin.list_group_offsets(group)  # FindCoordinator + OffsetFetch
                    result[group] = True
                except GroupAuthorizationFailedError:
                    result[group] = False
                except KafkaError as exc:
                    # A fresh broker creates __consumer_offsets on the first group lookup.
                    if not exc.retriable or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
    finally:
        admin.close()
    return result


@pytest.fixture
def secured_bus(bus: Bus) -> Iterator[Bus]:
    if not bus.secured:
        pytest.skip("an external broker without admin credentials: no ACLs to check")
    yield bus


def test_every_principal_gets_exactly_what_topology_declares(secured_bus: Bus) -> None:
    bus = secured_bus
    principals = load_principals()
    names = sorted(t.name for t in bus.topology.all())
    # One record at offset 0 of every topic, so a read probe knows it was served.
    seed = KafkaProducer(acks=1, **bus.settings.kafka_python())
    for name in names:
        seed.send(name, key=MARK, value=MARK, partition=0)
    seed.flush(30)
    seed.close()
    group_names = sorted(
        {f"{bus.prefix}{g}probe" for p in principals for g in p.group_prefixes()}
        | {f"{bus.prefix}undeclared-group"}
    )
    counts = {"allowed": 0, "refused": 0}
    wrong: list[str] = []
    started = time.monotonic()

    def probe(p: KafkaPrincipal) -> tuple[dict[str, bool], dict[str, bool], dict[str, bool]]:
        # One consumer, one producer and one admin client per principal, all its probes
        # batched in each; principals side by side (each waits mostly on the broker).
        return (
            _reads(bus, p.name, names),
            _writes(bus, p.name, names),
            _groups(bus, p.name, group_names),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(probe, principals))
    for p, (got_reads, got_writes, got_groups) in zip(principals, answers, strict=True):
        readable, writable = _expected_topics(bus, p)
        for name in names:
            for what, got, want in (
                ("read", got_reads.get(name), name in readable),
                ("write", got_writes.get(name), name in writable),
            ):
                counts["allowed" if want else "refused"] += 1
                if got is not want:
                    wrong.append(f"{p.user} {what} {name}: got {got}, declared {want}")
        for group in group_names:
            want = any(group.startswith(bus.prefix + g) for g in p.group_prefixes())
            counts["allowed" if want else "refused"] += 1
            if got_groups.get(group) is not want:
                wrong.append(
                    f"{p.user} group {group}: got {got_groups.get(group)}, declared {want}"
                )
    total = counts["allowed"] + counts["refused"]
    print(
        f"\nACL matrix: {len(principals)} principals x {len(names)} topics x read/write + "
        f"{len(group_names)} groups = {total} checks, {counts['allowed']} allowed, "
        f"{counts['refused']} refused, {len(wrong)} wrong, {time.monotonic() - started:.1f}s"
    )
    assert not wrong, "\n".join(wrong[:40])
    assert counts["allowed"] > 0 and counts["refused"] > counts["allowed"]


def test_plan_has_one_prefixed_police_grant_and_no_transactional_grant(secured_bus: Bus) -> None:
    grants = plan(secured_bus.topology)
    prefixed_police = [g for g in grants if g.pattern == "PREFIXED" and g.name.endswith("police.")]
    assert [g.principal for g in prefixed_police] == ["User:police"]
    assert {g.resource for g in grants} == {"TOPIC", "GROUP"}  # no cluster, no transactional id


def test_an_unknown_user_cannot_even_connect(secured_bus: Bus) -> None:
    settings = secured_bus.settings_for("intake").model_copy(
        update={"sasl_username": "not-a-declared-principal"}
    )
    with pytest.raises(KafkaError):
        consumer = KafkaConsumer(request_timeout_ms=5000, **settings.kafka_python())
        try:
            consumer.topics()
        finally:
            consumer.close()


def test_the_command_creates_users_and_grants_without_the_jars(
    secured_bus: Bus, tmp_path: Path
) -> None:
    """`python -m homeward.topology apply-all` against a running cluster, as the admin: a
    principals file of one (a unique name, so the session's principals keep their
    passwords), its password from the environment, never printed."""
    bus = secured_bus
    name = f"probe-{uuid.uuid4().hex[:8]}"
    principals = tmp_path / "principals.yaml"
    principals.write_text(
        "principals:\n"
        f"  {name}:\n"
        "    kind: institutional\n"
        "    roles: [media]\n"
        "    groups: [homeward-agency-]\n"
    )
    password = secrets.token_urlsafe(16)
    prefix = f"c{uuid.uuid4().hex[:10]}."
    env = {
        **os.environ,
        **bus.access.admin_env(),
        "HOMEWARD_TOPIC_PREFIX": prefix,
        "HOMEWARD_PRINCIPALS_FILE": str(principals),
        password_env_name(name): password,
    }
    run = subprocess.run(
        [sys.executable, "-m", "homeward.topology", "apply-all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "1 SCRAM users created or updated" in run.stdout
    assert password not in run.stdout + run.stderr
    # The new user reads its inbox and nothing else under that prefix.
    topology = Topology.load(prefix=prefix)
    inbox = topology.inbox("media").name
    seed = KafkaProducer(acks=1, **bus.settings.kafka_python())
    seed.send(inbox, key=MARK, value=MARK, partition=0).get(30)
    seed.send(topology.get("alert_events").name, key=MARK, value=MARK, partition=0).get(30)
    seed.close()
    settings = bus.settings.model_copy(
        update={"sasl_username": name, "sasl_password": SecretStr(password)}
    )
    got = _reads_as(settings, [inbox, topology.get("alert_events").name])
    assert got == {inbox: True, topology.get("alert_events").name: False}
