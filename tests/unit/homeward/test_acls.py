from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homeward.errors import ConfigError
from homeward.events import Classification
from homeward.paths import topology_file
from homeward.topology import POLICE_ONLY_PREFIX, Topology
from homeward.topology.acls import Grant, plan
from homeward.topology.model import SERVICE_ROLES


def test_every_declared_grant_is_planned_and_nothing_else() -> None:
    topology = Topology.load(prefix="")
    grants = plan(topology)
    want = {Grant(f"User:{r}", "WRITE", t.name) for t in topology.all() for r in t.writers}
    want |= {Grant(f"User:{r}", "READ", t.name) for t in topology.all() for r in t.readers}
    assert set(grants) == want
    assert Grant("User:media", "READ", "inbox.media.v1") in grants
    police_inbox = topology.inbox("police").name
    assert police_inbox == "police.inbox.v1"
    assert Grant("User:police", "READ", police_inbox) in grants
    assert {g.principal for g in grants if g.topic == police_inbox and g.operation == "READ"} == {
        "User:police"
    }


def test_only_police_and_homewards_services_read_police_only_topics() -> None:
    readers = {f"User:{r}" for r in {"police", *SERVICE_ROLES}}
    police_topics = set()
    for g in plan(Topology.load(prefix="")):
        if g.topic.startswith(POLICE_ONLY_PREFIX):
            police_topics.add(g.topic)
            if g.operation == "READ":
                assert g.principal in readers, g
    # The prefix one ACL covers holds exactly the police-only topics.
    topology = Topology.load(prefix="")
    police_only = {t.name for t in topology.all() if t.classification == Classification.POLICE_ONLY}
    assert police_only == police_topics


def test_a_police_only_topic_readable_by_another_agency_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load(topology_file().read_text())
    doc["topics"]["dead_letters"]["readers"] = ["police", "media"]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.dead_letters.readers"
    assert "media" in caught.value.reason
