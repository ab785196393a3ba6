"""The hospital side of Homeward's health-record flow (digest flow 4).

    with HealthRecorder(settings) as recorder:
        recorder.record(admission)            # AdmissionRegistered, or a dict with "type"
        recorder.record_many([delivery, certificate, discharge])

Records go to health.records.v1 keyed by the person's id number (the
patient's; the mother's for deliveries, certificates and newborn discharges),
so one person's records stay in order on one partition. A bad record raises
RecordRejected naming the field and the reason, and nothing is sent.
"""

from homeward_health.recorder import (
    HealthRecord,
    HealthRecorder,
    Recorded,
    RecordRejected,
    RecordUnavailable,
    key_of,
    parse,
)

__all__ = [
    "HealthRecord",
    "HealthRecorder",
    "RecordRejected",
    "RecordUnavailable",
    "Recorded",
    "key_of",
    "parse",
]
