"""The fuzz targets: what each reads, how its inputs are made, and its typed error."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

import pydantic
import yaml
from hypothesis import strategies as st

from homeward import paths
from homeward.agencies import COLUMNS, OPTIONAL_COLUMNS, load_directory
from homeward.catalogue import Catalogue
from homeward.codec import Codec, EventMeta
from homeward.errors import ConfigError, HomewardError
from homeward.events import EVENT_TYPES


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    check: Callable[[Any], Any]
    typed: tuple[type[BaseException], ...]
    about: str


# -- building blocks -----------------------------------------------------------------
def zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Varints the decoder must not trust: negative indexes and lengths, huge counts.
HOSTILE_VARINTS = [zigzag(n) for n in (-1, -2, -3, -64, 2**31, 2**62, -(2**62), 1000, 262_144)]
HOSTILE_VARINTS += [b"\x80" * 10 + b"\x01", b"\xff" * 11]

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
# Values that have bitten parsers before: format braces, NULs, BOMs, line
# separators, URL and duration edge cases, names of real roles and kinds.
EDGE_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ufeff", "\u2028", '"', ",", "\r\n", "é", "示例", "\ud7ff", "0" * 300,
     "{", "}", "{x}", "{0}", "{agency_type}", "{agency_type", "%s", "*", "-1", "1e309", "nan",
     "http://[::1", "http://h:port/", "https://h:99999/", "file:/a\x00b", "env:", "demo:whsec_",
     "P1D", "PT0S", "-P1D", "P99999999999D", "police", "intake", "agencies", "default", "alert",
     "police-only", "restricted", "service", "institutional"]
)  # fmt: skip


@cache
def codec() -> Codec:
    return Codec(Catalogue.load())


@cache
def sample_records() -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    from tests.conformance.strategies import samples

    out = []
    for event in samples().values():
        record, _ = codec().encode(event, key=event.case_id, source="/homeward/fuzz")
        out.append((record.value, record.headers))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: bytes, keep_prefix: int = 0) -> bytes:
    """`base` with a few byte-level edits past `keep_prefix` bytes."""
    value = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "varint", "dup", "cut"]))
        hi = max(keep_prefix, len(value))
        i = draw(st.integers(keep_prefix, hi))
        if op == "flip" and i < len(value):
            value[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and i < len(value):
            value[i] = draw(st.integers(0, 255))
        elif op == "insert":
            value[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del value[i : i + draw(st.integers(1, 8))]
        elif op == "varint":
            value[i : i + draw(st.integers(0, 2))] = draw(st.sampled_from(HOSTILE_VARINTS))
        elif op == "dup":
            j = draw(st.integers(i, min(len(value), i + 32)))
            value[i:i] = value[i:j] * draw(st.integers(1, 64))
        elif op == "cut":
            del value[i:]
    return bytes(value)


# -- codec: values -----------------------------------------------------------------
@st.composite
def codec_inputs(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, bytes]]]:
    records = sample_records()
    value, headers = draw(st.sampled_from(records))
    how = draw(st.sampled_from(["mutate", "mutate", "random-body", "random", "random-model"]))
    if how == "mutate":
        value = draw(mutated(value, keep_prefix=10))
    elif how == "random-body":
        value = value[:10] + draw(st.binary(max_size=600))
    elif how == "random":
        value = draw(st.binary(max_size=64))
    else:
        from tests.conformance.strategies import for_model

        name = draw(st.sampled_from(sorted(EVENT_TYPES)))
        event = draw(for_model(EVENT_TYPES[name]))
        record, _ = codec().encode(event, key=event.case_id, source="/homeward/fuzz")
        value, headers = draw(mutated(record.value, keep_prefix=10)), record.headers
    return value, headers


def check_codec(x: tuple[bytes, list[tuple[str, bytes]]]) -> None:
    value, headers = x
    codec().decode(value, headers)


# -- codec: headers ----------------------------------------------------------------
HEADER_NAMES = [
    "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
    "content-type", "ce_dataschema", "ce_correlationid", "ce_causationid", "ce_classification",
]  # fmt: skip


@st.composite
def times(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["dt", "edge", "text"]))
    if how == "dt":
        when = draw(st.datetimes(timezones=st.timezones() | st.just(UTC)))
        return when.isoformat().encode()
    if how == "edge":
        day = draw(st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-29", "2024-02-29"]))
        clock = draw(st.sampled_from(["00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:00"]))
        zone = draw(st.sampled_from(["Z", "+00:00", "-14:00", "+14:00", "+23:59", "", "+24:00"]))
        frac = draw(st.sampled_from(["", ".5", ".999999", ".9999999"]))
        return f"{day}T{clock}{frac}{zone}".encode()
    return draw(TEXT).encode()


@st.composite
def header_inputs(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, bytes | None]]]:
    value, headers = draw(st.sampled_from(sample_records()))
    out: list[tuple[str, bytes | None]] = list(headers)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["replace", "drop", "add", "dup", "time", "none"]))
        if op == "drop" and out:
            out.pop(draw(st.integers(0, len(out) - 1)))
        elif op == "time":
            out = [(k, v) for k, v in out if k != "ce_time"] + [("ce_time", draw(times()))]
        elif op == "none" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] = (out[i][0], None)
        else:
            name = draw(st.sampled_from(HEADER_NAMES) | TEXT)
            raw = draw(st.binary(max_size=40) | TEXT.map(str.encode) | st.sampled_from(
                [b"1.0", b"public", b"restricted", b"police-only", b"\xff\xfe", b""]
            ))  # fmt: skip
            if op == "replace":
                out = [(k, v) for k, v in out if k != name]
            out.append((name, raw))
    return value, out


def check_headers(x: tuple[bytes, list[tuple[str, bytes | None]]]) -> None:
    value, headers = x
    EventMeta.from_headers(headers)
    codec().decode(value, headers)


# -- the agency directory --------------------------------------------------------------
GOOD_CELLS = {
    "id": ["POL-0001", "EDU-2", "a", ""],
    "type": ["police", "education", "health", "nope"],
    "name_zh": ["示例县公安局", "测试镇小学", ""],
    "name_en": ["Sampleville Police", "Testtown School, East"],
    "latitude": ["30.1", "-90", "91", "nan", "inf", "1e308"],
    "longitude": ["104.2", "180", "-181", "x"],
    "admin_code": ["990101", "99020301", "12345", "１２３４５６"],
    "delivery_mode": ["inbox", "webhook", "gateway", "", "email"],
    "drills": ["yes", "no", "", "maybe"],
}
HEADER = [*COLUMNS, *OPTIONAL_COLUMNS]


@st.composite
def cells(draw: st.DrawFn, column: str) -> str:
    how = draw(st.sampled_from(["good", "good", "text", "edge", "long"]))
    if how == "good":
        return draw(st.sampled_from(GOOD_CELLS.get(column, [""])))
    if how == "text":
        return draw(TEXT)
    if how == "edge":
        return draw(EDGE_TEXT)
    return draw(st.sampled_from(["x", "示", '"', ",", "\n"])) * draw(st.integers(150, 250_000))


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


@st.composite
def directory_inputs(draw: st.DrawFn) -> tuple[bytes, str]:
    header = list(HEADER)
    if draw(st.integers(0, 5)) == 0:
        header = draw(st.permutations(header))[: draw(st.integers(0, len(header)))]
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 6))):
        row = [draw(cells(c)) for c in header]
        if draw(st.booleans()):
            row.append(draw(TEXT))  # a cell too many, sometimes
        quoted = draw(st.booleans())
        lines.append(",".join(_quote(c) if quoted else c for c in row))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = eol.join(lines) + draw(st.sampled_from([eol, ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16", "latin-1", "bytes"]))
    raw = draw(st.binary(max_size=300)) if encoding == "bytes" else text.encode(encoding, "replace")
    declared = draw(st.sampled_from(["utf-8", "utf-8", "gbk", "latin-1", "no-such-codec"]))
    if draw(st.integers(0, 3)) == 0:
        raw = draw(mutated(raw))
    return raw, declared


_TMP = Path(tempfile.mkdtemp(prefix="homeward-fuzz-"))


def check_directory(x: tuple[bytes, str]) -> None:
    raw, encoding = x
    path = _TMP / "agencies.csv"
    path.write_bytes(raw)
    load_directory(path, encoding=encoding)


# -- the YAML files --------------------------------------------------------------------
def _loaders() -> dict[str, Callable[[Path], Any]]:
    from homeward.auth.roles import RolesTable
    from homeward.projections import Projections
    from homeward.topology import Topology
    from homeward.topology.principals import load_principals
    from homeward_gateway.webhooks.registry import Registry
    from homeward_referrals.rules import load_rules

    return {
        "topics.yaml": lambda p: Topology.load(p, prefix=""),
        "principals.yaml": load_principals,
        "roles.yaml": RolesTable.load,
        "projections.yaml": Projections.load,
        "webhooks.yaml": Registry.load,
        "referrals.yaml": lambda p: load_rules(p),
    }


LOADERS = _loaders()
YAML_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | TEXT | EDGE_TEXT
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


@cache
def yaml_docs() -> dict[str, Any]:
    top = paths.topology_file().parent
    return {name: yaml.safe_load((top / name).read_text(encoding="utf-8")) for name in LOADERS}


def _paths_in(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths_in(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths_in(v, (*prefix, i))
    return out


@st.composite
def yaml_inputs(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(LOADERS)))
    doc = json.loads(json.dumps(yaml_docs()[name]))  # a deep copy
    how = draw(st.sampled_from(["edit", "edit", "edit", "text"]))
    if how == "text":
        text = yaml.safe_dump(doc, allow_unicode=True)
        return name, draw(mutated(text.encode())).decode("utf-8", "replace")
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_paths_in(doc)))
        parent: Any = doc
        for step in where[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        if not where:
            doc = draw(YAML_VALUES) if op == "replace" else doc
            continue
        last = where[-1]
        if op == "replace":
            parent[last] = draw(YAML_VALUES)
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(TEXT)] = draw(YAML_VALUES)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(TEXT)] = parent.pop(last)
    return name, yaml.safe_dump(doc, allow_unicode=True)


def check_yaml(x: tuple[str, str]) -> None:
    name, text = x
    path = _TMP / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    LOADERS[name](path)


# -- intake's request models ---------------------------------------------------------------
def _requests() -> dict[str, tuple[type[pydantic.BaseModel], Callable[[], dict[str, Any]]]]:
    from homeward_intake import models as m
    from tests.unit.intake import samples as s

    def body(make: Callable[..., dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        return lambda: {k: v for k, v in make().items() if k != "case_id"}

    return {
        "AlertIssueRequest": (m.AlertIssueRequest, s.alert),
        "AlertUpdateRequest": (m.AlertUpdateRequest, s.update),
        "SightingRequest": (m.SightingRequest, s.sighting),
        "CancellationRequest": (m.CancellationRequest, s.cancellation),
        "DnaComparisonRequest": (m.DnaComparisonRequest, s.dna_comparison),
        "ReportRequest": (m.ReportRequest, s.report),
        "ReportAckRequest": (m.ReportAckRequest, s.report_ack),
    }


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT | EDGE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def request_inputs(draw: st.DrawFn) -> tuple[str, str, Any]:
    requests = _requests()
    name = draw(st.sampled_from(sorted(requests)))
    model, sample = requests[name]
    body: Any = sample()
    how = draw(st.sampled_from(["field", "field", "fields", "json", "raw"]))
    if how in ("field", "fields") and isinstance(body, dict):
        keys = [*body, *model.model_fields]
        for _ in range(1 if how == "field" else draw(st.integers(2, 5))):
            key = draw(st.sampled_from(keys) | TEXT)
            if draw(st.integers(0, 4)) == 0:
                body.pop(key, None)
            else:
                body[key] = draw(JSON_VALUES)
        return name, "python", body
    if how == "json":
        text = json.dumps(body, ensure_ascii=draw(st.booleans()))
        return name, "json", draw(mutated(text.encode()))
    return name, "json", draw(st.binary(max_size=200))


def check_request(x: tuple[str, str, Any]) -> None:
    name, how, body = x
    model = _requests()[name][0]
    if how == "json":
        model.model_validate_json(body)
    else:
        model.model_validate(body)


TARGETS = {
    t.name: t
    for t in [
        Target("codec", codec_inputs, check_codec, (HomewardError,),
               "Codec.decode: mutated and random values of every event type"),
        Target("headers", header_inputs, check_headers, (HomewardError,),
               "EventMeta.from_headers and Codec.decode: CloudEvents headers edited"),
        Target("directory", directory_inputs, check_directory, (ConfigError,),
               "load_directory: CSV rows, encodings, long cells, random bytes"),
        Target("yaml", yaml_inputs, check_yaml, (ConfigError,),
               "the six topology/*.yaml loaders: keys added, dropped, renamed, retyped"),
        Target("intake_models", request_inputs, check_request, (pydantic.ValidationError,),
               "intake's request models: fields retyped, JSON mutated"),
    ]
}  # fmt: skip
