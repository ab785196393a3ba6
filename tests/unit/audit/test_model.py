"""AuditEntry (the dataclass entry points build) and its wire model convert
both ways without loss, and the record key is the case, else the principal."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.audit.chain import entry_hash
from homeward.audit.record import AuditEntry, AuditOutcome
from homeward.events.audit import AuditEntry as Wire

IDS = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=0, max_size=12)


@settings(max_examples=80, deadline=None)
@given(
    entry_id=IDS.filter(bool),
    principal=IDS,
    case_id=IDS,
    outcome=st.sampled_from(list(AuditOutcome)),
    status=st.integers(0, 599),
    detail=st.dictionaries(IDS.filter(bool), IDS, max_size=3),
    millis=st.integers(0, 4_000_000_000_000),
)
def test_the_wire_model_round_trips_the_entry_and_its_hash(
    entry_id: str,
    principal: str,
    case_id: str,
    outcome: AuditOutcome,
    status: int,
    detail: dict[str, str],
    millis: int,
) -> None:
    entry = AuditEntry(
        entry_id=entry_id,
        at=datetime.fromtimestamp(millis / 1000, UTC),
        service="intake",
        action="alert.issue",
        outcome=outcome,
        principal=principal,
        case_id=case_id,
        status=status,
        detail=detail,
    )
    wire = Wire.of(entry)
    assert wire.to_entry() == entry
    assert entry_hash(0, 0, "0" * 64, wire.to_entry()) == entry_hash(0, 0, "0" * 64, entry)
    if case_id:
        assert wire.case_id == case_id
    else:
        assert wire.case_id == (f"principal:{principal}" if principal else "anonymous")
