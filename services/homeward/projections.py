"""Per-role projections, from topology/projections.yaml: which fields of a
person's data each agency role may receive. Loaded once; a role that is not
listed gets nothing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import RootModel

from homeward import paths
from homeward.agency_types import AgencyType
from homeward.config_files import check_shape, in_file, read_yaml
from homeward.errors import ConfigError
from homeward.events.referrals import RescuedPerson, RescueNotified, VictimProfile

ALL = "*"
DEFAULT = "default"  # the row of a role not named


class _ProjectionsFile(RootModel[dict[str, dict[str, str | list[str]]]]):
    """event -> role -> "*" or the fields (or event kinds) the role receives."""


def projections_file() -> Path:
    return paths.topology_file().with_name("projections.yaml")


@dataclass(frozen=True)
class Projections:
    table: dict[str, dict[str, frozenset[str]]]

    @classmethod
    def load(cls, path: Path | None = None) -> Projections:
        path = path or projections_file()
        doc = read_yaml(path)
        try:
            return cls.parse(doc)
        except ConfigError as exc:
            raise in_file(path, exc) from None

    @classmethod
    def parse(cls, doc: Any) -> Projections:
        rows = check_shape(_ProjectionsFile, doc).root
        roles_known = {t.value for t in AgencyType} | {DEFAULT}
        table: dict[str, dict[str, frozenset[str]]] = {}
        for event, roles in rows.items():
            known = _fields_of(event)
            if not known:
                raise ConfigError("unknown key: not an event Homeward models", field=event)
            table[event] = {}
            for role, fields in roles.items():
                if role not in roles_known:
                    raise ConfigError(
                        "unknown key: not an agency type or 'default'", field=f"{event}.{role}"
                    )
                if isinstance(fields, str) and fields != ALL:
                    raise ConfigError(f"must be {ALL!r} or a list", field=f"{event}.{role}")
                chosen = frozenset(known if fields == ALL else fields)
                unknown = sorted(chosen - known) if known else []
                if unknown:
                    raise ConfigError(f"no such fields: {unknown}", field=f"{event}.{role}")
                table[event][role] = chosen
        return cls(table)

    def allowed(self, event: str, role: str) -> frozenset[str]:
        """The fields (or, for AlertDelivery.event, the event kinds) `role` may receive."""
        roles = self.table.get(event, {})
        return roles.get(role, roles.get(DEFAULT, frozenset()))

    def victim_profile(self, rescue: RescueNotified, role: str) -> VictimProfile:
        """The rescued person as `role` may see them: every other field is None."""
        full = victim_profile(rescue.person, rescue)
        keep = self.allowed("VictimProfile", role)
        return VictimProfile.model_validate(
            {k: v for k, v in full.model_dump().items() if k in keep}
        )


def victim_profile(person: RescuedPerson, rescue: RescueNotified) -> VictimProfile:
    return VictimProfile(
        name=person.name,
        sex=person.sex,
        age_years=person.age_years,
        is_child=person.is_child,
        guardians_known=person.guardians_known,
        identity_known=person.identity_known,
        disabilities=list(person.disabilities),
        household_registration=person.household_registration,
        has_means=person.has_means,
        languages=list(person.languages),
        location=rescue.location,
        rescued_at=rescue.rescued_at,
        police_contact=rescue.officer,
    )


def _fields_of(event: str) -> frozenset[str]:
    """What a row of `event` may list; empty when unchecked (an event not modelled)."""
    from homeward.events import EVENT_TYPES
    from homeward.events.alerts import DELIVERABLE

    if event == "AlertDelivery.event":
        # Event kinds, not fields: a misspelt kind would silently reach no one.
        return frozenset(_short(name) for name in DELIVERABLE)
    # Rows name events as topics.yaml does, without the namespace.
    models: dict[str, Any] = {"VictimProfile": VictimProfile}
    models.update({_short(name): model for name, model in EVENT_TYPES.items()})
    model = models.get(event)
    return frozenset(model.model_fields) if model is not None else frozenset()


def _short(avro_name: str) -> str:
    return avro_name.rpartition(".")[2]


@lru_cache(maxsize=1)
def default_projections() -> Projections:
    return Projections.load()
