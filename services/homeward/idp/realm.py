"""The Homeward realm of the embedded Keycloak, generated from the demo directory and the roles
table: ``python -m homeward.idp realm`` writes ``deploy/keycloak/homeward-realm.json`` (committed;
a unit test checks the file equals what this produces).

Everything in it is plainly fake: secrets are ``demo-secret-<client>``, passwords
``demo-password-<agency id>``. What a token of this realm carries (the token contract):
``iss``, ``aud`` containing ``homeward``, ``exp``, ``sub``, ``azp``, ``preferred_username``,
``agency_id``, ``agency_type`` (user attributes, service-account users included) and ``roles``
(a top-level list of roles-table role names). Every client has ``fullScopeAllowed: false`` and
the one client scope ``homeward`` maps exactly the roles-table roles, so no other role (such as
Keycloak's ``offline_access``) reaches a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from homeward.agencies import Agency, Directory
from homeward.agency_types import AgencyType
from homeward.auth.roles import RolesTable

REALM = "homeward"
AUDIENCE = "homeward"
SCOPE = "homeward"
ACCESS_TOKEN_LIFESPAN_SECONDS = 300
CONSOLE_CLIENT = "homeward-console"
REVOKED_CLIENT = "revoked-system"
#: The hospitals the demo's health stream records for (homeward_health.synthetic.DEMO_HOSPITALS;
#: a unit test keeps the two equal). They are not directory rows, so each is named here.
DEMO_HOSPITAL_IDS = ("HOSP-DEMO-1", "HOSP-DEMO-2")
#: Only 127.0.0.1: the embedded provider is for the demo and tests on this machine.
REDIRECT_URIS = ("http://127.0.0.1/*",)
# Cheap hashing: ~500 fake users are imported at each start; the default (argon2) would add
# most of a minute. The passwords are public anyway (demo-password-<agency>).
PASSWORD_POLICY = "hashAlgorithm(pbkdf2-sha256) and hashIterations(1000)"


def secret_of(client_id: str) -> str:
    return f"demo-secret-{client_id}"


def password_of(username: str) -> str:
    """``staff-pol-0001`` -> ``demo-password-pol-0001``."""
    return f"demo-password-{username.removeprefix('staff-')}"


def agency_client_id(agency_id: str) -> str:
    return f"agency-system-{agency_id.lower()}"


def staff_username(agency_id: str) -> str:
    return f"staff-{agency_id.lower()}"


# -- the pieces


def _claim_mapper(name: str, protocol_mapper: str, config: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "openid-connect",
        "protocolMapper": protocol_mapper,
        "consentRequired": False,
        "config": {
            "access.token.claim": "true",
            "introspection.token.claim": "true",
            "id.token.claim": "true",
            "userinfo.token.claim": "true",
            **config,
        },
    }


def _attribute(name: str) -> dict[str, Any]:
    return _claim_mapper(
        name,
        "oidc-usermodel-attribute-mapper",
        {"user.attribute": name, "claim.name": name, "jsonType.label": "String"},
    )


def client_scope() -> dict[str, Any]:
    """The one scope every client gets: the token contract's claims."""
    return {
        "name": SCOPE,
        "description": "Homeward's token contract: aud homeward, agency_id, agency_type, roles",
        "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
        "protocolMappers": [
            _claim_mapper("sub", "oidc-sub-mapper", {}),
            _claim_mapper(
                "audience homeward",
                "oidc-audience-mapper",
                {"included.custom.audience": AUDIENCE, "id.token.claim": "false"},
            ),
            _claim_mapper(
                "preferred_username",
                "oidc-usermodel-attribute-mapper",
                {
                    "user.attribute": "username",
                    "claim.name": "preferred_username",
                    "jsonType.label": "String",
                },
            ),
            _attribute("agency_id"),
            _attribute("agency_type"),
            _claim_mapper(
                "roles",
                "oidc-usermodel-realm-role-mapper",
                {"claim.name": "roles", "multivalued": "true", "jsonType.label": "String"},
            ),
        ],
    }


def user_profile() -> dict[str, Any]:
    """Declared attributes: only an administrator may set a user's agency (a person must not
    change their own agency through the account console); names and email are optional."""
    admin_only = {"view": ["admin", "user"], "edit": ["admin"]}
    both = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    attributes: list[dict[str, Any]] = [
        {
            "name": "username",
            "displayName": "${username}",
            "validations": {
                "length": {"min": 3, "max": 255},
                "username-prohibited-characters": {},
                "up-username-not-idn-homograph": {},
            },
            "permissions": both,
            "multivalued": False,
        },
        {
            "name": "email",
            "displayName": "${email}",
            "validations": {"email": {}, "length": {"max": 255}},
            "permissions": both,
            "multivalued": False,
        },
    ]
    for name, label in (("firstName", "${firstName}"), ("lastName", "${lastName}")):
        attributes.append(
            {
                "name": name,
                "displayName": label,
                "validations": {"length": {"max": 255}, "person-name-prohibited-characters": {}},
                "permissions": both,
                "multivalued": False,
            }
        )
    for name, label in (("agency_id", "Agency (directory id)"), ("agency_type", "Agency type")):
        attributes.append(
            {"name": name, "displayName": label, "permissions": admin_only, "multivalued": False}
        )
    return {"attributes": attributes, "groups": []}


def _allowed(table: RolesTable, agency_type: AgencyType, wanted: Iterable[str]) -> list[str]:
    """The wanted roles the roles table honours for this agency type, in table order."""
    want = set(wanted)
    return [
        name
        for name, role in table.roles.items()
        if name in want and agency_type in role.agency_types
    ]


def agency_roles(table: RolesTable, agency_type: AgencyType) -> list[str]:
    """An agency's system and staff: caseworker, mandatory reporter where the table allows
    the type, police officer for police, coordination officer for the coordination office,
    judicial officer for the procuratorate and the court."""
    wanted = {"agency_caseworker", "mandatory_reporter"}
    if agency_type == AgencyType.POLICE:
        wanted.add("police_officer")
    if agency_type == AgencyType.COORDINATION_OFFICE:
        wanted.add("coordination_officer")
    if agency_type in (AgencyType.PROCURATORATE, AgencyType.COURT):
        wanted.add("judicial_officer")
    return _allowed(table, agency_type, wanted)


def _system_client(client_id: str, description: str) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "description": description,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret_of(client_id),
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "fullScopeAllowed": False,
        "defaultClientScopes": [SCOPE],
        "optionalClientScopes": [],
    }


def _attributes(agency_id: str, agency_type: AgencyType) -> dict[str, list[str]]:
    return {"agency_id": [agency_id], "agency_type": [agency_type.value]}


def _service_account(
    client_id: str, agency_id: str, agency_type: AgencyType, roles: list[str]
) -> dict[str, Any]:
    return {
        "username": f"service-account-{client_id}",
        "enabled": True,
        "serviceAccountClientId": client_id,
        "attributes": _attributes(agency_id, agency_type),
        "realmRoles": roles,
    }


class _Builder:
    def __init__(self, table: RolesTable) -> None:
        self.table = table
        self.clients: list[dict[str, Any]] = []
        self.users: list[dict[str, Any]] = []

    def system(
        self,
        client_id: str,
        description: str,
        agency_id: str,
        agency_type: AgencyType,
        roles: list[str],
    ) -> None:
        granted = _allowed(self.table, agency_type, roles)
        if set(granted) != set(roles):
            raise ValueError(f"{client_id}: roles {roles} not all valid for {agency_type.value}")
        self.clients.append(_system_client(client_id, description))
        self.users.append(_service_account(client_id, agency_id, agency_type, granted))


def build_realm(directory: Directory, table: RolesTable) -> dict[str, Any]:
    """The realm representation Keycloak imports (``--import-realm``)."""
    b = _Builder(table)
    police = AgencyType.POLICE
    health = AgencyType.HEALTH
    b.system(
        "police-case-system",
        "Police case system of POL-0001 (the city bureau): issues and supervises alerts",
        "POL-0001",
        police,
        ["police_officer", "police_supervisor"],
    )
    b.system(
        "police-station-2-system",
        "Police case system of POL-0002 (a station, supervised by POL-0001)",
        "POL-0002",
        police,
        ["police_officer"],
    )
    b.system(
        "police-forensics-lab",
        "The DNA laboratory of POL-0001",
        "POL-0001",
        police,
        ["police_forensics"],
    )
    for hospital in DEMO_HOSPITAL_IDS:
        b.system(
            f"hospital-system-{hospital.lower()}",
            f"Records system of the demo hospital {hospital}",
            hospital,
            health,
            ["hospital_system", "mandatory_reporter"],
        )
    coordination = directory.of_type(AgencyType.COORDINATION_OFFICE)
    if not coordination:
        raise ValueError("the directory has no coordination_office agency")
    b.system(
        "coordination-system",
        f"System of the coordination office {coordination[0].id}",
        coordination[0].id,
        AgencyType.COORDINATION_OFFICE,
        ["coordination_officer"],
    )
    b.system(
        "homeward-admin-system",
        f"Operators of the bus ({coordination[0].id}): topology, audit, replay",
        coordination[0].id,
        AgencyType.COORDINATION_OFFICE,
        ["homeward_admin"],
    )
    b.system(
        REVOKED_CLIENT,
        "A police system that tests disable through the admin API (a revoked client)",
        "POL-0002",
        police,
        ["police_officer"],
    )
    for agency in directory:
        roles = agency_roles(table, agency.type)
        b.system(
            agency_client_id(agency.id),
            f"System of {agency.id} ({agency.name_en})",
            agency.id,
            agency.type,
            roles,
        )
    b.clients.append(console_client())
    b.users.extend(staff_user(agency, agency_roles(table, agency.type)) for agency in directory)
    return {
        "realm": REALM,
        "displayName": "Homeward (demo, all identities fake)",
        "enabled": True,
        "sslRequired": "external",
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN_SECONDS,
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "loginWithEmailAllowed": False,
        "duplicateEmailsAllowed": True,
        # Tests try wrong passwords on purpose; a lock-out would make them order-dependent.
        "bruteForceProtected": False,
        "passwordPolicy": PASSWORD_POLICY,
        "roles": {
            "realm": [
                {"name": name, "description": f"roles-table role (topology/roles.yaml): {name}"}
                for name in table.roles
            ]
        },
        "clientScopes": [client_scope()],
        "defaultDefaultClientScopes": [SCOPE],
        "defaultOptionalClientScopes": [],
        "scopeMappings": [{"clientScope": SCOPE, "roles": list(table.roles)}],
        "clients": b.clients,
        "users": b.users,
        "components": {
            "org.keycloak.userprofile.UserProfileProvider": [
                {
                    "providerId": "declarative-user-profile",
                    "subComponents": {},
                    "config": {"kc.user.profile.config": [json.dumps(user_profile())]},
                }
            ]
        },
    }


def console_client() -> dict[str, Any]:
    """A public client for persons: the password grant (tests, CLI) and the code flow with
    PKCE for a browser on 127.0.0.1."""
    return {
        "clientId": CONSOLE_CLIENT,
        "description": "Homeward console for agency staff (public client, persons log in here)",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": True,
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True,
        "implicitFlowEnabled": False,
        "serviceAccountsEnabled": False,
        "redirectUris": list(REDIRECT_URIS),
        "webOrigins": ["+"],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": "##".join(REDIRECT_URIS),
        },
        "fullScopeAllowed": False,
        "defaultClientScopes": [SCOPE],
        "optionalClientScopes": [],
    }


def staff_user(agency: Agency, roles: list[str]) -> dict[str, Any]:
    username = staff_username(agency.id)
    return {
        "username": username,
        "enabled": True,
        "firstName": "Staff",
        "lastName": agency.id,
        "attributes": _attributes(agency.id, agency.type),
        "credentials": [{"type": "password", "value": password_of(username), "temporary": False}],
        "realmRoles": roles,
    }


def render(realm: dict[str, Any]) -> str:
    return json.dumps(realm, indent=1, ensure_ascii=False) + "\n"


def generate(directory_path: Path, roles_path: Path) -> str:
    from homeward.agencies import load_directory

    return render(build_realm(load_directory(directory_path), RolesTable.load(roles_path)))
