"""topology/topics.yaml: names, classifications, inboxes, prefixes, schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from homeward import paths
from homeward.agencies import AgencyType
from homeward.catalogue import Catalogue
from homeward.errors import ConfigError
from homeward.events import EVENT_TYPES, Classification, PublicNotice
from homeward.events.alerts import DELIVERABLE
from homeward.topology import POLICE_ONLY_PREFIX, Topology

TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")
# Topics declare values by short name; the names are unique across namespaces.
SHORT_NAMES = {name.rpartition(".")[2]: name for name in EVENT_TYPES}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HOMEWARD_TOPIC_PREFIX",
        "HOMEWARD_TOPOLOGY_FILE",
        "HOMEWARD_TOPOLOGY_REPLICATION",
        "HOMEWARD_TOPOLOGY_MIN_ISR",
        "HOMEWARD_TOPOLOGY_PARTITIONS",
        "HOMEWARD_TOPOLOGY_DEVELOPMENT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def topology() -> Topology:
    return Topology.load(prefix="")


def test_every_topic_name_is_domain_event_version(topology: Topology) -> None:
    bad = [t.name for t in topology.all() if not t.internal and not TOPIC_NAME.match(t.name)]
    assert not bad


def test_internal_topics_are_the_faust_changelogs_of_the_stateful_apps(
    topology: Topology,
) -> None:
    from homeward_detector.settings import DetectorSettings
    from homeward_fanout.settings import FanoutSettings
    from homeward_referrals.settings import ReferralSettings

    fanout = FanoutSettings.model_fields["app_id"].default
    referrals = ReferralSettings.model_fields["app_id"].default
    detector = DetectorSettings.model_fields["app_id"].default
    assert referrals == "homeward-referrals"
    assert detector == "homeward-detector"
    # Faust names a table's changelog <app id>-<table>-changelog.
    assert sorted(t.name for t in topology.all() if t.internal) == sorted(
        [
            f"{fanout}-cases-changelog",
            f"{referrals}-cases-changelog",
            f"{referrals}-reports-changelog",
            f"{referrals}-tips-changelog",
            f"{detector}-persons-changelog",
            f"{detector}-index-changelog",
        ]
    )


def test_topic_names_are_unique(topology: Topology) -> None:
    names = [t.name for t in topology.all()]
    assert len(names) == len(set(names))


def test_every_police_only_topic_is_under_the_police_prefix(topology: Topology) -> None:
    police_only = [t for t in topology.all() if t.classification is Classification.POLICE_ONLY]
    assert police_only, "the dead-letter topic at least is police-only"
    assert all(t.name.startswith(POLICE_ONLY_PREFIX) for t in police_only)


def test_the_dead_letter_topic_is_police_only(topology: Topology) -> None:
    assert topology.get("dead_letters").classification is Classification.POLICE_ONLY


@pytest.mark.parametrize("agency_type", list(AgencyType))
def test_every_agency_type_has_its_own_inbox(topology: Topology, agency_type: AgencyType) -> None:
    inbox = topology.inbox(agency_type)
    assert inbox is topology.get(f"inbox.{agency_type.value}")
    if agency_type is AgencyType.POLICE:
        # It carries police-only referrals (DNA sampling): under the police. prefix.
        assert inbox.name == "police.inbox.v1"
        assert inbox.classification is Classification.POLICE_ONLY
    else:
        assert inbox.name == f"inbox.{agency_type.value}.v1"
        assert inbox.classification is Classification.RESTRICTED
    assert inbox.key == "agency_id"
    # Its agency type's systems, and the gateway that serves each agency its own.
    assert inbox.readers == (agency_type.value, "gateway")
    assert set(inbox.writers) == {"fanout", "referrals"}
    assert {
        "AlertDelivery",
        "DeliveryEscalated",
        "ReferralRequested",
        "ReferralAnswerRefused",
        "ReferralOverdue",
        "ReferralEscalated",
        "ReportOverdue",
    } <= set(inbox.values)
    assert topology.inbox(agency_type.value) is inbox


def test_inboxes_are_distinct(topology: Topology) -> None:
    names = {topology.inbox(t).name for t in AgencyType}
    assert len(names) == len(AgencyType)


def test_the_prefix_is_applied_to_every_topic(topology: Topology) -> None:
    prefixed = Topology.load(prefix="t0123456789.")
    assert prefixed.prefix == "t0123456789."
    plain = {t.id: t.name for t in topology.all()}
    assert {t.id: t.name for t in prefixed.all()} == {
        tid: f"t0123456789.{name}" for tid, name in plain.items()
    }
    for t in prefixed.all():
        if t.classification is Classification.POLICE_ONLY:
            assert t.name.startswith(f"t0123456789.{POLICE_ONLY_PREFIX}")


def test_the_prefix_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_TOPIC_PREFIX", "envp.")
    assert Topology.load().get("alert_events").name == "envp.alerts.events.v1"


def test_sizing_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_TOPOLOGY_PARTITIONS", "12")
    monkeypatch.setenv("HOMEWARD_TOPOLOGY_REPLICATION", "3")
    monkeypatch.setenv("HOMEWARD_TOPOLOGY_MIN_ISR", "2")
    topic = Topology.load(prefix="").get("alert_events")
    assert (topic.partitions, topic.replication) == (12, 3)
    assert topic.config_dict()["min.insync.replicas"] == "2"
    assert Topology.load(prefix="").with_partitions(2).get("alert_events").partitions == 2


def test_short_event_names_are_unique() -> None:
    assert len(SHORT_NAMES) == len(EVENT_TYPES)


def test_every_declared_value_is_an_event_schema_in_the_catalogue(topology: Topology) -> None:
    catalogue = Catalogue.load()
    declared = {v for t in topology.all() for v in t.values}
    assert declared, "no topic declares its values"
    for value in sorted(declared):
        assert value in SHORT_NAMES, f"{value} is declared on a topic but is no event type"
        assert catalogue.by_name(SHORT_NAMES[value]).is_record


def test_every_event_type_travels_on_some_topic(topology: Topology) -> None:
    declared = {SHORT_NAMES[v] for t in topology.all() for v in t.values}
    # A PublicNotice travels only inside an AlertDelivery, which inboxes declare.
    assert "AlertDelivery" in {v for t in topology.all() for v in t.values}
    carried = set(DELIVERABLE)
    assert set(EVENT_TYPES) <= declared | carried
    assert set(EVENT_TYPES) - declared == {PublicNotice.avro_name}


def test_police_only_events_travel_only_on_police_only_topics(topology: Topology) -> None:
    for t in topology.all():
        for value in t.values:
            model = EVENT_TYPES[SHORT_NAMES[value]]
            if model.classification is Classification.POLICE_ONLY:
                assert t.classification is Classification.POLICE_ONLY, (t.id, value)


def test_case_keyed_topics_are_co_partitioned(topology: Topology) -> None:
    counts = {t.partitions for t in topology.all() if t.key.startswith("case_id")}
    assert len(counts) == 1


def test_an_unknown_topic_id_is_a_config_error(topology: Topology) -> None:
    with pytest.raises(ConfigError) as caught:
        topology.get("nope")
    assert caught.value.field == "topics.nope"


def _write(tmp_path: Path, edit: object) -> Path:
    doc = yaml.safe_load(paths.topology_file().read_text(encoding="utf-8"))
    edit(doc)  # type: ignore[operator]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_police_only_topic_outside_the_police_prefix_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["topics"]["dead_letters"].update(name="ops.dlq.v1"))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.dead_letters.name"


def test_a_topic_without_a_classification_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["topics"]["alert_acks"].pop("classification"))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.alert_acks.classification"


def test_an_unknown_classification_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["topics"]["alert_acks"].update(classification="secret"))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.alert_acks.classification"


def test_the_declared_defaults_are_the_production_floor() -> None:
    topic = Topology.load(prefix="").get("alert_events")
    assert topic.replication == 3
    assert topic.config_dict()["min.insync.replicas"] == "2"


def test_a_development_harness_gets_one_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_TOPOLOGY_DEVELOPMENT", "1")
    topic = Topology.load(prefix="").get("alert_events")
    assert topic.replication == 1
    assert topic.config_dict()["min.insync.replicas"] == "1"


@pytest.mark.parametrize(
    ("rf", "isr", "field"),
    [("1", "2", "HOMEWARD_TOPOLOGY_REPLICATION"), ("3", "1", "HOMEWARD_TOPOLOGY_MIN_ISR")],
)
def test_apply_refuses_below_the_floor_outside_development(
    monkeypatch: pytest.MonkeyPatch, rf: str, isr: str, field: str
) -> None:
    from homeward.topology.admin import apply

    monkeypatch.setenv("HOMEWARD_TOPOLOGY_REPLICATION", rf)
    monkeypatch.setenv("HOMEWARD_TOPOLOGY_MIN_ISR", isr)
    # Refused before any connection: the bootstrap address is never dialled.
    with pytest.raises(ConfigError) as caught:
        apply(Topology.load(prefix=""))
    assert caught.value.field == field
    assert "HOMEWARD_TOPOLOGY_DEVELOPMENT=1" in str(caught.value)


def test_the_floor_passes_at_three_and_two() -> None:
    from homeward.topology.admin import below_production_floor

    assert below_production_floor(Topology.load(prefix="")) == []
