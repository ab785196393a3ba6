"""Who is calling, and may they: the FastAPI side of homeward.auth.

Every route but the probes, metrics and docs takes a `Caller` (the verified
bearer token's principal) and asks the roles table for its action before it
does anything, so a refusal (401, 403) never publishes. The principal is kept
on the request so a refusal further in is audited with it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from homeward.auth import Action, Forbidden, Principal, current_roles
from homeward.auth.jwt_verifier import TokenVerifier, bearer
from homeward.events import Actor

# Declared for OpenAPI (the bearer scheme on every route that takes a Caller);
# the check itself is the verifier's, with its own 401 answers.
_SCHEME = HTTPBearer(
    auto_error=False, description="An OAuth 2.0 access token (JWT) from the OIDC provider"
)


def get_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_SCHEME)]
) -> Principal:
    # A plain def: FastAPI runs it in its thread pool, so a JWKS fetch after a
    # key rotation never blocks the event loop.
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(bearer(request.headers.get("authorization")))
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def authorize(request: Request, caller: Principal, action: Action) -> None:
    """The roles table's check; the action is kept for the audit of a refusal."""
    request.state.action = action.value
    current_roles().require(caller, action)


def needs(action: Action) -> Any:
    """A route dependency: the caller may do `action`. It runs before the body is
    validated, so a caller without the right learns nothing of the body's shape."""

    def check(request: Request, caller: Caller) -> None:
        authorize(request, caller, action)

    return Depends(check)


def allowed(caller: Principal, action: Action) -> bool:
    return current_roles().allows(caller, action)


def own_agency(caller: Principal, agency_id: str, field: str) -> None:
    """Acting for an agency means being that agency."""
    if agency_id != caller.agency_id:
        raise Forbidden(f"{caller.name} acts for {caller.agency_id}, not {agency_id}", field=field)


def actor_of(caller: Principal) -> Actor:
    return Actor(
        principal=caller.name,
        subject=caller.subject,
        kind=caller.kind.value,
        agency_id=caller.agency_id,
        agency_type=caller.agency_type.value,
    )
