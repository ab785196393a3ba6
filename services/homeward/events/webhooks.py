"""Webhook delivery receipts: a model mirroring
schemas/avro/homeward.webhooks.WebhookReceipt.avsc."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from homeward.events.alerts import MAX_ATTEMPTS, Ident
from homeward.events.base import Event

WebhookOutcome = Literal["delivered", "failed", "dead_lettered"]


class WebhookReceipt(Event):
    """What became of one delivery POSTed to an agency's endpoint. Names ids,
    kinds and statuses only, never the delivery's content."""

    avro_name: ClassVar[str] = "homeward.webhooks.WebhookReceipt"

    delivery_id: str = Field(min_length=1, max_length=200)
    agency_id: Ident
    kind: str = Field(min_length=1, max_length=64)
    outcome: WebhookOutcome
    attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    latency_ms: int = Field(ge=0)
    last_status: int | None = Field(default=None, ge=100, le=599)
    reason: str = Field(default="", max_length=1000)
    replayed: bool = False
