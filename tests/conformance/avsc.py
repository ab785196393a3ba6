"""The .avsc files read as plain JSON, independently of homeward.catalogue.

The conformance tests use these helpers as a second opinion: the schema graph
(for the recursion rule), the least number of bytes a schema can encode to
(for the array/map rule), and a spec-conformant standalone form of a schema
(each named type defined at its first use and referred to by full name after
that, as the Avro spec's Parsing Canonical Form requires) to hand to Apache's
avro library.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})

Schema = Any


def read_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Raw schema JSON by the full name it declares (file names are not trusted here)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        found[fullname(raw["name"], raw.get("namespace", ""))] = raw
    return found


def fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _space(full: str) -> str:
    return full.rpartition(".")[0]


def named_definitions(raw: dict[str, Schema]) -> dict[str, tuple[dict[str, Any], str]]:
    """Every named type defined anywhere (top level or inline): name -> (schema, its namespace)."""
    defs: dict[str, tuple[dict[str, Any], str]] = {}

    def visit(schema: Schema, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                visit(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema["type"]
            if kind in NAMED:
                full = fullname(schema["name"], schema.get("namespace", namespace))
                defs[full] = (schema, _space(full))
                for f in schema.get("fields", []):
                    visit(f["type"], _space(full))
            elif kind == "array":
                visit(schema["items"], namespace)
            elif kind == "map":
                visit(schema["values"], namespace)
            elif not isinstance(kind, str) or kind not in PRIMITIVES:
                visit(kind, namespace)

    for schema in raw.values():
        visit(schema, "")
    return defs


def direct_references(schema: Schema, namespace: str) -> Iterator[str]:
    """Full names of the named types one named type's body uses, by name or inline."""
    if isinstance(schema, str):
        if schema not in PRIMITIVES:
            yield fullname(schema, namespace)
    elif isinstance(schema, list):
        for branch in schema:
            yield from direct_references(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in NAMED:
            yield fullname(schema["name"], schema.get("namespace", namespace))
        elif kind == "array":
            yield from direct_references(schema["items"], namespace)
        elif kind == "map":
            yield from direct_references(schema["values"], namespace)
        elif not isinstance(kind, str) or kind not in PRIMITIVES:
            yield from direct_references(kind, namespace)


def reference_graph(raw: dict[str, Schema]) -> dict[str, set[str]]:
    """Named type -> the named types its fields (or symbols) use directly."""
    graph: dict[str, set[str]] = {}
    for name, (schema, space) in named_definitions(raw).items():
        uses: set[str] = set()
        for f in schema.get("fields", []):
            uses.update(direct_references(f["type"], space))
        graph[name] = uses
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path that comes back to where it started, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def reachable(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


_MIN_PRIMITIVE = {
    "null": 0,
    "boolean": 1,
    "int": 1,
    "long": 1,
    "float": 4,
    "double": 8,
    "bytes": 1,
    "string": 1,
}


def min_encoded_size(
    schema: Schema,
    defs: dict[str, tuple[dict[str, Any], str]],
    namespace: str = "",
) -> int:
    """The fewest bytes any datum of `schema` takes in Avro binary."""
    if isinstance(schema, str):
        if schema in _MIN_PRIMITIVE:
            return _MIN_PRIMITIVE[schema]
        named, space = defs[fullname(schema, namespace)]
        return min_encoded_size(named, defs, space)
    if isinstance(schema, list):
        # The branch index is a varint (at least one byte) before the branch.
        return 1 + min(min_encoded_size(b, defs, namespace) for b in schema)
    kind = schema["type"]
    if kind == "record":
        space = _space(fullname(schema["name"], schema.get("namespace", namespace)))
        return sum(min_encoded_size(f["type"], defs, space) for f in schema["fields"])
    if kind == "enum":
        return 1
    if kind == "fixed":
        return int(schema["size"])
    if kind in ("array", "map"):
        return 1  # the zero block count that ends an empty one
    return min_encoded_size(kind, defs, namespace)


def collection_items(
    raw: dict[str, Schema],
) -> Iterator[tuple[str, str, Schema, str]]:
    """(owner, field, item schema, namespace) for every array item and map value type."""

    def visit(schema: Schema, owner: str, field: str, namespace: str) -> Iterator[Any]:
        if isinstance(schema, list):
            for branch in schema:
                yield from visit(branch, owner, field, namespace)
        elif isinstance(schema, dict):
            kind = schema["type"]
            if kind == "array":
                yield owner, field, schema["items"], namespace
                yield from visit(schema["items"], owner, field, namespace)
            elif kind == "map":
                yield owner, field, schema["values"], namespace
                yield from visit(schema["values"], owner, field, namespace)
            elif kind == "record":
                full = fullname(schema["name"], schema.get("namespace", namespace))
                for f in schema["fields"]:
                    yield from visit(f["type"], full, f["name"], _space(full))

    for name, schema in raw.items():
        yield from visit(schema, name, "", _space(name))


def standalone(name: str, raw: dict[str, Schema]) -> Schema:
    """`name` with every named type it uses defined inline at its first use and
    referred to by full name after that: one valid, self-contained schema."""
    defs = named_definitions(raw)
    defined: set[str] = set()

    def inline(schema: Schema, namespace: str) -> Schema:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            full = fullname(schema, namespace)
            if full in defined:
                return full
            named, space = defs[full]
            return inline(named, space)
        if isinstance(schema, list):
            return [inline(b, namespace) for b in schema]
        kind = schema["type"]
        if kind in NAMED:
            full = fullname(schema["name"], schema.get("namespace", namespace))
            if full in defined:
                return full
            defined.add(full)
            out = {k: v for k, v in schema.items() if k not in ("name", "namespace", "fields")}
            out["name"] = full
            if kind == "record":
                out["fields"] = [
                    {**f, "type": inline(f["type"], _space(full))} for f in schema["fields"]
                ]
            return out
        if kind == "array":
            return {**schema, "items": inline(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": inline(schema["values"], namespace)}
        return schema

    return inline(name, "")


def strip_logical_types(schema: Schema) -> Schema:
    """The schema without logicalType annotations on primitives.

    The Avro spec's Parsing Canonical Form drops logicalType ([STRIP]) and
    writes a primitive as its bare name ([PRIMITIVES]); Java and fastavro do.
    Apache avro's Python `PrimitiveSchema.to_canonical_json` (avro 1.12,
    avro/schema.py: `self.fullname if len(self.props) == 1 else
    self.canonical_properties`) writes `{"type":"long"}` instead, so its
    fingerprint of a schema with a timestamp-millis field is not the spec's.
    Stripping first gives the spec's canonical form, whose fingerprint Apache
    then computes with its own CRC-64-AVRO. fastavro's private `__` keys,
    which the catalogue's expanded form carries, go too.
    """
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind in PRIMITIVES and "logicalType" in schema:
            return kind
        return {
            k: strip_logical_types(v)
            for k, v in schema.items()
            if not (isinstance(k, str) and k.startswith("__"))
        }
    return schema


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification writes it out."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp
