"""What a topic is (a frozen declaration) and the loaded topology.

Declaring is kept apart from administering (admin.py), as Quix Streams does:
services only ever read declarations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from homeward import paths
from homeward.agencies import AgencyType
from homeward.config_files import Strict, check_shape, fill_agency_type, in_file, read_yaml
from homeward.errors import ConfigError
from homeward.events import Classification

POLICE_ONLY_PREFIX = "police."
# Homeward's own processes; every other role is an agency type (or "agency",
# any agency's subscriber).
SERVICE_ROLES = frozenset({"intake", "fanout", "referrals", "detector", "audit", "gateway"})
# Homeward's operator tools: granted like a service, but run by hand, not deployed.
TOOL_ROLES = frozenset({"operator"})
GRANTED_SERVICE_ROLES = SERVICE_ROLES | TOOL_ROLES
# Role sets topics.yaml may name, expanded to agency types when loaded.
ROLE_SETS: dict[str, tuple[str, ...]] = {
    "agencies": tuple(t.value for t in AgencyType),
    "agencies_but_police": tuple(t.value for t in AgencyType if t != AgencyType.POLICE),
}


def _roles(tid: str, which: str, names: list[Any]) -> tuple[str, ...]:
    """The roles of a topic's writers or readers, role sets expanded, order kept."""
    out: list[str] = []
    known = GRANTED_SERVICE_ROLES | {t.value for t in AgencyType}
    for name in names:
        name = str(name)
        if name in ROLE_SETS:
            out += [r for r in ROLE_SETS[name] if r not in out]
        elif name in known:
            if name not in out:
                out.append(name)
        else:
            raise ConfigError(
                f"unknown role {name!r}: a service ({sorted(GRANTED_SERVICE_ROLES)}), an agency type "
                f"or one of {sorted(ROLE_SETS)}",
                field=f"topics.{tid}.{which}",
            )
    return tuple(out)


# Kafka's own replication_test bar: lose no acknowledged write when one broker dies.
PRODUCTION_REPLICATION = 3
PRODUCTION_MIN_ISR = 2
DEVELOPMENT_ENV = "HOMEWARD_TOPOLOGY_DEVELOPMENT"


def development() -> bool:
    """True only where a local single-broker harness (tests, the demo) asked for it."""
    return os.environ.get("HOMEWARD_TOPOLOGY_DEVELOPMENT", "") == "1"


class _TopicKeys(Strict):
    """The keys a topic declaration may have (topics.yaml's header says what each means).
    A default here only makes a key optional (the loader reads the file itself), so an
    explicit null is refused by its type rather than reaching int(None)."""

    name: str
    classification: str
    key: str = ""
    partitions: int = 0
    replication: int = 0
    retention_ms: int = 0
    cleanup_policy: str = ""
    values: list[str] = Field(default_factory=list)
    writers: list[str] = Field(default_factory=list)
    readers: list[str] = Field(default_factory=list)
    internal: bool = False


class _InboxOverride(_TopicKeys):
    name: str = ""
    classification: str = ""


class _Inbox(_TopicKeys):
    overrides: dict[str, _InboxOverride] = Field(default_factory=dict)


class _Defaults(Strict):
    partitions: int
    replication: int
    min_insync_replicas: int


class _TopologyFile(Strict):
    defaults: _Defaults
    topics: dict[str, _TopicKeys]
    inbox: _Inbox


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    key: str
    classification: Classification
    partitions: int
    replication: int
    configs: tuple[tuple[str, str], ...]
    values: tuple[str, ...]
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    internal: bool = False  # named by the library that uses it (Faust), not by convention

    def config_dict(self) -> dict[str, str]:
        return dict(self.configs)


def _topic(tid: str, spec: dict[str, Any], defaults: dict[str, Any], prefix: str) -> Topic:
    try:
        name = str(spec["name"])
        classification = Classification(spec["classification"])
    except KeyError as exc:
        raise ConfigError("missing", field=f"topics.{tid}.{exc.args[0]}") from None
    except ValueError as exc:
        raise ConfigError(str(exc), field=f"topics.{tid}.classification") from None
    if classification == Classification.POLICE_ONLY and not name.startswith(POLICE_ONLY_PREFIX):
        raise ConfigError(
            f"police-only topics must start with {POLICE_ONLY_PREFIX!r}", field=f"topics.{tid}.name"
        )
    readers = _roles(tid, "readers", list(spec.get("readers", [])))
    if classification == Classification.POLICE_ONLY:
        outsiders = sorted(set(readers) - GRANTED_SERVICE_ROLES - {"police"})
        if outsiders:
            raise ConfigError(
                f"police-only: only police and Homeward's services may read it, not {outsiders}",
                field=f"topics.{tid}.readers",
            )
    configs = {
        "cleanup.policy": str(spec.get("cleanup_policy", "delete")),
        "retention.ms": str(spec.get("retention_ms", 604800000)),
        "min.insync.replicas": str(defaults["min_insync_replicas"]),
    }
    return Topic(
        id=tid,
        name=prefix + name,
        key=str(spec.get("key", "")),
        classification=classification,
        partitions=int(spec.get("partitions", defaults["partitions"])),
        replication=int(spec.get("replication", defaults["replication"])),
        configs=tuple(sorted(configs.items())),
        values=tuple(spec.get("values", [])),
        writers=_roles(tid, "writers", list(spec.get("writers", []))),
        readers=readers,
        internal=bool(spec.get("internal", False)),
    )


class Topology:
    """All declared topics, by id, with the per-type inboxes expanded."""

    def __init__(self, topics: dict[str, Topic], prefix: str) -> None:
        self._topics = topics
        self.prefix = prefix

    @classmethod
    def load(cls, path: Path | None = None, prefix: str | None = None) -> Topology:
        path = path or paths.topology_file()
        prefix = os.environ.get("HOMEWARD_TOPIC_PREFIX", "") if prefix is None else prefix
        doc = read_yaml(path)
        check_shape(_TopologyFile, doc, path=path)
        stray = sorted(set(doc["inbox"].get("overrides") or {}) - {t.value for t in AgencyType})
        if stray:
            raise ConfigError(f"not agency types: {stray}", field="inbox.overrides", path=path)
        try:
            return cls._build(doc, prefix)
        except ConfigError as exc:
            raise in_file(path, exc) from None

    @classmethod
    def _build(cls, doc: dict[str, Any], prefix: str) -> Topology:
        defaults = dict(doc.get("defaults", {}))
        if development():
            # One local broker: one copy of each partition is all there is.
            defaults["replication"] = 1
            defaults["min_insync_replicas"] = 1
        env_rf = os.environ.get("HOMEWARD_TOPOLOGY_REPLICATION")
        env_isr = os.environ.get("HOMEWARD_TOPOLOGY_MIN_ISR")
        env_parts = os.environ.get("HOMEWARD_TOPOLOGY_PARTITIONS")
        if env_rf:
            defaults["replication"] = int(env_rf)
        if env_isr:
            defaults["min_insync_replicas"] = int(env_isr)
        if env_parts:
            defaults["partitions"] = int(env_parts)
        topics = {tid: _topic(tid, spec, defaults, prefix) for tid, spec in doc["topics"].items()}
        inbox = {k: v for k, v in doc["inbox"].items() if k != "overrides"}
        overrides = doc["inbox"].get("overrides", {})
        for agency_type in AgencyType:
            spec = {
                **inbox,
                "name": fill_agency_type(inbox["name"], agency_type.value, "inbox.name"),
                "readers": [
                    fill_agency_type(r, agency_type.value, "inbox.readers")
                    for r in inbox["readers"]
                ],
                **overrides.get(agency_type.value, {}),
            }
            tid = f"inbox.{agency_type.value}"
            topics[tid] = _topic(tid, spec, defaults, prefix)
        return cls(topics, prefix)

    def get(self, topic_id: str) -> Topic:
        try:
            return self._topics[topic_id]
        except KeyError:
            raise ConfigError("no such topic declared", field=f"topics.{topic_id}") from None

    def inbox(self, agency_type: AgencyType | str) -> Topic:
        return self.get(f"inbox.{AgencyType(agency_type).value}")

    def all(self) -> list[Topic]:
        return list(self._topics.values())

    def with_partitions(self, partitions: int) -> Topology:
        return Topology(
            {k: replace(t, partitions=partitions) for k, t in self._topics.items()}, self.prefix
        )

    def with_replication(self, replication: int, min_insync_replicas: int) -> Topology:
        """Every topic with these replication settings (a harness's own cluster)."""
        isr = str(min_insync_replicas)

        def sized(t: Topic) -> Topic:
            configs = {**t.config_dict(), "min.insync.replicas": isr}
            return replace(t, replication=replication, configs=tuple(sorted(configs.items())))

        return Topology({k: sized(t) for k, t in self._topics.items()}, self.prefix)


def answer_topic_id(agency_type: AgencyType | str) -> str:
    """The topic id an agency of `agency_type` answers its referrals on.

    A police answer may carry DNA data in its note, and DNA data only ever
    travels on police.* topics: police answer on `police_referrals`, every
    other agency on `referral_answers`."""
    police = str(agency_type) == AgencyType.POLICE.value
    return "police_referrals" if police else "referral_answers"


@lru_cache(maxsize=8)
def _cached(prefix: str) -> Topology:
    return Topology.load(prefix=prefix)


def current_topology() -> Topology:
    """The topology for this process's HOMEWARD_TOPIC_PREFIX."""
    return _cached(os.environ.get("HOMEWARD_TOPIC_PREFIX", ""))
