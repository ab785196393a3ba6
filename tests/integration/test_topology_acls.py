"""The declared grants applied to a broker that runs Kafka's authorizer."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
    ResourceType,
)

from homeward.broker import KafkaCluster
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.acls import apply_acls, plan
from homeward.topology.model import SERVICE_ROLES

pytestmark = pytest.mark.integration


def test_declared_grants_become_broker_acls(tmp_path: Path) -> None:
    authorizer = {
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # The harness's own connections are unauthenticated: let them administer.
        "super.users": "User:ANONYMOUS",
    }
    with KafkaCluster(run_dir=tmp_path / "acl", extra_properties=authorizer) as cluster:
        topology = Topology.load(prefix="")
        applied = apply_acls(topology, KafkaSettings(bootstrap_servers=cluster.bootstrap_servers))
        assert applied == plan(topology)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            everything = ACLFilter(
                principal=None,
                host="*",
                operation=ACLOperation.ANY,
                permission_type=ACLPermissionType.ANY,
                resource_pattern=ResourcePatternFilter(
                    ResourceType.TOPIC, None, ACLResourcePatternType.ANY
                ),
            )
            acls, _error = admin.describe_acls(everything)
        finally:
            admin.close()
        got = {(a.principal, a.operation.name, a.resource_pattern.resource_name) for a in acls}
        for g in applied:
            assert (g.principal, g.operation, g.topic) in got
        police_only_readers = {p for p, op, t in got if t.startswith("police.") and op == "READ"}
        # Besides Homeward's own services (the router reads rescues, intake's
        # timeline reads police topics), police and only police.
        services = {f"User:{role}" for role in SERVICE_ROLES}
        assert police_only_readers - services == {"User:police"}
