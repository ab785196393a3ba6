from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homeward.agencies import AgencyType
from homeward.errors import ConfigError
from homeward.events import Classification
from homeward.paths import topology_file
from homeward.topology import POLICE_ONLY_PREFIX, Topology
from homeward.topology.acls import Grant, grants_table, plan
from homeward.topology.model import GRANTED_SERVICE_ROLES
from homeward.topology.principals import load_principals, principals_file
from homeward.topology.users import password_env_name, passwords, read_password_file


def topic_grants(grants: list[Grant]) -> set[tuple[str, str, str]]:
    return {(g.principal, g.operation, g.name) for g in grants if g.pattern == "LITERAL"}


def test_every_declared_topic_grant_is_planned_and_nothing_else() -> None:
    topology = Topology.load(prefix="")
    principals = load_principals()
    grants = plan(topology, principals)
    want = set()
    for p in principals:
        for t in topology.all():
            if set(p.roles) & set(t.writers):
                want.add((p.user, "WRITE", t.name))
            if set(p.roles) & set(t.readers):
                want.add((p.user, "READ", t.name))
    assert topic_grants(grants) == want
    assert ("User:media", "READ", "inbox.media.v1") in want
    police_inbox = topology.inbox("police").name
    assert police_inbox == "police.inbox.v1"
    readers = {g.principal for g in grants if g.name == police_inbox and g.operation == "READ"}
    # Police, and the gateway that serves each police unit its own deliveries.
    assert readers == {"User:police", "User:gateway"}
    # The detector's anomalies: police, and the gateway that shows them to police staff.
    anomalies = topology.get("anomalies").name
    readers = {g.principal for g in grants if g.name == anomalies and g.operation == "READ"}
    assert readers == {"User:police", "User:gateway"}
    # Only topic and group grants: no cluster grant, no transactional id.
    assert {g.resource for g in grants} == {"TOPIC", "GROUP"}
    assert {g.operation for g in grants} == {"READ", "WRITE", "CREATE"}


def test_each_agency_type_acknowledges_and_answers_as_itself() -> None:
    grants = topic_grants(plan(Topology.load(prefix="")))
    for agency_type in AgencyType:
        user = f"User:{agency_type.value}"
        assert (user, "WRITE", "alerts.acks.v1") in grants
        answers = (
            "police.referrals.v1" if agency_type == AgencyType.POLICE else "referrals.answers.v1"
        )
        assert (user, "WRITE", answers) in grants
    # Police answer on police.* only; nobody answers as "agency" any more.
    assert ("User:police", "WRITE", "referrals.answers.v1") not in grants
    assert not any(p == "User:agency" for p, _, _ in grants)


def test_police_read_every_police_topic_by_one_prefixed_grant_and_no_one_else_does() -> None:
    grants = plan(Topology.load(prefix="t1."))
    prefixed = [g for g in grants if g.resource == "TOPIC" and g.pattern == "PREFIXED"]
    police = [g for g in prefixed if g.name == "t1." + POLICE_ONLY_PREFIX]
    assert [(g.principal, g.operation) for g in police] == [("User:police", "READ")]
    # Every other prefixed topic grant is a Faust app's own namespace, under the prefix.
    for g in prefixed:
        if g not in police:
            assert g.name.startswith("t1.homeward-") and g.name.endswith("-"), g


def test_only_police_and_homewards_services_read_police_only_topics() -> None:
    topology = Topology.load(prefix="")
    readers = {f"User:{r}" for r in {"police", *GRANTED_SERVICE_ROLES}}
    police_topics = set()
    for g in plan(topology):
        if g.resource == "TOPIC" and g.name.startswith(POLICE_ONLY_PREFIX):
            police_topics.add(g.name)
            if g.operation == "READ":
                assert g.principal in readers, g
    police_only = {t.name for t in topology.all() if t.classification == Classification.POLICE_ONLY}
    assert police_only | {POLICE_ONLY_PREFIX} == police_topics


def test_group_grants_are_prefixed_under_the_topic_prefix() -> None:
    grants = [g for g in plan(Topology.load(prefix="t9.")) if g.resource == "GROUP"]
    assert all(g.pattern == "PREFIXED" and g.operation == "READ" for g in grants)
    by = {(g.principal, g.name) for g in grants}
    assert ("User:fanout", "t9.homeward-fanout") in by
    assert ("User:audit", "t9.homeward-audit") in by
    assert ("User:police", "t9.homeward-police-report-desk") in by
    assert ("User:media", "t9.homeward-agency-") in by
    assert not any(p == "User:intake" for p, _ in by)  # intake's readers take no group


def test_a_police_only_topic_readable_by_another_agency_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load(topology_file().read_text())
    doc["topics"]["dead_letters"]["readers"] = ["police", "media"]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.dead_letters.readers"
    assert "media" in caught.value.reason


def test_an_unknown_role_is_refused_naming_the_topic(tmp_path: Path) -> None:
    doc = yaml.safe_load(topology_file().read_text())
    doc["topics"]["alert_acks"]["writers"] = ["agency"]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.alert_acks.writers"


def test_only_police_may_hold_the_police_prefix(tmp_path: Path) -> None:
    doc = yaml.safe_load(principals_file().read_text())
    doc["agency_types"]["overrides"]["media"] = {"police_prefix": True}
    path = tmp_path / "principals.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        load_principals(path)
    assert caught.value.field == "media"


def test_passwords_from_env_then_file_and_missing_ones_named(tmp_path: Path) -> None:
    principals = load_principals()
    secret = tmp_path / "kafka-passwords"
    secret.write_text("# a site's secret\nfanout=from-file\ncivil_affairs=ca-file\n")
    env = {password_env_name(p.name): f"pw-{p.name}" for p in principals if p.name != "fanout"}
    env[password_env_name("civil_affairs")] = "ca-env"
    env["HOMEWARD_KAFKA_PASSWORDS_FILE"] = str(secret)
    got = passwords(principals, env)
    assert got["fanout"] == "from-file" and got["civil_affairs"] == "ca-env"
    assert password_env_name("civil_affairs") == "HOMEWARD_KAFKA_PASSWORD_CIVIL_AFFAIRS"
    with pytest.raises(ConfigError) as caught:
        passwords(principals, {})
    assert "intake" in caught.value.reason and "pw-" not in caught.value.reason


def test_a_bad_password_line_is_named_by_number_without_its_content(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-passwords"
    secret.write_text("fanout=ok\nsecret-without-equals\n")
    with pytest.raises(ConfigError) as caught:
        read_password_file(secret)
    assert "line 2" in caught.value.reason and "secret-without" not in str(caught.value)


def test_the_grants_table_in_the_docs_is_the_one_the_declarations_give() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "kafka-security.md").read_text(encoding="utf-8")
    table = grants_table(Topology.load(prefix=""))
    assert table in doc, (
        "docs/kafka-security.md is stale: paste `HOMEWARD_TOPIC_PREFIX= "
        "python -m homeward.topology acls --markdown` over its grants table"
    )
