"""What every stream processor (the fan-out, the referral router) does around
its own decisions: send records and wait for the broker, retry broker
trouble, and dead-letter a record it cannot handle. No Faust here: the
processors get a `send` function, so they are unit-tested without a broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from homeward.codec import Record
from homeward.deadletter import FIELD as DLQ_FIELD
from homeward.deadletter import REASON as DLQ_REASON
from homeward.deadletter import dead_letter
from homeward.metric_labels import reason_label
from homeward.metrics import DEAD_LETTERS

# (topic, key, value, headers) -> an awaitable that resolves once the broker has it.
Send = Callable[[str, bytes, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Emitter:
    """Sends records for one service and dead-letters what it cannot handle."""

    def __init__(self, send: Send, *, service: str, dead_letter_topic: str) -> None:
        self.send = send
        self.service = service
        self.dead_letter_topic = dead_letter_topic
        self.log = logging.getLogger(f"homeward.{service}")

    async def send_record(self, topic: str, record: Record) -> Awaitable[Any]:
        """Hand the record to the producer; await the result for the broker's ack."""
        return await self.send(topic, record.key, record.value, record.headers)

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[None]]) -> None:
        """Run `attempt` until it passes. Broker trouble is waited out: giving up
        would lose state, and a retry writes the same ids."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                self.log.warning(
                    "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
        exc: Exception,
    ) -> None:
        """Copy the record, untouched, to the dead-letter topic with the reason."""
        record = dead_letter(
            key=key,
            value=value,
            headers=headers,
            error=exc,
            topic=topic,
            partition=partition,
            offset=offset,
            service=self.service,
        )
        added = dict(record.headers)
        # Log the field and reason only: the record itself may hold a person's data.
        self.log.warning(
            "dead-lettering %s[%d]@%d: %s", topic, partition, offset, added[DLQ_REASON].decode()
        )

        async def write() -> None:
            await (await self.send_record(self.dead_letter_topic, record))

        await self.retrying(f"dead letter for {topic}[{partition}]@{offset}", write)
        DEAD_LETTERS.labels(self.service, reason_label(added[DLQ_FIELD].decode(), exc)).inc()


def message_headers(headers: Any) -> list[tuple[str, bytes]]:
    """A Faust message's headers (a dict or a list of pairs) as a list of pairs."""
    return list(headers.items()) if isinstance(headers, dict) else list(headers or [])
