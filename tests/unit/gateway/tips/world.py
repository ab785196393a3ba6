"""A small fixed world for the tip line's unit tests: one public alert of
POL-T1, one agencies-only alert, the desk over in-memory parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from homeward.actors import agency_actor
from homeward.agency_types import AgencyType
from homeward.audit import MemoryAuditor
from homeward.auth import Principal, PrincipalKind
from homeward.codec import Codec, Record
from homeward.events import AlertIssued, ResponsibleOfficer
from tests.conformance.strategies import samples

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
PUBLIC_CASE = "POL-T1-PUBLIC-1"
HIDDEN_CASE = "POL-T1-HIDDEN-1"
OFFICER = ResponsibleOfficer(
    officer_id="OFFICER-T7", name="Officer Example Test", unit="Test Station 1 (fictional)"
)


def alert(case_id: str, *, public: bool = True, unit: str = "POL-T1") -> AlertIssued:
    base = samples()["homeward.alerts.AlertIssued"]
    assert isinstance(base, AlertIssued)
    return base.model_copy(
        update={
            "case_id": case_id,
            "chief_officer": OFFICER,
            "last_seen_at": T0,
            "public_summary": "MISSING (test): girl, 6, red coat" if public else "",
            "actor": agency_actor(unit, "police", "police-case-system"),
        }
    )


def tip_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": PUBLIC_CASE,
        "seen_at": (T0 + timedelta(hours=1)).isoformat(),
        "place": "Testville coach station (fictional)",
        "description": "A girl in a red coat with an adult at gate 3.",
        "contact": "+86 000 0000 0000 (fake)",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def police(
    agency_id: str = "POL-T1", roles: frozenset[str] = frozenset({"police_officer"})
) -> Principal:
    return Principal(
        subject=f"sub-{agency_id}",
        name=f"staff-{agency_id.lower()}",
        kind=PrincipalKind.PERSON,
        agency_id=agency_id,
        agency_type=AgencyType.POLICE,
        roles=roles,
    )


class Published:
    """The desk's publish: keeps (topic, record) as the broker would have them."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Record]] = []
        self.fail: Exception | None = None

    def __call__(self, topic: str, record: Record) -> None:
        if self.fail is not None:
            raise self.fail
        self.records.append((topic, record))

    def events(self) -> list[Any]:
        codec = Codec()
        return [codec.decode(r.value, r.headers).event for _, r in self.records]


def auditor() -> MemoryAuditor:
    return MemoryAuditor()
