"""The detector by person (id number, as health.records.v1 is keyed): identity
checks (rule 4a), stays at two hospitals at once (4b) and certificates with no
delivery of the mother (1). Pure functions of (state, input, windows)."""

from __future__ import annotations

from datetime import datetime
from itertools import combinations

from homeward.events import (
    AdmissionRegistered,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
    Event,
    Severity,
)
from homeward_detector.rules import Anomaly, Outcome, R, Windows, index_keys, keep_new, subject_of
from homeward_detector.state import (
    Birth,
    Cert,
    Leave,
    PersonState,
    Stay,
    anomaly_id,
    entry_key,
    from_ms,
    to_ms,
)


def _identity(event: AdmissionRegistered | DeliveryRecorded, eid: str, at: datetime) -> Anomaly:
    check = event.identity_check
    face = check.face_match is False
    what = "admission" if isinstance(event, AdmissionRegistered) else "delivery"
    failed = " and ".join(
        n for n, bad in (("document", not check.document_match), ("face", face)) if bad
    )
    return Anomaly(
        R.IDENTITY_CHECK_FAILED,
        Severity.CRITICAL if face else Severity.HIGH,
        event.hospital_id,
        subject_of(event),
        (eid,),
        at,
        f"{what} {event.case_id} at {event.hospital_id}: {failed} check failed",
    )


def _matches(cert: Cert, birth: Birth, w: Windows) -> bool:
    return (
        birth.hospital == cert.hospital
        and cert.issued_ms - w.ms("certificate") <= birth.delivered_ms <= cert.issued_ms
    )


def _overlaps(
    s: PersonState, now: int | None, at: datetime, w: Windows
) -> tuple[list[Anomaly], list[int]]:
    """Stays at two hospitals open at once, and the moments still-open pairs are decided.

    A discharge may arrive up to `lateness` late, so a stay with no discharge
    known counts as open only once that long has passed since the overlap
    would have begun (or at once, with no tolerance, for the later stay: it
    is open from its own admission)."""
    found, pending = [], []
    tol, late = w.ms("overlap_tolerance"), w.ms("lateness")
    stays = sorted(s.stays.values(), key=lambda x: (x.admitted_ms, x.eid))
    for a, b in combinations(stays, 2):
        if a.hospital == b.hospital or a.admission_id == b.admission_id:
            continue
        edge = b.admitted_ms + tol
        if any(e is not None and e <= edge for e in (a.discharged_ms, b.discharged_ms)):
            continue
        if anomaly_id(R.OVERLAPPING_ADMISSIONS.value, [a.eid, b.eid]) in s.raised:
            continue
        certain = a.discharged_ms is not None and (b.discharged_ms is not None or tol == 0)
        if not certain and (now is None or now < edge + late):
            pending.append(edge + late)
            continue
        found.append(
            Anomaly(
                R.OVERLAPPING_ADMISSIONS,
                Severity.HIGH,
                b.hospital,
                s.key,
                (a.eid, b.eid),
                from_ms(now) if now is not None else at,
                f"admission {b.admission_id} at {b.hospital} while admission "
                f"{a.admission_id} at {a.hospital} was open",
            )
        )
    return found, pending


def _expiry(s: PersonState, w: Windows) -> dict[str, int]:
    """Event id -> the moment its entry may be forgotten."""
    late = w.ms("lateness")
    out: dict[str, int] = {}
    for st in s.stays.values():
        end = st.discharged_ms
        out[st.eid] = end + late if end is not None else st.admitted_ms + w.ms("max_stay")
    for b in s.births.values():
        out[b.eid] = b.delivered_ms + w.ms("certificate") + late
    for c in s.certs.values():
        out[c.eid] = c.issued_ms + late
    for lv in s.leaves.values():
        out[lv.eid] = lv.discharged_ms + late
    return out


def _raise(
    s: PersonState, found: list[Anomaly], w: Windows, forward: list[str] | None = None
) -> Outcome:
    expiry = _expiry(s, w)
    # Remembered as long as the records that prove it.
    return keep_new(s, found, lambda a: max(expiry.get(e, 0) for e in a.evidence), forward)


def person_record(
    state: PersonState | None, key: str, event: Event, eid: str, at: datetime, w: Windows
) -> Outcome:
    s = state or PersonState(key)
    ek = entry_key(event)
    if s.seen(eid, ek):
        return Outcome(state, changed=False, note="duplicate")
    found: list[Anomaly] = []
    if isinstance(event, AdmissionRegistered):
        closed = [
            lv.discharged_ms
            for lv in s.leaves.values()
            if lv.admission_id == event.case_id and lv.delivery_id is None
        ]
        s.stays[ek] = Stay(
            event.case_id,
            event.hospital_id,
            to_ms(event.admitted_at),
            eid,
            min(closed, default=None),
        )
        if not event.identity_check.passed:
            found.append(_identity(event, eid, at))
        found += _overlaps(s, None, at, w)[0]
    elif isinstance(event, DeliveryRecorded):
        birth = Birth(event.case_id, event.hospital_id, to_ms(event.delivered_at), eid, key)
        s.births[ek] = birth
        for c in s.certs.values():
            if not c.decided and _matches(c, birth, w):
                c.decided = True
        if not event.identity_check.passed:
            found.append(_identity(event, eid, at))
    elif isinstance(event, BirthCertificateIssued):
        cert = Cert(
            event.case_id, event.hospital_id, to_ms(event.issued_at), eid, event.delivery_id, key
        )
        cert.decided = any(_matches(cert, b, w) for b in s.births.values())
        s.certs[ek] = cert
    elif isinstance(event, DischargeRecorded):
        leave = Leave(
            event.case_id, to_ms(event.discharged_at), eid, event.admission_id, event.delivery_id
        )
        s.leaves[ek] = leave
        if leave.delivery_id is None and leave.admission_id is not None:
            for st in s.stays.values():
                if st.admission_id == leave.admission_id and st.discharged_ms is None:
                    st.discharged_ms = leave.discharged_ms
        found += _overlaps(s, None, at, w)[0]
    else:
        raise TypeError(f"{event.avro_name} is not a health record")
    return _raise(s, found, w, index_keys(event))


def person_tick(state: PersonState | None, now: datetime, w: Windows) -> Outcome:
    if state is None:
        return Outcome(None, changed=False)
    s, now_ms, late = state, to_ms(now), w.ms("lateness")
    found: list[Anomaly] = []
    for c in s.certs.values():
        if not c.decided and now_ms >= c.issued_ms + late:
            c.decided = True
            found.append(
                Anomaly(
                    R.CERTIFICATE_WITHOUT_DELIVERY,
                    Severity.CRITICAL,
                    c.hospital,
                    s.key,
                    (c.eid,),
                    now,
                    f"certificate {c.number} issued at {c.hospital} with no delivery of "
                    f"this mother there in the {w.certificate} before it",
                )
            )
    found += _overlaps(s, now_ms, now, w)[0]
    out = _raise(s, found, w)
    # Forget what every window has closed on: memory stays bounded.
    expiry = _expiry(s, w)
    for entries in s.entries():
        for k in [k for k, e in entries.items() if expiry[e.eid] <= now_ms]:
            del entries[k]
    s.raised = {k: v for k, v in s.raised.items() if v > now_ms}
    out.state = None if s.empty() else s
    return out


def person_wakeup(s: PersonState, w: Windows) -> int | None:
    """The first moment a tick has something to decide or forget (ms)."""
    late = w.ms("lateness")
    times = [c.issued_ms + late for c in s.certs.values() if not c.decided]
    times += _overlaps(s, None, from_ms(0), w)[1]
    times += _expiry(s, w).values()
    times += s.raised.values()
    return min(times) if times else None
