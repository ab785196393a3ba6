"""The ACLs the declarations imply: each role may write and read exactly the
topics topics.yaml grants it (the model refuses a police-only topic that any
agency but police may read). Applied to brokers that run an authorizer;
principals are `User:<role>` (a site maps its agencies' credentials to those
names)."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)

from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.topology.model import Topology


@dataclass(frozen=True, order=True)
class Grant:
    principal: str
    operation: str  # READ or WRITE (DESCRIBE comes with both)
    topic: str

    def line(self) -> str:
        return f"ALLOW {self.principal:32} {self.operation:5} topic {self.topic}"


def plan(topology: Topology) -> list[Grant]:
    grants = set()
    for t in topology.all():
        for role in t.writers:
            grants.add(Grant(f"User:{role}", "WRITE", t.name))
        for role in t.readers:
            grants.add(Grant(f"User:{role}", "READ", t.name))
    return sorted(grants)


def apply_acls(topology: Topology, settings: KafkaSettings | None = None) -> list[Grant]:
    """Create the planned ACLs (idempotent in Kafka). Needs a broker with an authorizer."""
    grants = plan(topology)
    acls = []
    for g in grants:
        pattern = ResourcePattern(ResourceType.TOPIC, g.topic, ACLResourcePatternType.LITERAL)
        for op in (ACLOperation[g.operation], ACLOperation.DESCRIBE):
            acls.append(ACL(g.principal, "*", op, ACLPermissionType.ALLOW, pattern))
    admin = KafkaAdminClient(
        client_id="homeward-topology", **(settings or KafkaSettings()).kafka_python()
    )
    try:
        result = admin.create_acls(acls)
    except Exception as exc:
        raise HomewardError(
            f"the broker refused the ACLs ({type(exc).__name__}: {exc}); is an authorizer "
            "configured?",
            field="acls",
        ) from exc
    finally:
        admin.close()
    failed = result.get("failed", []) if isinstance(result, dict) else []
    if failed:
        raise HomewardError(f"{len(failed)} ACLs failed: {failed[:3]}", field="acls")
    return grants
