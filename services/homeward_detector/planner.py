"""Every decision of the detector, as pure functions of (state, input, windows):
no Kafka, no clock, no Faust. Time comes in as the records' own times and as
ClockTick.now, so a test (or a worker restarted from its changelog) replays a
stream and gets the same anomalies with the same ids.

Two keyed views (docs/architecture.md, "The health-record detector"): by
person in person.py, by delivery id and certificate number in index.py."""

from __future__ import annotations

from homeward_detector.index import index_record, index_tick, index_wakeup
from homeward_detector.person import person_record, person_tick, person_wakeup
from homeward_detector.rules import Anomaly, Outcome, Windows, index_keys, subject_of

__all__ = [
    "Anomaly",
    "Outcome",
    "Windows",
    "index_keys",
    "index_record",
    "index_tick",
    "index_wakeup",
    "person_record",
    "person_tick",
    "person_wakeup",
    "subject_of",
]
