"""The site's YAML files (topology/*.yaml) with a missing or unknown key, or
of the wrong type: each a ConfigError naming the file, the entry and the key
(issue 12; before: a bare `KeyError: 'inbox'`, and unknown keys ignored)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from homeward import paths
from homeward.auth.roles import RolesTable
from homeward.errors import ConfigError
from homeward.projections import Projections
from homeward.topology import Topology
from homeward.topology.principals import load_principals
from homeward_gateway.webhooks.registry import Registry
from homeward_referrals.rules import load_rules

TOPOLOGY = paths.topology_file().parent

LOADERS: dict[str, Callable[[Path], Any]] = {
    "topics.yaml": lambda p: Topology.load(p, prefix=""),
    "principals.yaml": load_principals,
    "roles.yaml": RolesTable.load,
    "projections.yaml": Projections.load,
    "webhooks.yaml": Registry.load,
    "referrals.yaml": lambda p: load_rules(p),
}


def edited(tmp_path: Path, name: str, edit: Callable[[Any], None]) -> Path:
    doc = yaml.safe_load((TOPOLOGY / name).read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def refused(tmp_path: Path, name: str, edit: Callable[[Any], None]) -> ConfigError:
    path = edited(tmp_path, name, edit)
    with pytest.raises(ConfigError) as caught:
        LOADERS[name](path)
    assert str(path) in str(caught.value), "the message names the file"
    return caught.value


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_the_committed_files_load_unchanged(name: str, tmp_path: Path) -> None:
    LOADERS[name](edited(tmp_path, name, lambda doc: None))


def test_topics_without_the_inbox_section_name_it(tmp_path: Path) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d.pop("inbox"))
    assert (err.field, err.reason) == ("inbox", "missing key")


def test_a_misspelt_topic_key_is_refused_not_ignored(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "topics.yaml", lambda d: d["topics"]["alert_events"].update(partitons=3)
    )
    assert (err.field, err.reason) == ("topics.alert_events.partitons", "unknown key")


def test_a_topic_without_a_name_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d["topics"]["alert_events"].pop("name"))
    assert (err.field, err.reason) == ("topics.alert_events.name", "missing key")


def test_a_partition_count_as_text_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d["defaults"].update(partitions="6"))
    assert err.field == "defaults.partitions"


def test_an_inbox_override_for_no_agency_type_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d["inbox"]["overrides"].update(polise={}))
    assert err.field == "inbox.overrides"


def test_a_meaning_error_in_topics_names_the_file_too(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "topics.yaml", lambda d: d["topics"]["alert_events"].update(readers=["nobody"])
    )
    assert err.field == "topics.alert_events.readers"


def test_a_principal_with_an_unknown_key(tmp_path: Path) -> None:
    err = refused(tmp_path, "principals.yaml", lambda d: d["principals"]["intake"].update(grups=[]))
    assert (err.field, err.reason) == ("principals.intake.grups", "unknown key")


def test_a_principal_with_roles_as_a_string(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "principals.yaml", lambda d: d["principals"]["intake"].update(roles="intake")
    )
    assert err.field == "principals.intake.roles"


def test_a_principal_without_a_kind(tmp_path: Path) -> None:
    err = refused(tmp_path, "principals.yaml", lambda d: d["principals"]["intake"].pop("kind"))
    assert (err.field, err.reason) == ("principals.intake.kind", "missing key")


def test_a_role_with_an_unknown_key(tmp_path: Path) -> None:
    err = refused(tmp_path, "roles.yaml", lambda d: d["roles"]["police_officer"].update(action=[]))
    assert (err.field, err.reason) == ("roles.police_officer.action", "unknown key")


def test_a_role_without_its_agency_types(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "roles.yaml", lambda d: d["roles"]["police_officer"].pop("agency_types")
    )
    assert (err.field, err.reason) == ("roles.police_officer.agency_types", "missing key")


def test_a_roles_file_with_an_unknown_section(tmp_path: Path) -> None:
    err = refused(tmp_path, "roles.yaml", lambda d: d.update(supervisors={}))
    assert (err.field, err.reason) == ("supervisors", "unknown key")


def test_a_projection_for_no_agency_type(tmp_path: Path) -> None:
    err = refused(tmp_path, "projections.yaml", lambda d: d["VictimProfile"].update(helth=["name"]))
    assert err.field == "VictimProfile.helth"
    assert "unknown key" in err.reason


def test_a_projection_of_an_event_not_modelled(tmp_path: Path) -> None:
    err = refused(tmp_path, "projections.yaml", lambda d: d.update(VictimProfil={"police": "*"}))
    assert err.field == "VictimProfil"


def test_a_projection_that_is_neither_all_nor_a_list(tmp_path: Path) -> None:
    err = refused(tmp_path, "projections.yaml", lambda d: d["VictimProfile"].update(health="name"))
    assert err.field == "VictimProfile.health"


def test_a_webhook_registry_with_an_unknown_section(tmp_path: Path) -> None:
    err = refused(tmp_path, "webhooks.yaml", lambda d: d.update(endpoint={}))
    assert "endpoint" in str(err)
    assert "unknown key" in err.reason


def test_a_rules_file_with_an_unknown_section(tmp_path: Path) -> None:
    err = refused(tmp_path, "referrals.yaml", lambda d: d.update(rule=[]))
    assert "unknown key" in err.reason


def test_a_rules_row_with_an_unknown_key_names_the_file(tmp_path: Path) -> None:
    err = refused(tmp_path, "referrals.yaml", lambda d: d["rules"][0].update(agency="x"))
    assert err.field == "rules[0].agency"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_bad_yaml_names_the_file_and_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text("a: 1\nb: [unclosed\nc: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        LOADERS[name](path)
    assert str(path) in str(caught.value)
    assert "line " in caught.value.reason


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_document_that_is_a_list_is_a_config_error(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        LOADERS[name](path)


# -- found by the fuzz campaign (docs/fuzzing.md) -------------------------------------------
@pytest.mark.parametrize("name", ["inbox.{", "inbox.{x}", "inbox.{0}", "inbox.}"])
def test_a_brace_in_the_inbox_name_template_is_a_config_error(tmp_path: Path, name: str) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d["inbox"].update(name=name))
    assert err.field == "inbox.name"
    assert "{agency_type}" in err.reason


def test_a_brace_in_the_inbox_readers_template_is_a_config_error(tmp_path: Path) -> None:
    err = refused(tmp_path, "topics.yaml", lambda d: d["inbox"].update(readers=["{0}"]))
    assert err.field == "inbox.readers"


def test_a_brace_in_an_agency_type_principal_role_is_a_config_error(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        "principals.yaml",
        lambda d: d["agency_types"]["{agency_type}"].update(roles=["{"]),
    )
    assert err.field == "agency_types.{agency_type}.roles"


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port/x", "https://h:99999/"])
def test_a_webhook_url_urlsplit_refuses_is_a_config_error(tmp_path: Path, url: str) -> None:
    err = refused(tmp_path, "webhooks.yaml", lambda d: d["endpoints"]["EDU-0010"].update(url=url))
    assert "EDU-0010.url" in str(err)


def test_webhook_events_as_a_string_is_refused_not_read_letter_by_letter(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "webhooks.yaml", lambda d: d["endpoints"]["EDU-0010"].update(events="alert")
    )
    assert "must be a list" in err.reason


def test_a_webhook_secret_file_path_with_a_nul_is_a_config_error(tmp_path: Path) -> None:
    def edit(d: Any) -> None:
        d["demo"] = False
        d["endpoints"]["EDU-0010"]["secrets"] = ["file:/run/a\x00b"]

    err = refused(tmp_path, "webhooks.yaml", edit)
    assert "secrets[0]" in str(err)


def test_a_union_error_names_the_key_not_the_type_pydantic_tried(tmp_path: Path) -> None:
    err = refused(tmp_path, "projections.yaml", lambda d: d["VictimProfile"].update(police=None))
    assert err.field == "VictimProfile.police"


@pytest.mark.parametrize(
    ("name", "edit", "field"),
    [
        (
            "principals.yaml",
            lambda d: d["agency_types"]["overrides"]["health"].update(roles=None),
            "agency_types.overrides.health.roles",
        ),
        (
            "topics.yaml",
            lambda d: d["inbox"]["overrides"]["police"].update(readers=None),
            "inbox.overrides.police.readers",
        ),
        (
            "topics.yaml",
            lambda d: d["topics"]["alert_events"].update(partitions=None),
            "topics.alert_events.partitions",
        ),
    ],
)
def test_an_optional_key_given_as_null_is_refused_by_its_type(
    tmp_path: Path, name: str, edit: Callable[[Any], None], field: str
) -> None:
    # Found by the campaign: `roles:` left empty in an override reached tuple(None).
    assert refused(tmp_path, name, edit).field == field
