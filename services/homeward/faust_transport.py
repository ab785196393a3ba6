"""Faust's aiokafka transport with an idempotent producer.

Faust turns idempotence on only inside a transaction (exactly_once), which
Homeward does not use (see faust_app). Outside one, a producer retry after a
lost acknowledgement writes the record twice; with idempotence the broker
drops the retry by its producer id and sequence number. That covers retries
of one producer session, not a worker restarted mid-batch: readers still drop
copies by event id (docs/delivery-guarantees.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


class IdempotentProducer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        # acks=all is what idempotence requires; make_app asks for it too.
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer


def use_idempotent_producer(app: Any) -> None:
    """Give `app` a producer transport whose producers are idempotent."""
    app.producer_transport = IdempotentTransport(app.conf.broker_producer, app)
