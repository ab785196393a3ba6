"""Signed webhooks (Standard Webhooks 1.0) for agencies with an HTTP endpoint.

The gateway process runs the dispatcher (`mount`, started and stopped with the
app's lifespan); `python -m homeward_gateway.webhooks run` runs it alone, and
`... replay` sends the dead letters again. docs/webhooks.md says the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from homeward.settings import KafkaSettings
from homeward_gateway.webhooks.dispatcher import Dispatcher
from homeward_gateway.webhooks.registry import Registry
from homeward_gateway.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)


def build(
    kafka_settings: KafkaSettings | None = None, settings: WebhookSettings | None = None
) -> Dispatcher:
    """The dispatcher from the environment (the registry loaded and checked now)."""
    settings = settings or WebhookSettings()
    registry = Registry.load(settings.registry_file, require_https=settings.require_https)
    return Dispatcher(kafka_settings or KafkaSettings(), settings, registry)


def mount(app: Any, gateway: Any, settings: Any) -> None:
    """Run the dispatcher alongside the gateway's HTTP app: started when the
    app starts, stopped (offsets committed) when it stops. The gateway's own
    Kafka settings are used when it has them (`settings.kafka`)."""
    webhook_settings = WebhookSettings()
    if not webhook_settings.enabled:
        return
    kafka_settings = getattr(settings, "kafka", None) or KafkaSettings()
    dispatcher = build(kafka_settings, webhook_settings)
    app.state.webhooks = dispatcher
    previous: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with previous(app_) as state:
            dispatcher.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(dispatcher.stop)

    app.router.lifespan_context = lifespan


__all__ = ["Dispatcher", "Registry", "WebhookSettings", "build", "mount"]
