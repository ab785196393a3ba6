"""A caller, as its verified token describes it: who, for which agency, with
which roles. Built by the token verifier; nothing else makes one from input."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from homeward.agency_types import AgencyType


class PrincipalKind(StrEnum):
    PERSON = "person"  # an officer, a caseworker: logged in through the provider
    SYSTEM = "system"  # a case system, a hospital system, a service: client credentials


@dataclass(frozen=True)
class Principal:
    """Who is calling. `subject` is the provider's stable id (`sub`); `name` is
    what an audit reader recognises (the username or the client id)."""

    subject: str
    name: str
    kind: PrincipalKind
    agency_id: str
    agency_type: AgencyType
    roles: frozenset[str] = field(default_factory=frozenset)
    client_id: str = ""
    issuer: str = ""

    @property
    def is_police(self) -> bool:
        return self.agency_type == AgencyType.POLICE
