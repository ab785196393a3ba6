"""The HTTP contract: request bodies, the 202 answer and the error body.

Request bodies are derived from the event models, not copied: a field added
to an event (with its constraints) appears in the API, its validation and its
OpenAPI schema at once, and the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from homeward.events import AlertCancelled, AlertUpdated, SightingReported
from homeward.events.base import Event, Model

# The same rule as Event.case_id, for the {case_id} path segment.
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
CASE_ID_MAX = 64


def without_case_id(event_cls: type[Event], name: str, doc: str) -> type[Model]:
    """A request model with every field of `event_cls` but case_id (it is in the path).

    It inherits Model's config (extra fields forbidden, strings stripped) and its
    validator that refuses naive datetimes.
    """
    fields: dict[str, Any] = {
        fname: (info.annotation, info)
        for fname, info in event_cls.model_fields.items()
        if fname != "case_id"
    }
    model = create_model(name, __base__=Model, __doc__=doc, **fields)
    return model


AlertUpdateRequest = without_case_id(
    AlertUpdated, "AlertUpdateRequest", "New information on an open alert."
)
SightingRequest = without_case_id(
    SightingReported, "SightingRequest", "A reported sighting of the child."
)
CancellationRequest = without_case_id(
    AlertCancelled,
    "CancellationRequest",
    "Cancel or resolve an alert: FOUND, FALSE_REPORT or WITHDRAWN, with a note.",
)


class Accepted(BaseModel):
    """The 202 answer: the event is on the bus (Kafka acknowledged it)."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="The CloudEvents id (ce_id) of the published event.")
    case_id: str
    type: str = Field(description="The CloudEvents type, e.g. homeward.alerts.AlertIssued.")
    accepted_at: datetime = Field(description="When intake accepted it; equals ce_time.")
    topic: str = Field(description="The Kafka topic it was published to.")


class ErrorItem(BaseModel):
    field: str | None = Field(description="Dotted path of the field, or a header name.")
    reason: str


class ErrorBody(BaseModel):
    """Every non-2xx answer has this shape, so a client needs one parser."""

    error: str = Field(description="A stable code, e.g. invalid_request, idempotency_conflict.")
    message: str = Field(description="One line for humans, naming the fields.")
    errors: list[ErrorItem] = Field(default_factory=list)
