"""A check of an Avro binary body against its writer schema, run before
fastavro decodes it (docs/wire-contract.md, "Decoder bounds").

fastavro trusts what it reads: a negative enum index (-1) picks the last
symbol, a negative union index picks another branch by Python's negative
indexing, and an array claims as many items as its block count says (a
256 KiB body can hold 262,144 empty strings, or a billion nulls in two
bytes), all of them built as Python objects before the event model can say
"at most 32". This walk reads only the structure: every index is checked
against its schema, every length against the bytes left, and every array or
map against a bound on its items, without building a single value. Its cost
is bounded by the number of items it may see (MAX_ITEMS_PER_RECORD) times the
schema's size, whatever the body claims.

The walk is compiled once per writer schema into one Python function of
straight-line code (a union is an if/elif on its index byte, an array a loop):
a walk of closures, one call per field, cost 9 µs on an AlertIssued, half of
fastavro's decode of it; this costs 2.2 to 3.1 µs (docs/wire-contract.md). The common one-byte varints are read inline; the
rest, and every refusal, go through the helpers below, which raise
CodecError naming the field and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.errors import CodecError

# The largest list an event model accepts is 32 items (AlertIssued.target_types,
# AuditEntry.detail); 256 leaves room for evolution while refusing, before
# decoding, anything that could only be a hostile record.
MAX_ITEMS_PER_ARRAY = 256
# All arrays and maps of one record together: bounds the walk, and what
# fastavro builds after it, for any shape of nesting.
MAX_ITEMS_PER_RECORD = 1024


def _long(buf: bytes, pos: int, field: str) -> tuple[int, int]:
    """A zig-zag varint at `pos`: (value, position after)."""
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift > 63:
            raise CodecError("varint longer than 10 bytes", field=field)


def _skip(buf: bytes, pos: int, limit: int, field: str) -> int:
    end = pos + limit
    while buf[pos] & 0x80:
        pos += 1
        if pos >= end:
            raise CodecError(f"varint longer than {limit} bytes", field=field)
    return pos + 1


def _length(buf: bytes, pos: int, field: str) -> int:
    """The position after a length-prefixed value (bytes, string)."""
    n, pos = _long(buf, pos, field)
    if n < 0:
        raise CodecError(f"negative length {n}", field=field)
    if pos + n > len(buf):
        raise CodecError(f"length {n} runs past the end of the record", field=field)
    return pos + n


def _index(buf: bytes, pos: int, size: int, what: str, field: str) -> int:
    """An enum or union index read the slow way; refuses any outside 0..size-1."""
    i, after = _long(buf, pos, field)
    if not 0 <= i < size:
        raise CodecError(f"{what} index {i} outside 0..{size - 1}", field=field)
    return after


def _bad_union(buf: bytes, pos: int, size: int, field: str) -> int:
    _index(buf, pos, size, "union", field)
    raise CodecError("union index is not a minimal varint", field=field)


def _bad_boolean(b: int, field: str) -> None:
    raise CodecError(f"boolean byte is {b}, not 0 or 1", field=field)


def _count(buf: bytes, pos: int, field: str) -> tuple[int, int]:
    """A block's item count, and the position of its first item."""
    count, pos = _long(buf, pos, field)
    if count < 0:  # a negative count is followed by the block's size in bytes
        size, pos = _long(buf, pos, field)
        if size < 0:
            raise CodecError(f"negative block size {size}", field=field)
        count = -count
    return count, pos


def _too_many(seen: int, left: int, field: str) -> None:
    if seen > MAX_ITEMS_PER_ARRAY:
        raise CodecError(
            f"more than {MAX_ITEMS_PER_ARRAY} items (claims at least {seen})", field=field
        )
    raise CodecError(
        f"the record holds more than {MAX_ITEMS_PER_RECORD} array and map items", field=field
    )


_HELPERS = {
    "_long": _long,
    "_skip": _skip,
    "_length": _length,
    "_index": _index,
    "_bad_union": _bad_union,
    "_bad_boolean": _bad_boolean,
    "_count": _count,
    "_too_many": _too_many,
    "MAX_ITEMS": MAX_ITEMS_PER_ARRAY,
}


class _Source:
    """The generated function's text, a line at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.vars = 0

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def var(self, stem: str) -> str:
        self.vars += 1
        return f"{stem}{self.vars}"


def compile_check(
    schema: Any, name: str = "the schema", root: str = "value"
) -> Callable[[bytes, int], int]:
    """The check for `schema` (standalone form: each named type defined at its
    first use, referred to by full name after). The returned function takes
    the body and where it starts, and returns where it ends (past the end of
    the body when a last length overruns it). A named type is generated again
    at each use, so an error names the field where it was met."""
    named: dict[str, tuple[dict[str, Any], str]] = {}  # full name -> (definition, namespace)
    building: set[str] = set()
    src = _Source()

    def gen(s: Any, field: str, namespace: str, d: int) -> None:
        f = repr(field)
        if isinstance(s, list):
            gen_union(s, field, namespace, d)
            return
        if isinstance(s, str):
            kind = s
        elif isinstance(s["type"], (list, dict)):
            gen(s["type"], field, namespace, d)
            return
        else:
            kind = s["type"]
        if kind == "null":
            return
        if kind == "boolean":
            src.emit(d, f"if buf[p] > 1: _bad_boolean(buf[p], {f})")
            src.emit(d, "p += 1")
        elif kind in ("int", "long"):
            limit = 5 if kind == "int" else 10
            src.emit(d, f"p = p + 1 if buf[p] < 128 else _skip(buf, p, {limit}, {f})")
        elif kind in ("float", "double"):
            src.emit(d, f"p += {4 if kind == 'float' else 8}")
        elif kind in ("bytes", "string"):
            # A one-byte length is even (zig-zag of a non-negative number).
            src.emit(d, "b = buf[p]")
            src.emit(d, f"p = p + 1 + (b >> 1) if b < 128 and not b & 1 else _length(buf, p, {f})")
        elif kind in ("array", "map"):
            gen_blocks(s, kind, field, namespace, d)
        elif kind in ("record", "error", "enum", "fixed"):
            name = s["name"]
            full = name if "." in name else f"{s.get('namespace', namespace)}.{name}".lstrip(".")
            named[full] = (s, full.rpartition(".")[0])
            gen_named(full, field, d)
        else:
            full = kind if "." in kind else f"{namespace}.{kind}".lstrip(".")
            if full not in named and kind in named:
                full = kind
            if full not in named:
                raise CodecError(f"schema refers to unknown type {kind!r}", field=field)
            gen_named(full, field, d)

    def gen_named(full: str, field: str, d: int) -> None:
        s, space = named[full]
        f = repr(field)
        if s["type"] == "enum":
            n = len(s["symbols"])
            if 2 * n <= 128:
                src.emit(d, "b = buf[p]")
                src.emit(
                    d,
                    f"p = p + 1 if b < {2 * n} and not b & 1 else _index(buf, p, {n}, 'enum', {f})",
                )
            else:
                src.emit(d, f"p = _index(buf, p, {n}, 'enum', {f})")
            return
        if s["type"] == "fixed":
            src.emit(d, f"p += {int(s['size'])}")
            return
        if full in building:
            # GUIDE: no recursive schemas (fastavro can be crashed through one).
            raise CodecError(f"schema {full} is recursive", field=field)
        building.add(full)
        sep = "." if field else ""
        for fld in s["fields"]:
            gen(fld["type"], f"{field}{sep}{fld['name']}", space, d)
        building.discard(full)

    def gen_union(branches: list[Any], field: str, namespace: str, d: int) -> None:
        n = len(branches)
        if 2 * n > 128:
            raise CodecError(f"union of {n} branches is not supported", field=field)
        u = src.var("u")
        src.emit(d, f"{u} = buf[p]")
        src.emit(d, "p += 1")
        for i, branch in enumerate(branches):
            src.emit(d, f"{'if' if i == 0 else 'elif'} {u} == {2 * i}:")
            src.emit(d + 1, "pass")
            gen(branch, field, namespace, d + 1)
        src.emit(d, f"else: _bad_union(buf, p - 1, {n}, {field!r})")

    def gen_blocks(s: dict[str, Any], kind: str, field: str, namespace: str, d: int) -> None:
        f = repr(field)
        c, seen = src.var("c"), src.var("seen")
        src.emit(d, f"{seen} = 0")
        src.emit(d, "while True:")
        src.emit(d + 1, f"{c} = buf[p]")
        src.emit(d + 1, f"if {c} < 128 and not {c} & 1: {c} >>= 1; p += 1")
        src.emit(d + 1, f"else: {c}, p = _count(buf, p, {f})")
        src.emit(d + 1, f"if {c} == 0: break")
        src.emit(d + 1, f"{seen} += {c}")
        src.emit(d + 1, f"left -= {c}")
        src.emit(d + 1, f"if {seen} > MAX_ITEMS or left < 0: _too_many({seen}, left, {f})")
        src.emit(d + 1, f"for _ in range({c}):")
        if kind == "array":
            gen(s["items"], f"{field}[]", namespace, d + 2)
        else:
            gen("string", f"{field}{{}}", namespace, d + 2)
            gen(s["values"], f"{field}{{}}", namespace, d + 2)
        src.emit(d + 2, "pass")

    src.emit(0, "def walk(buf, p):")
    src.emit(1, f"left = {MAX_ITEMS_PER_RECORD}")
    gen(schema, root, "", 1)
    src.emit(1, "return p")
    scope: dict[str, Any] = dict(_HELPERS)
    exec(compile("\n".join(src.lines), f"<avro check {root}>", "exec"), scope)
    walk: Callable[[bytes, int], int] = scope["walk"]

    def check(body: bytes, start: int) -> int:
        try:
            end = walk(body, start)
        except IndexError:
            end = len(body) + 1
        if end > len(body):
            raise CodecError(
                f"cannot be read as {name}: the body ends inside a value (truncated)", field=root
            )
        return end

    return check
