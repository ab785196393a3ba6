"""A permanent failure on one output topic: the fan-out parks the refused records
on the dead-letter topic (reason, the topic they were meant for), counts them,
reports not ready (check `emit`), and goes on with the next records.

The refusal is a real one: one agency type's inbox is given a max.message.bytes
smaller than any delivery, so the broker answers MESSAGE_TOO_LARGE for good.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from homeward.agency_types import AgencyType
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader
from tests.integration.test_fanout import deliveries, fanout, make_alert, publish
from tests.integration.test_metrics import free_port
from tests.unit.fanout.geo import agency_at

pytestmark = pytest.mark.integration

REFUSED, OPEN = AgencyType.POLICE, AgencyType.HEALTH


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_record_refused_for_good_is_parked_and_the_partition_goes_on(
    bus: Bus, tmp_path: Path
) -> None:
    refused_inbox = bus.topology.inbox(REFUSED).name
    open_inbox = bus.topology.inbox(OPEN).name
    dlq = bus.topic("dead_letters")
    admin = KafkaAdminClient(**bus.settings.kafka_python())
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, refused_inbox, {"max.message.bytes": "200"})]
        )
    finally:
        admin.close()

    agencies = [
        agency_at(1, 2, type_=REFUSED),
        agency_at(2, 3, type_=OPEN),
        agency_at(999, 5, type_=AgencyType.COORDINATION_OFFICE),
    ]
    port = free_port()
    svc = fanout(bus, tmp_path, agencies, HOMEWARD_FANOUT_METRICS_PORT=str(port))
    svc.start("FANOUT_READY")
    reader = TopicReader(bus.settings, [open_inbox, refused_inbox, dlq])
    base = f"http://127.0.0.1:{port}"
    try:
        (first,) = publish(bus, make_alert("CASE-PARK-1", 0.1))

        def parked(r: TopicReader) -> list[dict[str, bytes]]:
            return [
                dict(h)
                for t, _, _, h in r.records
                if t == dlq and dict(h).get("dlq_topic") == refused_inbox.encode()
            ]

        reader.until(lambda r: len(parked(r)) >= 1, 60, "the refused delivery parked")
        reader.until(lambda r: len(deliveries(r, first)) >= 1, 60, "the open inbox served")
        letter = parked(reader)[0]
        assert letter["dlq_service"] == b"fanout"
        assert letter["dlq_partition"] == b"-1" and letter["dlq_offset"] == b"-1"
        assert b"MessageSizeTooLargeError" in letter["dlq_reason"]
        assert letter["ce_type"].endswith(b".AlertDelivery")

        status, body = get(f"{base}/readyz")
        assert status == 503, body
        reasons = json.loads(body)["reasons"]
        assert "emit" in reasons, reasons
        assert refused_inbox in reasons["emit"]

        _, metrics = get(f"{base}/metrics")
        sample = re.search(
            r'homeward_emit_parked_total\{[^}]*topic="'
            + re.escape(refused_inbox)
            + r'"[^}]*\} (\S+)',
            metrics,
        )
        assert sample and float(sample.group(1)) >= 1, metrics[-2000:]

        # The partition was not stalled: the next alert is handled too.
        (second,) = publish(bus, make_alert("CASE-PARK-2", 0.1))
        reader.until(lambda r: len(deliveries(r, second)) >= 1, 60, "the next alert delivered")
        reader.until(lambda r: len(parked(r)) >= 2, 60, "the next refused delivery parked")
        assert not any(t == refused_inbox for t, *_ in reader.records)
        served = {d.event.agency_id for t, d in reader.decoded if t == open_inbox}
        assert served == {agencies[1].id}
    finally:
        reader.close()
        svc.stop()
