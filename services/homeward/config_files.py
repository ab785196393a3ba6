"""Reading the site's YAML files (topology/*.yaml) into strict shapes.

Each loader used to read its file with `spec.get(...)`: a misspelt key was
ignored without a word and a missing one surfaced as a bare `KeyError:
'inbox'`. Now each file's shape is a pydantic model that forbids unknown keys
(`extra="forbid"`) and takes no silent conversions (`strict=True`), checked
before the loader reads it; a fault is a ConfigError naming the file, the
entry and the key: `topology/topics.yaml: topics.alert_events.partitons:
unknown key`. The loaders keep their own checks of meaning (known roles,
police-only readers); the models only say what keys and types there are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from pydantic import ConfigDict

from homeward.errors import ConfigError

M = TypeVar("M", bound=pydantic.BaseModel)


class Strict(pydantic.BaseModel):
    """A mapping in a site file: these keys and no other, of these types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def read_yaml(path: Path) -> Any:
    """The YAML document at `path`; an unreadable file or bad YAML is a
    ConfigError naming the file (and the line, for bad YAML)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", field=str(path)) from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"line {line}: not UTF-8", field=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML: {problem}", field=str(path)) from exc


def fill_agency_type(template: str, agency_type: str, where: str) -> str:
    """`template` with `{agency_type}` filled in; any other brace is a ConfigError
    (str.format would raise KeyError, IndexError or ValueError)."""
    try:
        return template.format(agency_type=agency_type)
    except (KeyError, IndexError, ValueError):
        raise ConfigError(
            f"{template!r}: the only placeholder is {{agency_type}} (a literal brace is {{{{)",
            field=where,
        ) from None


# Pydantic names the member of a union it tried (`str`, `list[str]`) in the
# error's location; the key path is what a person edits.
_TYPE_TAGS = frozenset({"str", "int", "bool", "float", "list", "dict", "none"})


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and (part in _TYPE_TAGS or "[" in part):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_shape(model: type[M], doc: Any, *, path: Path | str | None = None, root: str = "") -> M:
    """`doc` as `model`, or a ConfigError naming the first key at fault."""
    try:
        return model.model_validate({} if doc is None else doc)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "json-or-python"))
        where = ".".join(p for p in (root, _where(loc)) if p) or "document"
        kind = err["type"]
        if kind == "extra_forbidden":
            reason = "unknown key"
        elif kind == "missing":
            reason = "missing key"
        else:
            reason = err["msg"]
        raise ConfigError(reason, field=where, path=path) from None


def in_file(path: Path | str, exc: ConfigError) -> ConfigError:
    """`exc`, found while reading `path`, with the file named."""
    if exc.path is not None or exc.field == str(path):
        return exc
    return ConfigError(exc.reason, field=exc.field, path=path)
