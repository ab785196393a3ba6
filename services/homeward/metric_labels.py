"""Metric label values taken from input, bounded (docs/operations.md, "Metrics").

Every distinct label value is a new time series that Prometheus keeps, so a
label whose value a client or a producer chooses (an HTTP method, the header
a record lacks, the field a dead letter names) lets anyone grow the
monitoring system without bound: 50 made-up methods made 50 series. Each such
value goes through one function here that keeps the values Homeward itself
can produce and maps everything else to `other`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, get_args

OTHER = "other"

# RFC 9110's methods that any route here serves or refuses (405); WebDAV and
# invented ones are `other`.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The headers the codec reads or writes (homeward/codec.py, homeward/deadletter.py).
KNOWN_HEADERS = frozenset(
    {
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_correlationid",
        "ce_causationid",
        "ce_classification",
        "content-type",
    }
)

# Where a field path starts when it is not a field of an event.
ROOTS = frozenset({"value", "key", "headers", "record", "schema", "fingerprint", "answer", "topic"})


# Deeper than any schema nests: more parts can only be made up.
MAX_DEPTH = 8


def http_method(method: str) -> str:
    return method if method in HTTP_METHODS else OTHER


@lru_cache(maxsize=1)
def known_fields() -> frozenset[str]:
    """Every field name a schema or an event model declares (a fixed set: no
    schema is recursive), so a field path built from them is one of a few."""
    import pydantic

    from homeward.catalogue import default_catalogue
    from homeward.events import EVENT_TYPES

    names: set[str] = set(ROOTS)

    def walk_schema(s: Any) -> None:
        if isinstance(s, list):
            for b in s:
                walk_schema(b)
        elif isinstance(s, dict):
            for f in s.get("fields", ()):
                names.add(f["name"])
                walk_schema(f["type"])
            for k in ("items", "values", "type"):
                if isinstance(s.get(k), (dict, list)):
                    walk_schema(s[k])

    catalogue = default_catalogue()
    for entry in [*catalogue, *catalogue.released()]:
        walk_schema(entry.expanded)

    todo: list[type[pydantic.BaseModel]] = list(EVENT_TYPES.values())
    seen: set[type] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(name)
            if info.alias:
                names.add(info.alias)
            todo += [
                t
                for t in _types_in(info.annotation)
                if isinstance(t, type) and issubclass(t, pydantic.BaseModel)
            ]
    return frozenset(names)


def _types_in(annotation: Any) -> list[Any]:
    if isinstance(annotation, type):
        return [annotation]
    return [t for arg in get_args(annotation) for t in _types_in(arg)]


def field_label(field: str | None, fallback: str = "value") -> str:
    """A field path (`headers.ce_time`, `value.child.name`, `value.target_types[]`)
    as a label: list positions as `*`, a header Homeward does not use as
    `headers.other`, and any path with a name no schema declares as
    `<root>.other` or `other`. Not cached: a cache would hold what senders typed."""
    if not field:
        return fallback
    parts = field.split(".")
    if parts[0] == "headers":
        if len(parts) == 2 and parts[1] in KNOWN_HEADERS:
            return field
        return "headers.other"
    if len(parts) > MAX_DEPTH:
        return f"{parts[0]}.other" if parts[0] in ROOTS else OTHER
    known = known_fields()
    out = []
    for p in parts:
        if p.isdigit():
            out.append("*")
            continue
        # The codec's walk names array items `xs[]` and map values `m{}`.
        name = p.removesuffix("[]").removesuffix("{}")
        if name not in known:
            return f"{parts[0]}.other" if parts[0] in ROOTS and len(parts) > 1 else OTHER
        out.append(p)
    return ".".join(out)


def reason_label(field: str | None, error: BaseException) -> str:
    """The dead-letter reason label: the field at fault, bounded; for an error
    that names no field, its class (a name from the code, not from input)."""
    return field_label(field, type(error).__name__) if field else type(error).__name__
