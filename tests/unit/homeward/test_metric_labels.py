"""Label values that come from input stay few: 10,000 random HTTP methods, header
names and field paths add no series beyond the bounded set (docs/operations.md)."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Awaitable
from typing import Any

import pytest
from prometheus_client import Counter

from homeward.codec import EventMeta
from homeward.errors import CodecError, ValidationError
from homeward.http.observe import HttpMetrics
from homeward.metric_labels import (
    HTTP_METHODS,
    KNOWN_HEADERS,
    OTHER,
    field_label,
    known_fields,
    reason_label,
)
from homeward.metrics import DEAD_LETTERS, HTTP_REQUESTS
from homeward.processing import Emitter

RNG = random.Random(12)
N = 10_000


def junk(
    rng: random.Random, alphabet: str = string.ascii_letters + string.digits + "._-[]{}"
) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))


def series(counter: Counter, **where: str) -> set[tuple[tuple[str, str], ...]]:
    return {
        tuple(sorted(s.labels.items()))
        for metric in counter.collect()
        for s in metric.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in where.items())
    }


def test_10000_made_up_http_methods_add_at_most_the_other_series() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 405, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def drive() -> None:
        middleware = HttpMetrics(app)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            return None

        methods = [junk(RNG, string.ascii_uppercase) for _ in range(N)] + sorted(HTTP_METHODS)
        for m in methods:
            await middleware({"type": "http", "method": m, "path": "/x"}, receive, send)

    asyncio.run(drive())
    methods = {dict(k)["method"] for k in series(HTTP_REQUESTS, route="unmatched", status="405")}
    assert methods <= HTTP_METHODS | {OTHER}
    assert OTHER in methods


def test_10000_made_up_header_names_add_one_dead_letter_series() -> None:
    sent: list[str] = []

    async def send(
        topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        sent.append(topic)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    emitter = Emitter(send, service="labels-test", dead_letter_topic="unit.dlq")

    async def drive() -> None:
        for _ in range(N):
            name = junk(RNG)
            # The codec names a header that is not UTF-8 by its (sender-chosen) name.
            with pytest.raises(CodecError) as caught:
                EventMeta.from_headers([(name, b"\xff\xfe")])
            assert caught.value.field == f"headers.{name}"
            await emitter.dead_letter("t", 0, 1, b"k", b"v", [(name, b"\xff\xfe")], caught.value)

    before = series(DEAD_LETTERS, service="labels-test")
    asyncio.run(drive())
    added = series(DEAD_LETTERS, service="labels-test") - before
    reasons = {dict(k)["reason"] for k in added}
    assert reasons <= {"headers.other"} | {f"headers.{h}" for h in KNOWN_HEADERS}
    assert len(sent) == N


def test_10000_random_field_paths_map_into_a_bounded_set() -> None:
    roots = ["value", "headers", "key", "x", ""]
    labels = {
        field_label(".".join([RNG.choice(roots), *(junk(RNG) for _ in range(RNG.randint(0, 3)))]))
        for _ in range(N)
    }
    # No made-up name survives: what is left is fallbacks and list positions.
    known = known_fields()
    for label in labels:
        assert all(p in known or p in ("*", OTHER) for p in label.split(".")), label
    assert len(labels) < 40


@pytest.mark.parametrize(
    "field",
    [
        "headers.ce_specversion",
        "headers.ce_time",
        "headers.ce_type",
        "value",
        "value.fingerprint",
        "value.target_types",
        "value.target_types[]",
        "value.last_seen.latitude",
        "key",
        "case_id",
        "agency_id",
        "actor.agency_id",
    ],
)
def test_the_reasons_services_emit_are_kept(field: str) -> None:
    assert field_label(field) == field


def test_list_positions_are_one_label() -> None:
    assert (
        field_label("value.detail.3.key")
        == field_label("value.detail.17.key")
        == "value.detail.*.key"
    )


def test_an_error_without_a_field_is_labelled_by_its_class() -> None:
    assert reason_label(None, ValidationError("x")) == "ValidationError"
    assert reason_label("", KeyError("x")) == "KeyError"
    assert reason_label("headers.x-made-up", CodecError("x")) == "headers.other"
