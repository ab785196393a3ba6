"""The roles table (topology/roles.yaml) as code: which role may do which
action, for which agency types, and which unit supervises which.

`RolesTable.allows(principal, action)` is the one check every entry point
makes; `may_act_on_case` adds the rule that a case belongs to its issuing unit.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from homeward import paths
from homeward.agency_types import AgencyType
from homeward.auth.principal import Principal
from homeward.config_files import Strict, check_shape, in_file, read_yaml
from homeward.errors import ConfigError, HomewardError


class Action(StrEnum):
    ALERT_ISSUE = "alert.issue"
    ALERT_UPDATE = "alert.update"
    ALERT_SIGHTING = "alert.sighting"
    ALERT_CANCEL = "alert.cancel"
    ALERT_RELEASE_PUBLIC = "alert.release_public"
    CASE_SUPERVISE = "case.supervise"
    RESCUE_REPORT = "rescue.report"
    DNA_RECORD = "dna.record"
    HEALTH_RECORD = "health.record"
    REPORT_FILE = "report.file"
    REPORT_ACKNOWLEDGE = "report.acknowledge"
    REFERRAL_ANSWER = "referral.answer"
    REFERRAL_READ = "referral.read"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    INBOX_READ = "inbox.read"
    TIMELINE_READ = "timeline.read"
    POLICE_ONLY_READ = "police_only.read"
    ADMIN = "admin"
    TIP_READ = "tip.read"
    TIP_ACKNOWLEDGE = "tip.acknowledge"
    CASE_OUTCOME_RECORD = "case.outcome.record"


class Forbidden(HomewardError):
    """The caller is authenticated but the roles table does not allow this (HTTP 403)."""


class _RoleKeys(Strict):
    agency_types: list[str]
    actions: list[str]


class _RolesFile(Strict):
    actions: dict[str, str]  # action -> what it allows, in words
    roles: dict[str, _RoleKeys] = Field(default_factory=dict)
    supervision: dict[str, list[str]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    name: str
    agency_types: frozenset[AgencyType]
    actions: frozenset[Action]


class RolesTable:
    def __init__(self, roles: dict[str, Role], supervision: dict[str, tuple[str, ...]]) -> None:
        self.roles = roles
        self.supervision = supervision

    @classmethod
    def load(cls, path: Path | None = None) -> RolesTable:
        path = path or roles_file()
        doc = read_yaml(path)
        try:
            return cls.parse(doc)
        except ConfigError as exc:
            raise in_file(path, exc) from None

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> RolesTable:
        check_shape(_RolesFile, doc)
        declared = set(doc.get("actions", {}))
        missing = sorted({a.value for a in Action} - declared)
        if missing:
            raise ConfigError(f"actions not described: {missing}", field="actions")
        roles: dict[str, Role] = {}
        for name, spec in (doc.get("roles") or {}).items():
            try:
                actions = frozenset(Action(a) for a in spec["actions"])
                types = frozenset(AgencyType(t) for t in spec["agency_types"])
            except KeyError as exc:
                raise ConfigError("missing", field=f"roles.{name}.{exc.args[0]}") from None
            except ValueError as exc:
                raise ConfigError(str(exc), field=f"roles.{name}") from None
            roles[name] = Role(name, types, actions)
        supervision = {
            str(unit): tuple(str(p) for p in patterns)
            for unit, patterns in (doc.get("supervision") or {}).items()
        }
        return cls(roles, supervision)

    def actions_of(self, principal: Principal) -> frozenset[Action]:
        """What the principal may do: the actions of each role it holds that is
        valid for its agency type. Unknown role names grant nothing."""
        out: set[Action] = set()
        for name in principal.roles:
            role = self.roles.get(name)
            if role is not None and principal.agency_type in role.agency_types:
                out |= role.actions
        return frozenset(out)

    def allows(self, principal: Principal, action: Action) -> bool:
        return action in self.actions_of(principal)

    def require(self, principal: Principal, action: Action) -> None:
        if not self.allows(principal, action):
            raise Forbidden(
                f"{principal.name} ({principal.agency_id}) may not {action.value}: no role "
                f"in the roles table grants it to a {principal.agency_type.value} principal",
                field="authorization",
            )

    def supervises(self, unit: str, other: str) -> bool:
        return any(
            fnmatch.fnmatchcase(other, pattern) for pattern in self.supervision.get(unit, ())
        )

    def may_act_on_case(self, principal: Principal, issuing_unit: str) -> bool:
        """A case belongs to the unit that issued it, and to a unit the table
        names as that unit's supervisor (with case.supervise)."""
        if principal.agency_id == issuing_unit:
            return True
        return self.allows(principal, Action.CASE_SUPERVISE) and self.supervises(
            principal.agency_id, issuing_unit
        )


def roles_file() -> Path:
    default = paths.REPO_ROOT / "topology" / "roles.yaml"
    return Path(os.environ.get("HOMEWARD_ROLES_FILE", default))


@lru_cache(maxsize=4)
def _cached(path: str) -> RolesTable:
    return RolesTable.load(Path(path))


def current_roles() -> RolesTable:
    return _cached(str(roles_file()))
