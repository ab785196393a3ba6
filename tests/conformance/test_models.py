"""What every event model must keep, whoever adds one: times are aware
Instants (naive ones refused, wherever the field sits), and to_avro's fast
path gives exactly what pydantic's model_dump gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from homeward.events import EVENT_TYPES, Event
from homeward.events.base import Instant, Model
from tests.conformance.strategies import for_model, samples
from tests.conformance.test_schemas import PROPERTY

EVENT_NAMES = sorted(EVENT_TYPES)


def _dump(event: Event) -> dict[str, Any]:
    """model_dump, with a delivery's event in fastavro's (name, datum) union notation."""
    datum = event.model_dump(mode="python")
    inner = getattr(event, "event", None)
    if isinstance(inner, Event):
        datum["event"] = (inner.avro_name, datum["event"])
    return datum


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (an enum member stays one)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("name", EVENT_NAMES)
@PROPERTY
@given(data=st.data())
def test_to_avro_is_model_dump(name: str, data: st.DataObject) -> None:
    event = data.draw(for_model(EVENT_TYPES[name]), label="event")
    datum = event.to_avro()
    assert _same(datum, _dump(event))
    # The datum is the caller's: changing it leaves the model as it was.
    for value in datum.values():
        if isinstance(value, list):
            value.append("changed")
    assert _same(event.to_avro(), _dump(event))


def _datetime_paths(model: type[BaseModel], sample: BaseModel) -> list[tuple[str, ...]]:
    """Where the datetimes of one sample sit, nested models included."""
    paths: list[tuple[str, ...]] = []
    for name in model.model_fields:
        value = getattr(sample, name)
        if isinstance(value, datetime):
            paths.append((name,))
        elif isinstance(value, BaseModel):
            paths += [(name, *p) for p in _datetime_paths(type(value), value)]
    return paths


def _with_naive(datum: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    head, *rest = path
    value = datum[head]
    if rest:
        return {**datum, head: _with_naive(value, tuple(rest))}
    return {**datum, head: value.replace(tzinfo=None)}


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_time_refuses_a_naive_datetime_wherever_it_sits(name: str) -> None:
    event = samples()[name]
    paths = _datetime_paths(type(event), event)
    datum = event.model_dump(mode="python")
    for path in paths:
        with pytest.raises(pydantic.ValidationError) as caught:
            type(event).model_validate(_with_naive(datum, path))
        errors = caught.value.errors()
        # Inside a union (a delivery's event) pydantic names the branch in the
        # location and reports every branch: look for the field's own error.
        assert errors[0]["loc"][0] == path[0], path
        assert any(e["loc"][-1] == path[-1] and "time zone" in e["msg"] for e in errors), path


def test_a_model_with_a_plain_datetime_is_refused_when_it_is_declared() -> None:
    with pytest.raises(TypeError, match="Instant"):

        class Plain(Model):
            at: datetime

    with pytest.raises(TypeError, match="Instant"):

        class Listed(Model):
            at: list[datetime | None] = Field(default_factory=list)

    class Fine(Model):
        at: Instant | None = None
        many: list[Instant] = Field(default_factory=list)

    assert Fine().at is None
