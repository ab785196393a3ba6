"""The detector by index key ("delivery:<id>", "certificate:<number>", on
health.index.v1): the certificate's mother against the delivery's (rule 2),
two certificates for one delivery or one number on two certificates (3), and
a delivery whose newborn left uncertified (5, off by default). Pure functions
of (state, input, windows)."""

from __future__ import annotations

from datetime import datetime

from homeward.events import (
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
    Event,
    Severity,
)
from homeward_detector.rules import Anomaly, Outcome, R, Windows, keep_new, subject_of
from homeward_detector.state import Birth, Cert, IndexState, Leave, entry_key, from_ms, to_ms


def _pairs(certs: list[Cert], group: str) -> list[tuple[Cert, Cert]]:
    """(the first certificate, the first of each other group), in order of issue:
    groups are certificate numbers, or (delivery, mother) for one number.

    Issue order, not arrival order: certificates of different mothers come
    through different partitions, so which arrives first is chance, and the
    one reported as the reuse (its hospital, its mother) must not be."""
    firsts: dict[tuple[str, ...], Cert] = {}
    # Stable: certificates issued in the same millisecond keep arrival order.
    for c in sorted(certs, key=lambda c: c.issued_ms):
        g = (c.number,) if group == "number" else (c.delivery_id, c.mother)
        firsts.setdefault(g, c)
    heads = list(firsts.values())
    return [(heads[0], c) for c in heads[1:]]


def _index_rules(s: IndexState, at: datetime) -> list[Anomaly]:
    certs = list(s.certs.values())
    found: list[Anomaly] = []
    if s.kind == "certificate":
        for first, c in _pairs(certs, "content"):
            found.append(
                Anomaly(
                    R.CERTIFICATE_NUMBER_REUSED,
                    Severity.CRITICAL,
                    c.hospital,
                    c.mother,
                    (first.eid, c.eid),
                    at,
                    f"certificate number {c.number} used on two certificates "
                    f"(deliveries {first.delivery_id} and {c.delivery_id})",
                )
            )
        return found
    d = s.delivery
    if d is not None:
        for c in certs:
            if c.mother != d.mother:
                found.append(
                    Anomaly(
                        R.CERTIFICATE_MOTHER_MISMATCH,
                        Severity.CRITICAL,
                        c.hospital,
                        c.mother,
                        (d.eid, c.eid),
                        at,
                        f"certificate {c.number} names a mother other than the one on "
                        f"delivery {d.delivery_id}",
                    )
                )
    for first, c in _pairs(certs, "number"):
        found.append(
            Anomaly(
                R.DELIVERY_CERTIFIED_TWICE,
                Severity.CRITICAL,
                c.hospital,
                d.mother if d is not None else c.mother,
                (first.eid, c.eid),
                at,
                f"delivery {c.delivery_id} certified twice: {first.number} and {c.number}",
            )
        )
    return found


def index_expiry(s: IndexState, w: Windows) -> int:
    """When the key's window closes: every rule on it has been decided by then."""
    late = w.ms("lateness")
    if s.kind == "certificate":
        return max((c.issued_ms for c in s.certs.values()), default=0) + w.ms("number") + late
    span = w.ms("certificate")
    if w.uncertified_enabled:
        span = max(span, w.ms("uncertified_after"))
    times = [c.issued_ms for c in s.certs.values()] + [lv.discharged_ms for lv in s.leaves.values()]
    if s.delivery is not None:
        times.append(s.delivery.delivered_ms)
    return max(times, default=0) + span + late


def index_record(
    state: IndexState | None, key: str, event: Event, eid: str, at: datetime, w: Windows
) -> Outcome:
    s = state or IndexState(key)
    ek = entry_key(event)
    if s.seen(eid, ek):
        return Outcome(state, changed=False, note="duplicate")
    if isinstance(event, DeliveryRecorded):
        if s.delivery is not None:
            # Another version of the same delivery id: the first one stands.
            return Outcome(state, changed=False, note="delivery already known")
        s.delivery = Birth(
            event.case_id, event.hospital_id, to_ms(event.delivered_at), eid, subject_of(event)
        )
        s.delivery_key = ek
    elif isinstance(event, BirthCertificateIssued):
        s.certs[ek] = Cert(
            event.case_id,
            event.hospital_id,
            to_ms(event.issued_at),
            eid,
            event.delivery_id,
            subject_of(event),
        )
    elif isinstance(event, DischargeRecorded):
        s.leaves[ek] = Leave(
            event.case_id, to_ms(event.discharged_at), eid, event.admission_id, event.delivery_id
        )
    else:
        raise TypeError(f"{event.avro_name} is not on health.index.v1")
    forget_at = index_expiry(s, w)
    return keep_new(s, _index_rules(s, at), lambda _: forget_at)


def _uncertified(s: IndexState, now: datetime, w: Windows) -> tuple[int, Anomaly] | None:
    """Rule 5's (due ms, anomaly) while it is still to be decided, else None."""
    d = s.delivery
    if not w.uncertified_enabled or d is None or not s.leaves:
        return None
    in_time = d.delivered_ms + w.ms("uncertified_after")
    if any(c.issued_ms <= in_time for c in s.certs.values()):
        return None
    first = min(s.leaves.values(), key=lambda lv: (lv.discharged_ms, lv.eid))
    anomaly = Anomaly(
        R.DELIVERY_WITHOUT_CERTIFICATE,
        Severity.MEDIUM,
        d.hospital,
        d.mother,
        (d.eid, first.eid),
        now,
        f"delivery {d.delivery_id} at {d.hospital}: newborn discharged and no "
        f"certificate within {w.uncertified_after}",
    )
    if anomaly.id in s.raised:
        return None
    return in_time + w.ms("lateness"), anomaly


def index_tick(state: IndexState | None, now: datetime, w: Windows) -> Outcome:
    if state is None:
        return Outcome(None, changed=False)
    s, now_ms = state, to_ms(now)
    pending = _uncertified(s, now, w)
    found = [pending[1]] if pending is not None and now_ms >= pending[0] else []
    forget_at = index_expiry(s, w)
    out = keep_new(s, found, lambda _: forget_at)
    if forget_at <= now_ms:
        out.state = None
    return out


def index_wakeup(s: IndexState, w: Windows) -> int | None:
    pending = _uncertified(s, from_ms(0), w)
    return min([index_expiry(s, w), *([pending[0]] if pending else [])])
