from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from homeward.errors import ConfigError
from homeward.paths import topology_file
from homeward.topology import Topology
from homeward.topology.acls import Grant, plan


def test_every_declared_grant_is_planned_and_nothing_else() -> None:
    topology = Topology.load(prefix="")
    grants = plan(topology)
    want = {Grant(f"User:{r}", "WRITE", t.name) for t in topology.all() for r in t.writers}
    want |= {Grant(f"User:{r}", "READ", t.name) for t in topology.all() for r in t.readers}
    assert set(grants) == want
    assert Grant("User:media", "READ", "inbox.media.v1") in grants
    assert Grant("User:media", "READ", "inbox.police.v1") not in grants


def test_only_police_read_police_only_topics() -> None:
    for g in plan(Topology.load(prefix="")):
        if g.topic.startswith("police.") and g.operation == "READ":
            assert g.principal == "User:police"


def test_a_police_only_topic_readable_by_another_agency_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load(topology_file().read_text())
    doc["topics"]["dead_letters"]["readers"] = ["police", "media"]
    path = tmp_path / "topics.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        Topology.load(path, prefix="")
    assert caught.value.field == "topics.dead_letters.readers"
    assert "media" in caught.value.reason
