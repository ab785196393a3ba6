"""Police's desk for mandatory reports: read the reports filed on
police.reports.v1 and acknowledge them, which stops the router's clock.

    with ReportDesk(settings, group_id="ps-0001-reports") as desk:
        for filed in desk.reports(stop_event):
            desk.acknowledge(filed, police_unit="Test Unit 1", agency_id="PS-0001")

The desk reads as a consumer group (several officers' desks share the work);
the topic is police-only, like what it holds (the reporter's identity). Offsets
are committed once a polled batch has been handed out, so a report handed out
and not acknowledged when the desk stops is read again after a restart.
Acknowledgements on the same topic are skipped; records that cannot be read
are dead-lettered and the desk goes on.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from homeward import kafka
from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.codec import Codec, EventMeta
from homeward.events import MandatoryReportFiled, ReportAcknowledged
from homeward.metrics import SDK_SENT
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.dedup import DEFAULT_CAPACITY, Seen, SeenSet
from homeward_agency.delivery import RawRecord, source_for
from homeward_agency.inbox import InboxClients
from homeward_agency.outbox import SDK, consumed

SERVICE = "homeward-report-desk"
DEFAULT_GROUP = "homeward-police-report-desk"


@dataclass(frozen=True)
class FiledReport:
    """A decoded MandatoryReportFiled and where it came from."""

    report: MandatoryReportFiled
    meta: EventMeta
    topic: str
    partition: int
    offset: int

    @property
    def report_id(self) -> str:
        return self.report.case_id


class ReportDesk(InboxClients):
    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        group_id: str = DEFAULT_GROUP,
        topology: Topology | None = None,
        codec: Codec | None = None,
        seen_capacity: int = DEFAULT_CAPACITY,
        principal: str | None = None,
    ) -> None:
        self.settings = settings or KafkaSettings()
        # Acknowledgements name the police agency given to acknowledge(), under
        # the desk's principal: the router counts only police acknowledgements.
        self.principal = principal or self.settings.sasl_username
        self.topology = topology or Topology.load(prefix=self.settings.topic_prefix)
        self.topic = self.topology.get("reports").name
        self.dead_letter_topic = self.topology.get("dead_letters").name
        self.group_id = group_id
        self.codec = codec or Codec()
        self.seen = SeenSet(seen_capacity)
        self.counts = {"reports": 0, "acknowledgements": 0, "skipped": 0, "dead_letters": 0}
        super().__init__(
            self.settings, self.topic, group_id=group_id, dead_letter_topic=self.dead_letter_topic
        )

    # -- reading --------------------------------------------------------------
    def poll(self, timeout: float = 1.0) -> list[FiledReport]:
        """The reports filed since the last poll (each once), in partition order."""
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        out: list[FiledReport] = []
        for records in batches.values():
            for record in records:
                filed = self._take(record)
                if filed is not None:
                    out.append(filed)
        return out

    def _take(self, record: RawRecord) -> FiledReport | None:
        try:
            decoded = self.codec.decode(record.value, record.headers)
        except Exception as exc:  # any bad record is dead-lettered, never fatal
            self._outbox.dead_letter(record, exc, SERVICE)
            self.counts["dead_letters"] += 1
            return None
        consumed(record.topic, decoded.meta.type)
        if not isinstance(decoded.event, MandatoryReportFiled):
            self.counts["skipped"] += 1  # acknowledgements share the topic
            return None
        if self.seen.check(decoded.meta.id) is not Seen.NEW:
            self.counts["skipped"] += 1  # a redelivered copy keeps its event id
            return None
        self.counts["reports"] += 1
        return FiledReport(
            decoded.event, decoded.meta, record.topic, record.partition, record.offset
        )

    def reports(
        self, stop_event: threading.Event, poll_timeout: float = 0.5
    ) -> Iterator[FiledReport]:
        """Reports as they are filed, until `stop_event` is set; each polled batch
        is committed once all of it has been handed out."""
        while not stop_event.is_set():
            yield from self.poll(poll_timeout)
            self.commit()

    def commit(self, timeout: float = 30.0) -> None:
        """Commit what was polled, once dead letters sent so far are confirmed
        (a rebalance that took the partitions is logged: their new owner reads
        them again)."""
        self._commit(timeout=timeout)

    # -- acknowledging ----------------------------------------------------------
    def acknowledge(
        self,
        report: FiledReport | MandatoryReportFiled,
        police_unit: str,
        agency_id: str,
        note: str = "",
        *,
        timeout: float = 30.0,
    ) -> ReportAcknowledged:
        """Publish ReportAcknowledged (keyed by the report id, on the reports topic)
        and wait for the broker's ack."""
        filed = report.report if isinstance(report, FiledReport) else report
        causation = report.meta.id if isinstance(report, FiledReport) else None
        ack = ReportAcknowledged(
            case_id=filed.case_id,
            police_unit=police_unit,
            agency_id=agency_id,
            note=note,
            actor=agency_actor(agency_id, AgencyType.POLICE.value, self.principal),
        )
        record, _meta = self.codec.encode(
            ack,
            key=filed.case_id,
            source=source_for(agency_id),
            correlation_id=filed.case_id,
            causation_id=causation,
            event_id=str(uuid.uuid4()),
        )
        kafka.send_all(self._producer, [(self.topic, record)], timeout=timeout)
        SDK_SENT.labels(SDK, self.topic, ack.avro_name).inc()
        self.counts["acknowledgements"] += 1
        return ack
