"""The error answers of homeward.http.errors as OpenAPI documents them.

A route's `responses=` names every status it can answer, so the OpenAPI says
what really happens (schemathesis checks it against the live services:
docs/fuzzing.md, "The HTTP APIs"). The statuses every route of a kind shares
are here, worded once: `AUTH` for a route that takes a bearer token, `BODY`
for one that reads a JSON body through the RequestGuard, `UNAVAILABLE` for one
that writes to Kafka (the event or its audit record).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Responses = dict[int | str, dict[str, Any]]


class ErrorItem(BaseModel):
    field: str | None = Field(description="Dotted path of the field, or a header name.")
    reason: str


class ErrorBody(BaseModel):
    """Every non-2xx answer has this shape, so a client needs one parser."""

    error: str = Field(description="A stable code, e.g. invalid_request, idempotency_conflict.")
    message: str = Field(description="One line for humans, naming the fields.")
    errors: list[ErrorItem] = Field(default_factory=list)
    state: str | None = Field(
        default=None,
        description="With illegal_transition only: the status the step was refused from.",
    )
    allowed: list[str] | None = Field(
        default=None,
        description="With illegal_transition only: the statuses the agency may answer next.",
    )


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH: Responses = {
    401: error(
        "invalid_token: no valid bearer token; `WWW-Authenticate` and `errors[0].field` say why."
    ),
    403: error("insufficient_scope: the roles table does not allow this caller this action."),
}
BODY: Responses = {
    400: error("invalid_json: the body is not valid JSON (or not UTF-8)."),
    413: error("body_too_large: the body is over the size cap."),
    415: error("unsupported_media_type: the body is not application/json."),
}
REFUSED: Responses = {
    500: error(
        "publish_refused: the broker refused the write for good (a size limit, a grant); "
        "a retry repeats it until an operator fixes the cause."
    ),
}
UNAVAILABLE: Responses = {
    **REFUSED,
    503: error("unavailable: Kafka did not confirm the write (or its audit record); retry."),
}
