"""Builders for the detector's tests: plainly fake mothers, hospitals,
admissions, deliveries, certificates and discharges, and a small harness
that feeds the pure planner like the two agents would (records by person,
forwarded copies by index key, ticks by key)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from homeward.actors import agency_actor
from homeward.events import (
    AdmissionRegistered,
    Baby,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
    Event,
    IdentityCheck,
    PersonIdentity,
)
from homeward_detector import planner
from homeward_detector.planner import Anomaly, Windows
from homeward_detector.state import IndexState, PersonState

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
W = Windows()  # the defaults: P30D window, PT6H lateness, rule 5 off
HOSPITAL_A, HOSPITAL_B = "HOSP-TEST-A", "HOSP-TEST-B"
PASSED = IdentityCheck(document_match=True, face_match=True)


def mother(n: int | str) -> PersonIdentity:
    return PersonIdentity(id_type="resident_id", id_number=f"TEST-ID-{n}", name=f"Test Mother {n}")


def admission(
    who: PersonIdentity,
    adm_id: str,
    at: datetime,
    hospital: str = HOSPITAL_A,
    check: IdentityCheck = PASSED,
) -> AdmissionRegistered:
    return AdmissionRegistered(
        case_id=adm_id,
        hospital_id=hospital,
        actor=agency_actor(hospital, "health"),  # the hospital's own system
        patient=who,
        admitted_at=at,
        purpose="delivery",
        identity_check=check,
    )


def delivery(
    who: PersonIdentity,
    del_id: str,
    at: datetime,
    hospital: str = HOSPITAL_A,
    check: IdentityCheck = PASSED,
    admission_id: str | None = None,
) -> DeliveryRecorded:
    return DeliveryRecorded(
        case_id=del_id,
        hospital_id=hospital,
        actor=agency_actor(hospital, "health"),  # the hospital's own system
        mother=who,
        admission_id=admission_id,
        delivered_at=at,
        baby=Baby(baby_id=f"BABY-{del_id}", sex="female", weight_g=3100),
        identity_check=check,
    )


def certificate(
    who: PersonIdentity, number: str, del_id: str, at: datetime, hospital: str = HOSPITAL_A
) -> BirthCertificateIssued:
    return BirthCertificateIssued(
        case_id=number,
        hospital_id=hospital,
        actor=agency_actor(hospital, "health"),  # the hospital's own system
        mother=who,
        baby=Baby(baby_id=f"BABY-{del_id}", sex="female", weight_g=3100),
        delivery_id=del_id,
        issued_at=at,
    )


def discharge(
    who: PersonIdentity,
    dis_id: str,
    at: datetime,
    hospital: str = HOSPITAL_A,
    admission_id: str | None = None,
    delivery_id: str | None = None,
) -> DischargeRecorded:
    return DischargeRecorded(
        case_id=dis_id,
        hospital_id=hospital,
        actor=agency_actor(hospital, "health"),  # the hospital's own system
        patient=who,
        admission_id=admission_id,
        delivery_id=delivery_id,
        discharged_at=at,
    )


def eid() -> str:
    return str(uuid.uuid4())


@dataclass
class Detector:
    """The two views over in-memory tables, as the agents drive them."""

    windows: Windows = W
    persons: dict[str, PersonState] = field(default_factory=dict)
    index: dict[str, IndexState] = field(default_factory=dict)
    raised: list[Anomaly] = field(default_factory=list)
    forwarded: list[tuple[str, str]] = field(default_factory=list)  # (index key, event id)

    def _store(self, table: dict[str, Any], key: str, out: planner.Outcome) -> None:
        self.raised += out.anomalies
        if not out.changed:
            return
        if out.state is None:
            table.pop(key, None)
        else:
            # Through JSON, as the Faust table holds it.
            state = out.state
            table[key] = type(state).from_json(state.to_json())  # type: ignore[union-attr]

    def record(self, event: Event, event_id: str | None = None, at: datetime = T0) -> str:
        event_id = event_id or eid()
        key = planner.subject_of(event)
        out = planner.person_record(self.persons.get(key), key, event, event_id, at, self.windows)
        self._store(self.persons, key, out)
        for index_key in out.forward:
            self.forwarded.append((index_key, event_id))
            got = planner.index_record(
                self.index.get(index_key), index_key, event, event_id, at, self.windows
            )
            self._store(self.index, index_key, got)
        return event_id

    def tick(self, now: datetime) -> None:
        for key in list(self.persons):
            self._store(
                self.persons, key, planner.person_tick(self.persons[key], now, self.windows)
            )
        for key in list(self.index):
            self._store(self.index, key, planner.index_tick(self.index[key], now, self.windows))

    def rules(self) -> list[str]:
        return sorted(a.rule.value for a in self.raised)

    def ids(self) -> set[str]:
        return {a.id for a in self.raised}
