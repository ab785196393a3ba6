"""Per-role projections, from topology/projections.yaml: which fields of a
person's data each agency role may receive. Loaded once; a role that is not
listed gets nothing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from homeward import paths
from homeward.errors import ConfigError
from homeward.events.referrals import RescuedPerson, RescueNotified, VictimProfile

ALL = "*"


def projections_file() -> Path:
    return paths.topology_file().with_name("projections.yaml")


@dataclass(frozen=True)
class Projections:
    table: dict[str, dict[str, frozenset[str]]]

    @classmethod
    def load(cls, path: Path | None = None) -> Projections:
        path = path or projections_file()
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(str(exc), field=str(path)) from exc
        table: dict[str, dict[str, frozenset[str]]] = {}
        for event, roles in doc.items():
            known = _fields_of(event)
            table[event] = {}
            for role, fields in roles.items():
                chosen = frozenset(known if fields == ALL else fields)
                unknown = sorted(chosen - known) if known else []
                if unknown:
                    raise ConfigError(f"no such fields: {unknown}", field=f"{event}.{role}")
                table[event][role] = chosen
        return cls(table)

    def allowed(self, event: str, role: str) -> frozenset[str]:
        """The fields (or, for AlertDelivery.event, the event kinds) `role` may receive."""
        roles = self.table.get(event, {})
        return roles.get(role, roles.get("default", frozenset()))

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
