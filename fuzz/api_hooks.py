"""Schemathesis hooks for `python -m fuzz.api` (loaded by the CLI through
SCHEMATHESIS_HOOKS=fuzz.api_hooks): a real bearer token on every request, of a
principal the roles table allows to call that route, and a count of every
request sent, per operation and status, for docs/fuzzing.md's figures.

The tokens are the project's Keycloak's (client credentials of the realm's
systems, refreshed before they expire: a run lasts longer than a token's
5 minutes). The runner says which API this is and where the count goes:

    HOMEWARD_FUZZ_API      intake | gateway
    HOMEWARD_OIDC_ISSUER   the issuer the services trust
    HOMEWARD_FUZZ_COUNTS   a JSON file, rewritten as the run goes
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis

from homeward.auth.oidc_client import ClientCredentials
from homeward_demo.identity import realm_secrets

# Who calls what (topology/roles.yaml; the realm's systems, homeward.idp.realm):
# the first pattern that matches the route's template decides.
PRINCIPALS: dict[str, list[tuple[str, str]]] = {
    "intake": [
        # police_forensics: dna.record is the laboratory's alone.
        (r"^/v1/cases/[^/]+/dna-comparisons$", "police-forensics-lab"),
        # hospital_system (health.record) and mandatory_reporter (report.file).
        (r"^/v1/health/", "hospital-system-hosp-demo-1"),
        (r"^POST /v1/reports$", "hospital-system-hosp-demo-1"),
        # police_officer + police_supervisor of POL-0001: alerts (with a public
        # summary), rescues, report acknowledgements, referral answers and reads,
        # the timeline with police-only content.
        (r"", "police-case-system"),
    ],
    # POL-0001's agency system: police_officer + agency_caseworker, so every
    # gateway route (inbox, acknowledgements, answers, reports, anomalies, tips).
    "gateway": [(r"", "agency-system-pol-0001")],
}
# The agency each system acts for (the realm's `agency_id` claim).
AGENCY_OF = {
    "police-case-system": "POL-0001",
    "police-forensics-lab": "POL-0001",
    "agency-system-pol-0001": "POL-0001",
    "hospital-system-hosp-demo-1": "HOSP-DEMO-1",
}
# Body fields that must name the caller's own agency (a 403 otherwise): a
# generated value almost never does, so most bodies would stop at the roles check.
OWN_AGENCY_FIELDS = ("hospital_id", "agency_id")

_lock = threading.Lock()
_providers: dict[str, ClientCredentials] = {}
_counts: Counter[str] = Counter()
_secrets: dict[str, str] = {}


def api() -> str:
    return os.environ.get("HOMEWARD_FUZZ_API", "intake")


def principal_for(api_name: str, method: str, path: str) -> str:
    for pattern, client_id in PRINCIPALS[api_name]:
        if re.search(pattern, path) or re.search(pattern, f"{method.upper()} {path}"):
            return client_id
    raise LookupError(f"no principal for {method} {path}")  # the "" pattern matches all


def _provider(client_id: str) -> ClientCredentials:
    with _lock:
        if not _secrets:
            _secrets.update(realm_secrets())
        if client_id not in _providers:
            issuer = os.environ["HOMEWARD_OIDC_ISSUER"]
            _providers[client_id] = ClientCredentials(issuer, client_id, _secrets[client_id])
        return _providers[client_id]


# No schemathesis cache (refresh_interval=None): it would keep one answer for every
# operation; the providers cache each system's token and refresh it themselves.
@schemathesis.auth(refresh_interval=None)
class RealmToken:
    """A current token per request, of the principal its route wants, so no
    request of a long run goes out with an expired one or another's."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return principal_for(api(), case.operation.method, case.operation.path)

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {_provider(data).token()}"


@schemathesis.hook
def map_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Three generated bodies in four act for the caller's own agency, so the
    fuzzing reaches the validation and the publishing behind the 403."""
    if isinstance(case.body, dict) and random.random() < 0.75:
        client_id = principal_for(api(), case.operation.method, case.operation.path)
        for name in OWN_AGENCY_FIELDS:
            if name in case.body:
                case.body[name] = AGENCY_OF[client_id]
    return case


def _write_counts() -> None:
    path = os.environ.get("HOMEWARD_FUZZ_COUNTS")
    if path:
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(_counts), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


@schemathesis.hook
def after_call(ctx: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
    key = f"{case.operation.method.upper()} {case.operation.path} {response.status_code}"
    with _lock:
        _counts[key] += 1
        # Cheap (a few hundred keys at most) and survives the CLI's exit path.
        _write_counts()
