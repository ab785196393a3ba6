"""The schema catalogue: every .avsc under schemas/avro, plus released copies.

Built once per process. Writers look schemas up by full name; readers look
the writer's schema up by its CRC-64-AVRO fingerprint (the single-object
encoding header) and resolve it to their own current version, so records
written with a released schema stay readable after the schema evolves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro.schema import (
    fingerprint,
    parse_schema,
    to_parsing_canonical_form,
)

from homeward import paths
from homeward.errors import CodecError, ConfigError

CURRENT = "current"


@dataclass(frozen=True)
class SchemaEntry:
    """One schema version: its name, parsed form and fingerprint."""

    name: str
    version: str
    expanded: dict[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)
    canonical: str = field(repr=False)
    fingerprint: bytes = field(repr=False)

    @property
    def is_record(self) -> bool:
        return self.expanded.get("type") == "record"


def _read_dir(directory: Path) -> dict[str, Any]:
    """Raw schema JSON by full name; the file name must be `<fullname>.avsc`."""
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.avsc")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc}", field=str(path)) from exc
        fullname = (
            f"{raw.get('namespace')}.{raw.get('name')}" if raw.get("namespace") else raw["name"]
        )
        if path.name != f"{fullname}.avsc":
            raise ConfigError(f"file must be named {fullname}.avsc", field=str(path))
        found[fullname] = raw
    return found


PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})


def _qualify(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def standalone(name: str, raw: dict[str, Any]) -> Any:
    """`name` as one self-contained schema: every named type it uses defined
    at its first use and referred to by full name after that. Its Parsing
    Canonical Form is what the fingerprint is taken over (Avro spec); an
    expansion that leaves nested references undefined, or defines a type
    twice, would give a fingerprint no other Avro implementation computes."""
    defined: set[str] = set()

    def inline(schema: Any, namespace: str) -> Any:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            full = _qualify(schema, namespace)
            if full in defined:
                return full
            if full not in raw:
                raise ConfigError(f"refers to unknown type {full!r}", field=name)
            return inline(raw[full], namespace)
        if isinstance(schema, list):
            return [inline(branch, namespace) for branch in schema]
        kind = schema["type"]
        if kind in NAMED:
            full = _qualify(schema["name"], schema.get("namespace", namespace))
            if full in defined:
                return full
            defined.add(full)
            out = {k: v for k, v in schema.items() if k not in ("name", "namespace", "fields")}
            out["name"] = full
            if kind == "record":
                space = full.rpartition(".")[0]
                out["fields"] = [{**f, "type": inline(f["type"], space)} for f in schema["fields"]]
            return out
        if kind == "array":
            return {**schema, "items": inline(schema["items"], namespace)}
        if kind == "map":
            return {**schema, "values": inline(schema["values"], namespace)}
        if kind not in PRIMITIVES:  # {"type": <a named type or union>}
            return inline(kind, namespace)
        return schema

    return inline(name, "")


def _build(raw: dict[str, Any], version: str) -> dict[str, SchemaEntry]:
    entries: dict[str, SchemaEntry] = {}
    problems: list[str] = []  # gathered, so one run names every broken schema
    for name in raw:
        try:
            expanded = standalone(name, raw)
            parsed = parse_schema(expanded)
        except ConfigError as exc:
            problems.append(f"{name}: {exc.reason}")
            continue
        except Exception as exc:  # fastavro raises several types for a bad schema
            problems.append(f"{name}: not a valid Avro schema: {exc}")
            continue
        canonical = to_parsing_canonical_form(expanded)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        entries[name] = SchemaEntry(name, version, expanded, parsed, canonical, fp)
    if problems:
        raise ConfigError("; ".join(problems), field=version)
    return entries


class Catalogue:
    """Schemas by name (current) and by fingerprint (current and released)."""

    def __init__(self, current: dict[str, SchemaEntry], released: list[SchemaEntry]) -> None:
        self._current = current
        self._by_fp: dict[bytes, SchemaEntry] = {e.fingerprint: e for e in released}
        self._by_fp.update({e.fingerprint: e for e in current.values()})

    @classmethod
    def load(cls, schema_dir: Path | None = None, released_dir: Path | None = None) -> Catalogue:
        current = _build(_read_dir(schema_dir or paths.schema_dir()), CURRENT)
        released: list[SchemaEntry] = []
        rdir = released_dir or paths.released_schema_dir()
        if rdir.is_dir():
            for version_dir in sorted(p for p in rdir.iterdir() if p.is_dir()):
                released.extend(_build(_read_dir(version_dir), version_dir.name).values())
        return cls(current, released)

    def by_name(self, name: str) -> SchemaEntry:
        try:
            return self._current[name]
        except KeyError:
            raise CodecError(f"no schema named {name!r} in the catalogue", field="schema") from None

    def by_fingerprint(self, fp: bytes) -> SchemaEntry:
        try:
            return self._by_fp[fp]
        except KeyError:
            raise CodecError(
                f"unknown writer schema fingerprint {fp.hex()}", field="value.fingerprint"
            ) from None

    def __iter__(self) -> Iterator[SchemaEntry]:
        return iter(self._current.values())

    def released(self) -> list[SchemaEntry]:
        return [e for e in self._by_fp.values() if e.version != CURRENT]


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The process-wide catalogue from the configured schema directories."""
    return Catalogue.load()
