"""The committed realm file is what the generator makes, and it says what the brief says."""

from __future__ import annotations

import json
from typing import Any

from homeward import paths
from homeward.agencies import load_directory
from homeward.auth.roles import RolesTable, roles_file
from homeward.idp.realm import DEMO_HOSPITAL_IDS, build_realm, generate
from homeward.idp.server import realm_file
from homeward_health.synthetic import DEMO_HOSPITALS


def _realm() -> dict[str, Any]:
    return build_realm(load_directory(paths.demo_directory_file()), RolesTable.load())


def test_committed_realm_file_is_current() -> None:
    expected = generate(paths.demo_directory_file(), roles_file())
    assert realm_file().read_text(encoding="utf-8") == expected, (
        "deploy/keycloak/homeward-realm.json is stale: run python -m homeward.idp realm"
    )


def test_hospital_systems_are_the_demo_hospitals() -> None:
    assert tuple(h.id for h in DEMO_HOSPITALS) == DEMO_HOSPITAL_IDS


def test_realm_roles_are_the_roles_table() -> None:
    realm = _realm()
    table = RolesTable.load()
    assert [r["name"] for r in realm["roles"]["realm"]] == list(table.roles)
    assert realm["scopeMappings"] == [{"clientScope": "homeward", "roles": list(table.roles)}]
    assert realm["accessTokenLifespan"] == 300


def test_every_client_is_scoped_and_local() -> None:
    realm = _realm()
    for client in realm["clients"]:
        assert client["fullScopeAllowed"] is False, client["clientId"]
        assert client["defaultClientScopes"] == ["homeward"], client["clientId"]
        for uri in client.get("redirectUris", []):
            assert uri.startswith("http://127.0.0.1"), uri
        if not client["publicClient"]:
            assert client["secret"] == f"demo-secret-{client['clientId']}"


def test_every_agency_has_a_system_and_a_staff_user_whose_roles_the_table_honours() -> None:
    realm = _realm()
    table = RolesTable.load()
    directory = load_directory(paths.demo_directory_file())
    users = {u["username"]: u for u in realm["users"]}
    clients = {c["clientId"] for c in realm["clients"]}
    for agency in directory:
        client_id = f"agency-system-{agency.id.lower()}"
        assert client_id in clients
        for username in (f"service-account-{client_id}", f"staff-{agency.id.lower()}"):
            user = users[username]
            assert user["attributes"] == {
                "agency_id": [agency.id],
                "agency_type": [agency.type.value],
            }
            assert "agency_caseworker" in user["realmRoles"]
            for role in user["realmRoles"]:
                assert agency.type in table.roles[role].agency_types, (username, role)
    assert users["service-account-agency-system-pol-0001"]["realmRoles"] == [
        "police_officer",
        "agency_caseworker",
    ]


def test_named_systems() -> None:
    users = {u["username"]: u for u in _realm()["users"]}

    def roles(client: str) -> list[str]:
        return sorted(users[f"service-account-{client}"]["realmRoles"])

    assert roles("police-case-system") == ["police_officer", "police_supervisor"]
    assert roles("police-station-2-system") == ["police_officer"]
    assert roles("police-forensics-lab") == ["police_forensics"]
    assert roles("hospital-system-hosp-demo-2") == ["hospital_system", "mandatory_reporter"]
    assert roles("coordination-system") == ["coordination_officer"]
    assert roles("homeward-admin-system") == ["homeward_admin"]
    assert roles("revoked-system") == ["police_officer"]


def test_realm_file_is_valid_json_with_a_user_profile() -> None:
    realm = json.loads(realm_file().read_text(encoding="utf-8"))
    (profile,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    config = json.loads(profile["config"]["kc.user.profile.config"][0])
    agency = {a["name"]: a for a in config["attributes"]}["agency_id"]
    assert agency["permissions"]["edit"] == ["admin"]  # a person cannot change their agency
