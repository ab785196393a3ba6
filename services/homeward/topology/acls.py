"""The ACLs the declarations imply, and nothing else.

topics.yaml says which roles write and read each topic; principals.yaml which principal
holds which roles and groups. Every grant is ALLOW (the broker denies the rest:
``allow.everyone.if.no.acl.found=false``):

- a LITERAL topic READ or WRITE per declared role (Kafka implies DESCRIBE from both, and
  since 2.8 an idempotent producer needs nothing more than topic WRITE);
- a PREFIXED topic READ over ``<prefix>police.`` for police (the model refuses a police-only
  topic that anyone else but Homeward's services may read);
- a PREFIXED group READ per declared consumer group or Faust app id, under the prefix;
- for a Faust app, CREATE/READ/WRITE over the PREFIXED ``<prefix><app id>-`` topics: Faust
  declares its changelogs (CreateTopics on an existing topic is still a CREATE) and creates its
  ``__assignor-__leader`` topic at every start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.topology.model import POLICE_ONLY_PREFIX, Topology
from homeward.topology.principals import KafkaPrincipal, load_principals


@dataclass(frozen=True, order=True)
class Grant:
    principal: str  # User:<name>
    operation: str  # READ, WRITE or CREATE
    resource: str  # TOPIC or GROUP
    pattern: str  # LITERAL or PREFIXED
    name: str

    def line(self) -> str:
        return (
            f"ALLOW {self.principal:28} {self.operation:6} {self.resource.lower():5} "
            f"{self.pattern.lower():8} {self.name}"
        )

    def acl(self) -> ACL:
        pattern = ResourcePattern(
            ResourceType[self.resource], self.name, ACLResourcePatternType[self.pattern]
        )
        return ACL(
            self.principal, "*", ACLOperation[self.operation], ACLPermissionType.ALLOW, pattern
        )


def plan(topology: Topology, principals: list[KafkaPrincipal] | None = None) -> list[Grant]:
    principals = load_principals() if principals is None else principals
    grants: set[Grant] = set()
    prefix = topology.prefix
    for p in principals:
        roles = set(p.roles)
        for t in topology.all():
            if roles & set(t.writers):
                grants.add(Grant(p.user, "WRITE", "TOPIC", "LITERAL", t.name))
            if roles & set(t.readers):
                grants.add(Grant(p.user, "READ", "TOPIC", "LITERAL", t.name))
        if p.police_prefix:
            grants.add(Grant(p.user, "READ", "TOPIC", "PREFIXED", prefix + POLICE_ONLY_PREFIX))
        for group in p.group_prefixes():
            grants.add(Grant(p.user, "READ", "GROUP", "PREFIXED", prefix + group))
        if p.faust_app:
            for op in ("CREATE", "READ", "WRITE"):
                grants.add(Grant(p.user, op, "TOPIC", "PREFIXED", f"{prefix}{p.faust_app}-"))
    return sorted(grants)


def apply_acls(
    topology: Topology,
    settings: KafkaSettings | None = None,
    principals: list[KafkaPrincipal] | None = None,
    wait_seconds: float = 30.0,
) -> list[Grant]:
    """Create the planned ACLs (idempotent in Kafka). Needs a broker with an authorizer and
    an admin principal (ALTER on the cluster, or a super user). Returns once the broker it
    asked enforces them (brokers apply new ACLs from the metadata log a moment later), so a
    client started next is not refused."""
    grants = plan(topology, principals)
    admin = KafkaAdminClient(
        client_id="homeward-topology", **(settings or KafkaSettings()).kafka_python()
    )
    try:
        result = admin.create_acls([g.acl() for g in grants])
        failed = result.get("failed", []) if isinstance(result, dict) else []
        if not failed:
            _wait_visible(admin, grants, wait_seconds)
    except HomewardError:
        raise
    except Exception as exc:
        raise HomewardError(
            f"the broker refused the ACLs ({type(exc).__name__}: {exc}); is an authorizer "
            "configured, and are these the admin's credentials?",
            field="acls",
        ) from exc
    finally:
        admin.close()
    if failed:
        raise HomewardError(f"{len(failed)} ACLs failed: {failed[:3]}", field="acls")
    return grants


def _wait_visible(admin: KafkaAdminClient, grants: list[Grant], wait_seconds: float) -> None:
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    want = {(g.principal, g.operation, g.resource, g.pattern, g.name) for g in grants}
    deadline = time.monotonic() + wait_seconds
    while True:
        acls, _error = admin.describe_acls(everything)
        seen = {
            (
                a.principal,
                a.operation.name,
                a.resource_pattern.resource_type.name,
                a.resource_pattern.pattern_type.name,
                a.resource_pattern.resource_name,
            )
            for a in acls
        }
        missing = want - seen
        if not missing:
            return
        if time.monotonic() > deadline:
            raise HomewardError(
                f"{len(missing)} ACLs created but not enforced after {wait_seconds:.0f}s, "
                f"e.g. {sorted(missing)[0]}",
                field="acls",
            )
        time.sleep(0.05)  # the broker applies the metadata log asynchronously


def grants_table(topology: Topology, principals: list[KafkaPrincipal] | None = None) -> str:
    """The grants as docs/kafka-security.md shows them: one Markdown row per
    principal, in the declaration order (a test keeps the doc equal to this)."""
    principals = load_principals() if principals is None else principals
    grants = plan(topology, principals)
    rows = [
        "| principal | kind | reads (topics) | writes (topics) | groups (prefixed) | other |",
        "|---|---|---|---|---|---|",
    ]

    def cell(names: list[str]) -> str:
        return ", ".join(names) or "-"

    for p in principals:
        mine = [g for g in grants if g.principal == p.user]
        literal = [g for g in mine if g.resource == "TOPIC" and g.pattern == "LITERAL"]
        reads = sorted(g.name for g in literal if g.operation == "READ")
        writes = sorted(g.name for g in literal if g.operation == "WRITE")
        groups = sorted(f"{g.name}*" for g in mine if g.resource == "GROUP")
        other = sorted(
            f"{g.operation} {g.name}*"
            for g in mine
            if g.resource == "TOPIC" and g.pattern == "PREFIXED"
        )
        rows.append(
            f"| `{p.user}` | {p.kind} | {cell(reads)} | {cell(writes)} | {cell(groups)} "
            f"| {cell(other)} |"
        )
    return "\n".join(rows)
