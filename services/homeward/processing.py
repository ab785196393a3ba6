"""What every stream processor (the fan-out, the referral router) does around
its own decisions: send records and wait for the broker, retry broker
trouble, and dead-letter a record it cannot handle. No Faust here: the
processors get a `send` function, so they are unit-tested without a broker.

Broker trouble (a broker down, a leader moving) is waited out. A record the
broker refuses for good (a write the grants refuse, a record too large for its
topic) would be retried forever and stall its partition: it is parked instead,
copied to the dead-letter topic with the reason and the topic it was meant for
(`homeward deadletters replay` sends it there after the fix), counted in
homeward_emit_parked_total, and the service reports not ready (check `emit`)
for a while, so the alert and the readiness both say so while the partition goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from homeward.codec import Record
from homeward.deadletter import FIELD as DLQ_FIELD
from homeward.deadletter import REASON as DLQ_REASON
from homeward.deadletter import dead_letter
from homeward.errors import HomewardError
from homeward.kafka import PERMANENT_ERRORS, is_permanent
from homeward.metric_labels import reason_label
from homeward.metrics import DEAD_LETTERS, EMIT_PARKED

__all__ = ["PERMANENT_ERRORS", "EmitRefused", "Emitter", "is_permanent"]

# (topic, key, value, headers) -> an awaitable that resolves once the broker has it.
Send = Callable[[str, bytes, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
# How long the service reports not ready after it parked a record: long enough
# for a readiness scrape and the alert to see it; the partition goes on meanwhile.
PARKED_NOT_READY_SECONDS = 300.0


class EmitRefused(HomewardError):
    """The broker refused an output record for good; it was parked."""


class Emitter:
    """Sends records for one service and dead-letters what it cannot handle."""

    def __init__(
        self,
        send: Send,
        *,
        service: str,
        dead_letter_topic: str,
        parked_not_ready_seconds: float = PARKED_NOT_READY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send = send
        self.service = service
        self.dead_letter_topic = dead_letter_topic
        self.log = logging.getLogger(f"homeward.{service}")
        self.parked_not_ready_seconds = parked_not_ready_seconds
        self.clock = clock
        self.parked = 0
        self._last_parked: tuple[float, str, str] | None = None  # (when, topic, reason)

    async def send_record(self, topic: str, record: Record) -> Awaitable[Any]:
        """Hand the record to the producer; await the result for the broker's ack.

        A record the broker refuses for good is parked (see the module), and
        its result resolves as if it had been acknowledged, so the caller's
        state moves on and its partition is not stalled."""
        try:
            acked = await self.send(topic, record.key, record.value, record.headers)
        except Exception as exc:
            if not is_permanent(exc):
                raise
            await self.park(topic, record, exc)
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return asyncio.ensure_future(self._parked_if_refused(acked, topic, record))

    async def _parked_if_refused(self, acked: Awaitable[Any], topic: str, record: Record) -> Any:
        try:
            return await acked
        except Exception as exc:
            if not is_permanent(exc):
                raise
            await self.park(topic, record, exc)
            return None

    async def park(self, topic: str, record: Record, exc: Exception) -> None:
        """Copy a refused output record to the dead-letter topic, its origin the
        topic it was meant for (no partition or offset yet: -1)."""
        kind = type(exc).__name__
        refused = EmitRefused(f"the broker refused it for good: {kind}: {exc}", field="topic")
        letter = dead_letter(
            key=record.key,
            value=record.value,
            headers=record.headers,
            error=refused,
            topic=topic,
            partition=-1,
            offset=-1,
            service=self.service,
        )
        self.log.error("parking a record for %s on the dead-letter topic: %s", topic, kind)

        async def write() -> None:
            try:
                await (
                    await self.send(
                        self.dead_letter_topic, letter.key, letter.value, letter.headers
                    )
                )
            except Exception as err:
                if not is_permanent(err):
                    raise
                # Too large for the dead-letter topic too: keep why and where, not the bytes.
                self.log.error("the parked record itself was refused; parking its headers only")
                await (await self.send(self.dead_letter_topic, letter.key, b"", letter.headers))

        await self.retrying(f"parking a record for {topic}", write)
        self.parked += 1
        self._last_parked = (self.clock(), topic, kind)
        EMIT_PARKED.labels(self.service, topic, kind).inc()
        DEAD_LETTERS.labels(self.service, "topic").inc()

    def not_ready(self) -> str | None:
        """The readiness check `emit`: a reason while a record was parked lately."""
        last = self._last_parked
        if last is None or self.clock() - last[0] > self.parked_not_ready_seconds:
            return None
        return (
            f"{self.parked} record(s) refused for good by the broker and parked on the "
            f"dead-letter topic; the last for {last[1]}: {last[2]}"
        )

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
