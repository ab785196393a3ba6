"""Property-based fan-out on the real broker: random agency sets with agencies
1 km inside and outside each ring, random alert ages and target types. One
worker serves every example; each example is its own case around its own
centre, far enough from the others that their rings never overlap."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from homeward.agencies import Agency, AgencyType, dump_directory
from homeward.events import AlertUpdated, Location
from homeward.events.base import utcnow
from homeward.geo import destination
from homeward.projections import default_projections
from homeward_demo.processes import ServiceProcess
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader, service
from tests.integration.test_fanout import deliveries, inboxes, make_alert, publish

pytestmark = pytest.mark.integration
RINGS = (100, 200, 300, 500)
CLUSTERS = 12


@dataclass(frozen=True)
class Cluster:
    centre: tuple[float, float]
    nominal_km: dict[str, int]  # agency id -> the distance it was placed at
    agencies: list[Agency]


def make_cluster(index: int, rng: random.Random) -> Cluster:
    # Centres 15 degrees of longitude apart on the equator (~1,670 km): rings of
    # 500 km around two centres never meet.
    centre = (0.0, -170.0 + 15.0 * index)
    types = list(AgencyType)
    agencies, nominal = [], {}
    for n in range(rng.randint(8, 30)):
        km = rng.choice(RINGS) + rng.choice((-1, 1))
        lat, lon = destination(*centre, rng.uniform(0, 360), km)
        aid = f"P{index:02d}-{n:03d}"
        agencies.append(
            Agency(
                id=aid,
                type=rng.choice(types),
                name_zh=f"测试机构 {aid}",
                name_en=f"Test Agency {aid}",
                latitude=lat,
                longitude=lon,
                admin_code="990000",
            )
        )
        nominal[aid] = km
    return Cluster(centre, nominal, agencies)


@pytest.fixture(scope="module")
def world(bus_factory_module, tmp_path_factory) -> Iterator[tuple[Bus, list[Cluster], TopicReader]]:
    bus: Bus = bus_factory_module()
    rng = random.Random(20261123)
    clusters = [make_cluster(i, rng) for i in range(CLUSTERS)]
    tmp: Path = tmp_path_factory.mktemp("fanout-props")
    dump_directory([a for c in clusters for a in c.agencies], tmp / "agencies.csv")
    svc: ServiceProcess = service(
        ["-m", "homeward_fanout"],
        bus.env(
            "fanout",
            HOMEWARD_FANOUT_DIRECTORY=str(tmp / "agencies.csv"),
            HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="3600",
        ),
        tmp / "fanout.log",
    ).start("FANOUT_READY")
    reader = TopicReader(bus.settings, inboxes(bus))
    try:
        yield bus, clusters, reader
    finally:
        reader.close()
        svc.stop()


@settings(
    max_examples=CLUSTERS,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hours_before=st.floats(0.0, 4.0),
    targets=st.sets(st.sampled_from([t.value for t in AgencyType]), max_size=5),
    data=st.data(),
)
def test_exactly_the_agencies_in_range_of_the_target_types_get_one_delivery(
    world, hours_before: float, targets: set[str], data: st.DataObject
) -> None:
    bus, clusters, reader = world
    # Time passes between writing the alert and the fan-out reading it, so an
    # age right on a ring's edge could go either way: keep a minute clear.
    assume(all(abs(hours_before - edge) > 1 / 60 for edge in (1, 2, 3)))
    # Cases around the same centre do not interfere: each is its own alert.
    index = data.draw(st.integers(0, CLUSTERS - 1), label="cluster")
    cluster = clusters[index]
    case = f"CASE-PROP-{index:02d}-{uuid.uuid4().hex[:8]}"
    alert = make_alert(case, hours_before).model_copy(
        update={
            "last_seen": Location(
                latitude=cluster.centre[0],
                longitude=cluster.centre[1],
                description="Fictional crossroads",
            ),
            "last_seen_at": utcnow() - timedelta(hours=hours_before),
            "target_types": sorted(targets),
        }
    )
    radius = next(
        (km for limit, km in zip((1, 2, 3), RINGS, strict=False) if hours_before <= limit), 500
    )
    by_id = {a.id: a for a in cluster.agencies}
    expected = {
        aid
        for aid, km in cluster.nominal_km.items()
        if km <= radius and (not targets or by_id[aid].type.value in targets)
    }
    # An update with a public summary reaches every recipient, public channels
    # included (as a PublicNotice), so it marks the end of the alert's deliveries.
    alert_id, update_id = publish(
        bus,
        alert,
        AlertUpdated(
            case_id=case, new_information="property check", public_summary="Property check"
        ),
    )
    # The fan-out writes an agency's delivery of the alert before its delivery
    # of the update, to the same inbox partition (keyed by agency), so once the
    # update has reached every recipient the alert's deliveries are all on the
    # broker: nothing more can come.
    reader.until(
        lambda r: {d.agency_id for d in deliveries(r, update_id)} >= expected,
        60,
        f"update deliveries for {case}",
    )
    got = [d.agency_id for d in deliveries(reader, alert_id)]
    assert sorted(got) == sorted(expected)  # exactly these, once each
    assert sorted(d.agency_id for d in deliveries(reader, update_id)) == sorted(expected)
    # Each role gets only the event kinds its projection lists.
    projections = default_projections()
    for d in deliveries(reader, alert_id) + deliveries(reader, update_id):
        kinds = projections.allowed("AlertDelivery.event", d.agency_type)
        assert d.event.avro_name.rpartition(".")[2] in kinds, (d.agency_type, d.event.avro_name)
