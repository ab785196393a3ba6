"""Property: a stream of consistent records (every delivery with exactly one
certificate of the same mother and hospital, identity checks passed, stays
one after the other), in any order and with copies, raises nothing, and
leaves no state once its windows have closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.events import Event
from tests.unit.detector.world import (
    DAY,
    HOUR,
    T0,
    Detector,
    W,
    admission,
    certificate,
    delivery,
    discharge,
    mother,
)

HOSPITALS = ["HOSP-P-1", "HOSP-P-2", "HOSP-P-3"]
WINDOWS = replace(W, uncertified_enabled=True)  # the strictest setting: rule 5 on too

stay = st.fixed_dictionaries(
    {
        "gap_h": st.integers(1, 24 * 20),  # after the previous discharge
        "length_h": st.integers(1, 24 * 10),
        "hospital": st.sampled_from(HOSPITALS),
        "delivers": st.booleans(),
        "cert_after_h": st.integers(0, 24 * 3 - 1),  # within UNCERTIFIED_AFTER
        "open": st.booleans(),  # the last stay may not have ended yet
    }
)


def person_records(n: int, stays: list[dict[str, Any]]) -> list[Event]:
    m = mother(f"P{n}")
    t = T0
    out: list[Event] = []
    for i, s in enumerate(stays):
        t += timedelta(hours=s["gap_h"])
        adm, end = f"A{n}-{i}", t + timedelta(hours=s["length_h"])
        out.append(admission(m, adm, t, hospital=s["hospital"]))
        if s["delivers"]:
            born = t + (end - t) / 2
            dl = f"D{n}-{i}"
            out.append(delivery(m, dl, born, hospital=s["hospital"], admission_id=adm))
            issued = born + timedelta(hours=s["cert_after_h"])
            out.append(certificate(m, f"C{n}-{i}", dl, issued, hospital=s["hospital"]))
            out.append(discharge(m, f"N{n}-{i}", end, s["hospital"], adm, delivery_id=dl))
        if not (s["open"] and i == len(stays) - 1):
            out.append(discharge(m, f"X{n}-{i}", end, s["hospital"], admission_id=adm))
        t = end
    return out


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[Event, int]]:
    people = draw(st.lists(st.lists(stay, min_size=1, max_size=4), min_size=1, max_size=4))
    records = [r for n, stays in enumerate(people) for r in person_records(n, stays)]
    numbered = list(enumerate(records))
    # Copies: the same event again, or the same content under a new event id.
    copies = draw(st.lists(st.sampled_from(numbered), max_size=4)) if numbered else []
    resent = [(e, i if draw(st.booleans()) else -1 - k) for k, (i, e) in enumerate(copies)]
    return draw(st.permutations([(e, i) for i, e in numbered] + resent))


@settings(max_examples=150, deadline=None)
@given(streams())
def test_consistent_records_in_any_order_raise_nothing(stream: list[tuple[Event, int]]) -> None:
    d = Detector(windows=WINDOWS)
    for event, n in stream:
        d.record(event, event_id=f"evt-{n}")
    last = T0 + 4 * 30 * DAY
    d.tick(last)
    assert d.raised == []
    d.tick(last + WINDOWS.max_stay + WINDOWS.number + WINDOWS.lateness + HOUR)
    assert d.raised == [] and d.persons == {} and d.index == {}
