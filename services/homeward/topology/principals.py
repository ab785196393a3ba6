"""The Kafka principals declared in topology/principals.yaml.

A principal is one SCRAM user (``User:<name>``) holding roles of topics.yaml, the consumer
groups it uses, and what its stream library needs besides (a Faust app id). Declaring only:
acls.py derives the grants, users.py creates the users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from homeward import paths
from homeward.agencies import AgencyType
from homeward.config_files import Strict, check_shape, fill_agency_type, in_file, read_yaml
from homeward.errors import ConfigError
from homeward.topology.model import GRANTED_SERVICE_ROLES as SERVICE_ROLES

KINDS = ("service", "tool", "institutional")


@dataclass(frozen=True)
class KafkaPrincipal:
    name: str  # the SCRAM user name; the Kafka principal is User:<name>
    kind: str  # service, tool (an operator's command) or institutional
    roles: tuple[str, ...]
    groups: tuple[str, ...] = ()  # consumer group prefixes (under the topic prefix)
    faust_app: str | None = None
    police_prefix: bool = False
    agency_type: str | None = None  # set for the per-type institutional principals

    @property
    def user(self) -> str:
        return f"User:{self.name}"

    def group_prefixes(self) -> tuple[str, ...]:
        extra = (self.faust_app,) if self.faust_app else ()
        return tuple(dict.fromkeys((*self.groups, *extra)))


class _PrincipalOverride(Strict):
    # Defaults only make a key optional (the loader reads the file itself): an
    # explicit null is refused by its type, not passed on to tuple(None).
    kind: str = ""
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    faust_app: str = ""
    police_prefix: bool = False


class _PrincipalKeys(_PrincipalOverride):
    kind: str


class _AgencyTypes(Strict):
    template: _PrincipalKeys | None = Field(default=None, alias="{agency_type}")
    overrides: dict[str, _PrincipalOverride] = Field(default_factory=dict)


class _PrincipalsFile(Strict):
    principals: dict[str, _PrincipalKeys] = Field(default_factory=dict)
    agency_types: _AgencyTypes | None = None


def principals_file() -> Path:
    default = paths.topology_file().parent / "principals.yaml"
    return Path(os.environ.get("HOMEWARD_PRINCIPALS_FILE", default))


def _principal(name: str, spec: dict[str, Any], where: str, **extra: Any) -> KafkaPrincipal:
    kind = str(spec.get("kind", ""))
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, not {kind!r}", field=f"{where}.kind")
    roles = tuple(str(r) for r in spec.get("roles", []))
    known = SERVICE_ROLES | {t.value for t in AgencyType}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise ConfigError(f"unknown roles {unknown}", field=f"{where}.roles")
    if kind == "institutional" and set(roles) & SERVICE_ROLES:
        raise ConfigError("an institutional system cannot hold a service role", field=where)
    return KafkaPrincipal(
        name=name,
        kind=kind,
        roles=roles,
        groups=tuple(str(g) for g in spec.get("groups", [])),
        faust_app=spec.get("faust_app"),
        police_prefix=bool(spec.get("police_prefix", False)),
        **extra,
    )


def load_principals(path: Path | None = None) -> list[KafkaPrincipal]:
    """Every declared principal: the services, then one per agency type."""
    path = path or principals_file()
    doc = read_yaml(path)
    check_shape(_PrincipalsFile, doc, path=path)
    try:
        return _principals(doc or {})
    except ConfigError as exc:
        raise in_file(path, exc) from None


def _principals(doc: dict[str, Any]) -> list[KafkaPrincipal]:
    out = [
        _principal(str(name), dict(spec), f"principals.{name}")
        for name, spec in (doc.get("principals") or {}).items()
    ]
    types = dict(doc.get("agency_types") or {})
    overrides = dict(types.pop("overrides", None) or {})
    template = types.get("{agency_type}")
    if template is not None:
        for agency_type in AgencyType:
            value = agency_type.value
            spec = {
                **template,
                "roles": [
                    fill_agency_type(str(r), value, "agency_types.{agency_type}.roles")
                    for r in template.get("roles", [])
                ],
                **(overrides.get(value) or {}),
            }
            out.append(_principal(value, spec, f"agency_types.{value}", agency_type=value))
    stray = sorted(set(overrides) - {t.value for t in AgencyType})
    if stray:
        raise ConfigError(f"not agency types: {stray}", field="agency_types.overrides")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ConfigError("a principal is declared twice", field="principals")
    for p in out:
        if p.police_prefix and p.agency_type != AgencyType.POLICE.value:
            raise ConfigError("only police may read every police. topic", field=p.name)
    return out
