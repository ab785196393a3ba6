"""Signed webhooks (Standard Webhooks 1.0) for agencies with an HTTP endpoint.

The gateway process runs the dispatcher (`mount`, started and stopped with the
app's lifespan); `homeward webhooks run` (`python -m homeward_gateway.webhooks
run`) runs it alone, and `... replay` sends the dead letters again.
docs/webhooks.md says the rest.
"""

from __future__ import annotations

import logging
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
    registry = Registry.load(settings.registry_path(), require_https=settings.require_https)
    return Dispatcher(kafka_settings or KafkaSettings(), settings, registry)


def mount(app: Any, gateway: Any, settings: Any) -> None:
    """Run the dispatcher beside the gateway's HTTP app: the app's lifespan
    starts it (app.state.runners) and closes it (offsets committed) at
    shutdown. Kafka settings are the gateway's: HOMEWARD_KAFKA_*, as the
    gateway process reads them, or `settings.kafka` when it carries them."""
    webhook_settings = WebhookSettings()
    if not webhook_settings.enabled:
        log.info("webhooks disabled (HOMEWARD_GATEWAY_WEBHOOKS_ENABLED=false)")
        return
    if webhook_settings.registry_file is None:
        log.info("webhooks off: no endpoint registry (HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE)")
        return
    kafka_settings = getattr(settings, "kafka", None) or KafkaSettings()
    dispatcher = build(kafka_settings, webhook_settings)
    app.state.webhooks = dispatcher
    app.state.runners.append(dispatcher)


__all__ = ["Dispatcher", "Registry", "WebhookSettings", "build", "mount"]
