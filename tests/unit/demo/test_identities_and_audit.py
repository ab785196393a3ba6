"""The demo's callers and its audit figures, without a broker or a provider: the identities it
logs in as exist in the realm with the roles intake asks for, its case ids are in the police
system's namespace, and a chain counts as settled only once it ends on signed heads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from homeward import paths
from homeward.agencies import AgencyType, load_directory
from homeward.audit.chain import GENESIS, Chained, Item, Signer, chain_next
from homeward.audit.record import AuditEntry, AuditOutcome
from homeward.events import Sector
from homeward.idp import realm_file
from homeward.idp.realm import staff_username
from homeward_demo import audit, identity, reports, rescue, scenario, summary

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _realm() -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(realm_file().read_text(encoding="utf-8"))
    return realm


def _roles_of(username: str) -> list[str]:
    users = {u["username"]: u for u in _realm()["users"]}
    assert username in users, f"{username} is not a user of the realm"
    return list(users[username]["realmRoles"])


def test_the_police_system_may_issue_release_and_rescue() -> None:
    secrets = identity.realm_secrets()
    assert identity.POLICE_SYSTEM in secrets
    roles = _roles_of(f"service-account-{identity.POLICE_SYSTEM}")
    # The alert carries a public summary: a supervisor's decision.
    assert {"police_officer", "police_supervisor"} <= set(roles)


def test_an_unknown_system_is_named() -> None:
    people = identity.Identities("http://127.0.0.1:1/realms/homeward", {})
    with pytest.raises(KeyError, match="client_id"):
        people.system("no-such-system")


def test_reports_are_filed_by_staff_who_are_mandatory_reporters() -> None:
    agencies = list(load_directory(paths.demo_directory_file()))
    filers = reports.reporter_agencies(agencies)
    assert set(filers) == {r["sector"] for r in reports.reports()}
    assert filers[Sector.EDUCATION].type == AgencyType.EDUCATION
    assert filers[Sector.HOTEL].type == AgencyType.CULTURE_TOURISM
    for agency in filers.values():
        assert "mandatory_reporter" in _roles_of(staff_username(agency.id))
    # The same choice every run.
    assert reports.reporter_agencies(reversed(agencies)) == filers


def test_a_report_with_no_agency_of_its_type_is_named() -> None:
    agencies = [
        a
        for a in load_directory(paths.demo_directory_file())
        if a.type != AgencyType.CULTURE_TOURISM
    ]
    with pytest.raises(ValueError, match="directory: no culture_tourism agency"):
        reports.reporter_agencies(agencies)


def test_case_ids_are_in_the_police_systems_namespace() -> None:
    prefix = f"{identity.POLICE_AGENCY}-"
    assert scenario.CASE_ID.startswith(prefix)
    assert rescue.found_child()["case_id"] == scenario.CASE_ID  # closes the alert
    assert str(rescue.unknown_child()["case_id"]).startswith(prefix)


def test_the_sequencer_runs_with_its_own_key(tmp_path: Path) -> None:
    env = audit.sequencer_env({"HOMEWARD_AUDIT_GENERATE_KEY": "false"}, tmp_path)
    signing, public = audit.key_files(tmp_path)
    assert env["HOMEWARD_AUDIT_GENERATE_KEY"] == "true"
    assert env["HOMEWARD_AUDIT_SIGNING_KEY_FILE"] == str(signing)
    assert env["HOMEWARD_AUDIT_PUBLIC_KEYS_FILE"] == str(public)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        entry_id=f"AUD-TEST-{n:03d}",
        at=T0 + timedelta(seconds=n),
        service="intake",
        action="alert.issue",
        outcome=AuditOutcome.ACCEPTED,
        principal="police-case-system",
        agency_id="POL-0001",
        case_id="POL-0001-TEST-0001",
        status=202,
    )


def _chain(partition: int, entries: list[AuditEntry]) -> list[Chained]:
    out: list[Chained] = []
    prev = GENESIS
    for seq, e in enumerate(entries):
        item = chain_next(partition, seq, prev, e)
        out.append(item)
        prev = item.hash
    return out


def test_a_chain_is_settled_when_every_entry_is_on_it_under_a_signed_head() -> None:
    signer = Signer.generate()
    p0, p1 = _chain(0, [_entry(0), _entry(1)]), _chain(1, [_entry(2)])
    ids = {"AUD-TEST-000", "AUD-TEST-001", "AUD-TEST-002"}
    items: list[Item] = [*p0, signer.checkpoint(p0[-1], T0), *p1]
    assert not audit.complete(items, ids)  # partition 1 has no signed head yet
    items.append(signer.checkpoint(p1[-1], T0))
    assert audit.complete(items, ids)
    assert not audit.complete(items, ids | {"AUD-TEST-999"})  # one not chained yet
    stale: list[Item] = [*p0[:1], signer.checkpoint(p0[0], T0), p0[1]]
    assert not audit.complete(stale, {"AUD-TEST-000", "AUD-TEST-001"})  # head not covered


def _figures(**over: Any) -> dict[str, Any]:
    return {
        "audit_entries_written": 7,
        "audit_entries_chained": 7,
        "audit_checkpoints": 3,
        "audit_chain_settled": True,
        "audit_chain_verified": True,
        "audit_first_bad": None,
        **over,
    }


def test_the_summary_line_says_whether_the_chain_verified() -> None:
    assert summary.audit_line(_figures()) == (
        "audit record: 7 entries chained (of 7 intake wrote), 3 signed checkpoints; chain verified"
    )
    bad = summary.audit_line(
        _figures(audit_chain_verified=False, audit_first_bad="partition 0 seq 2: altered")
    )
    assert bad.endswith("chain NOT verified: FIRST BAD partition 0 seq 2: altered")
    assert "had not chained every entry" in summary.audit_line(
        _figures(audit_entries_chained=5, audit_chain_settled=False)
    )
