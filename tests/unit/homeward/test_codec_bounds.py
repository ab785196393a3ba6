"""Decoder bounds (docs/wire-contract.md): what fastavro trusts and the codec
must not. Each defect is shown on fastavro alone first, then refused by the
codec with a CodecError naming the field, before fastavro decodes anything."""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import homeward.codec
from homeward.avro_bounds import MAX_ITEMS_PER_ARRAY, MAX_ITEMS_PER_RECORD, compile_check
from homeward.catalogue import Catalogue
from homeward.codec import MAGIC, Codec, EventMeta
from homeward.errors import CodecError
from tests.conformance.strategies import samples

SMALL = {
    "type": "record",
    "name": "Small",
    "namespace": "t",
    "fields": [
        {
            "name": "colour",
            "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]},
        },
        {"name": "note", "type": ["null", "string", "long"]},
        {"name": "flag", "type": "boolean"},
        {"name": "xs", "type": {"type": "array", "items": "string"}},
        {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "null"}}},
    ],
}


def zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Codec:
    d: Path = tmp_path_factory.mktemp("schemas")
    (d / "t.Small.avsc").write_text(json.dumps(SMALL), encoding="utf-8")
    return Codec(Catalogue.load(d, d / "none"))


def body(
    colour: int = 0, union: int = 0, flag: int = 0, xs: bytes = b"\x00", m: bytes = b"\x00"
) -> bytes:
    return zigzag(colour) + zigzag(union) + bytes([flag]) + xs + m


def framed(codec: Codec, raw: bytes) -> bytes:
    return MAGIC + codec.catalogue.by_name("t.Small").fingerprint + raw


def refused(codec: Codec, raw: bytes) -> CodecError:
    with pytest.raises(CodecError) as caught:
        codec.decode_value(framed(codec, raw))
    return caught.value


def test_a_valid_small_body_decodes(small: Codec) -> None:
    raw = zigzag(2) + zigzag(1) + b"\x02a" + b"\x01" + b"\x02\x00\x00" + b"\x02\x02k\x02\x00\x00"
    _, datum = small.decode_value(framed(small, raw))
    assert datum == {"colour": "BLUE", "note": "a", "flag": True, "xs": [""], "m": {"k": [None]}}


def test_fastavro_alone_reads_enum_index_minus_one_as_the_last_symbol(small: Codec) -> None:
    parsed = small.catalogue.by_name("t.Small").parsed
    datum = schemaless_reader(io.BytesIO(body(colour=-1)), parsed)
    assert datum["colour"] == "BLUE"  # the defect the walk exists for


def test_a_negative_enum_index_is_refused_naming_the_field(small: Codec) -> None:
    err = refused(small, body(colour=-1))
    assert err.field == "value.colour"
    assert "enum index -1 outside 0..2" in err.reason


def test_an_enum_index_past_the_symbols_is_refused(small: Codec) -> None:
    assert refused(small, body(colour=3)).field == "value.colour"


def test_fastavro_alone_reads_union_index_minus_two_as_another_branch(small: Codec) -> None:
    parsed = small.catalogue.by_name("t.Small").parsed
    # -2 is branch 1 (string) by Python's negative indexing: b"\x02a" reads as "a".
    raw = zigzag(0) + zigzag(-2) + b"\x02a" + b"\x00\x00\x00"
    assert schemaless_reader(io.BytesIO(raw), parsed)["note"] == "a"


@pytest.mark.parametrize("index", [-1, -2, -3, 3, 1000])
def test_a_union_index_outside_its_branches_is_refused(small: Codec, index: int) -> None:
    err = refused(small, zigzag(0) + zigzag(index) + b"\x00\x00\x00")
    assert err.field == "value.note"
    assert f"union index {index} outside 0..2" in err.reason


def test_a_union_index_as_a_non_minimal_varint_is_refused(small: Codec) -> None:
    err = refused(small, zigzag(0) + b"\x80\x00" + b"\x00\x00\x00")
    assert err.field == "value.note"


def test_a_boolean_other_than_0_or_1_is_refused(small: Codec) -> None:
    assert refused(small, body(flag=2)).field == "value.flag"


def test_a_negative_string_length_is_refused(small: Codec) -> None:
    err = refused(small, zigzag(0) + zigzag(1) + zigzag(-5) + b"\x00\x00\x00")
    assert (err.field, "negative length -5") == ("value.note", err.reason)


def test_a_string_longer_than_the_body_is_truncated(small: Codec) -> None:
    err = refused(small, zigzag(0) + zigzag(1) + zigzag(50) + b"abc")
    assert err.field == "value"
    assert "truncated" in err.reason


def test_an_array_over_its_item_bound_is_refused_in_one_block(small: Codec) -> None:
    xs = zigzag(MAX_ITEMS_PER_ARRAY + 1) + b"\x00" * (MAX_ITEMS_PER_ARRAY + 1) + b"\x00"
    err = refused(small, body(xs=xs))
    assert err.field == "value.xs"
    assert f"more than {MAX_ITEMS_PER_ARRAY} items" in err.reason


def test_an_array_over_its_item_bound_is_refused_across_blocks(small: Codec) -> None:
    block = zigzag(-100) + zigzag(100) + b"\x00" * 100  # negative count: a byte size follows
    xs = block * 3 + b"\x00"
    assert refused(small, body(xs=xs)).field == "value.xs"


def test_items_of_nested_arrays_are_bounded_per_record(small: Codec) -> None:
    # A map of 200 keys, each an array of 200 nulls (0 bytes each): 40,200 items in 1.4 KB.
    entry = b"\x02k" + zigzag(200) + b"\x00"
    m = zigzag(200) + entry * 200 + b"\x00"
    err = refused(small, body(m=m))
    assert err.field.startswith("value.m")
    assert f"more than {MAX_ITEMS_PER_RECORD}" in err.reason


def test_a_block_claiming_billions_of_nulls_is_refused_without_looping(small: Codec) -> None:
    m = b"\x02" + b"\x02k" + zigzag(2**62) + b"\x00" + b"\x00"
    err = refused(small, body(m=m))
    assert err.field == "value.m{}"


def test_trailing_bytes_are_refused(small: Codec) -> None:
    assert "trailing" in refused(small, body() + b"\x00").reason


def test_a_recursive_schema_is_refused_when_compiled() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}],
    }
    with pytest.raises(CodecError, match="recursive"):
        compile_check(node)


# -- the defects on the real schemas --------------------------------------------
@cache
def codec() -> Codec:
    return Codec(Catalogue.load())


def pathological_alert(items: int = 262_144) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An AlertIssued whose target_types is `items` empty strings (256 KiB or so)."""
    c = codec()
    event = samples()["homeward.alerts.AlertIssued"]
    record, _ = c.encode(event, key=event.case_id, source="/homeward/test")
    entry = c.catalogue.by_name("homeward.alerts.AlertIssued")
    datum: dict[str, Any] = event.to_avro()
    datum["target_types"] = [""] * items
    buf = io.BytesIO()
    buf.write(MAGIC + entry.fingerprint)
    schemaless_writer(buf, entry.parsed, datum)
    return buf.getvalue(), record.headers


def test_the_256_kib_record_of_empty_strings_is_refused_before_fastavro_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value, headers = pathological_alert(261_000)  # just under the 256 KiB cap
    assert len(value) <= codec().max_value_bytes

    def must_not_run(*a: Any, **kw: Any) -> Any:
        raise AssertionError("fastavro was asked to decode a record the walk should refuse")

    monkeypatch.setattr(homeward.codec, "schemaless_reader", must_not_run)
    with pytest.raises(CodecError) as caught:
        codec().decode(value, headers)
    assert caught.value.field == "value.target_types"


def test_refusing_the_pathological_record_costs_a_bounded_time() -> None:
    value, headers = pathological_alert(261_000)
    times = []
    for _ in range(50):
        started = time.perf_counter()
        with pytest.raises(CodecError):
            codec().decode(value, headers)
        times.append(time.perf_counter() - started)
    # Measured: 0.01 ms (it was 64 to 100 ms); 5 ms leaves room for a loaded machine.
    assert statistics.median(times) < 0.005


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999-00:01"],
)
def test_a_ce_time_out_of_range_in_utc_is_a_codec_error(when: str) -> None:
    _, headers = pathological_alert(1)
    changed = [(k, when.encode() if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(CodecError) as caught:
        EventMeta.from_headers(changed)
    assert caught.value.field == "headers.ce_time"


# -- the walk agrees with fastavro ---------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(samples())), data=st.data())
def test_a_mutated_real_record_decodes_or_is_a_codec_error(name: str, data: st.DataObject) -> None:
    c = codec()
    event = samples()[name]
    record, _ = c.encode(event, key=event.case_id, source="/homeward/test")
    value = bytearray(record.value)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(10, len(value) - 1))
        value[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(10, len(value)))
    with contextlib.suppress(CodecError):
        c.decode_value(bytes(value[:cut]))


@pytest.mark.parametrize("name", sorted(samples()))
def test_the_walk_ends_where_every_valid_record_ends(name: str) -> None:
    c = codec()
    event = samples()[name]
    record, _ = c.encode(event, key=event.case_id, source="/homeward/test")
    entry = c.catalogue.by_name(name)
    assert compile_check(entry.expanded, name)(record.value, 10) == len(record.value)
