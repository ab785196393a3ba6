"""The endpoint registry: which agency takes its deliveries by webhook, where,
signed with which secrets, and which kinds of delivery it wants.

A YAML file (topology/webhooks.yaml for the demo agencies; the path is a
setting), agency id -> endpoint:

    demo: true                     # only then may a secret be written inline
    endpoints:
      EDU-0010:
        url: https://school.example/homeward
        secrets: [env:EDU_0010_WEBHOOK_SECRET, file:/run/secrets/edu-0010-old]
        events: [alert, update, cancellation]   # delivery kinds; omitted = all

A secret reference is `env:NAME` (the variable holds `whsec_...`),
`file:PATH` (the file holds one `whsec_...` a line) or, in a demo registry
only, `demo:whsec_...`. The first secret is the current one; every one listed
signs (rotation: two valid at once). Only http(s) URLs with a host and no
credentials in them are taken: the registry is the only place a webhook URL
comes from, never a delivery (SSRF).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from homeward.config_files import read_yaml
from homeward.errors import ConfigError, HomewardError
from homeward.webhook_signing import Secret
from homeward_agency.delivery import Kind

KINDS: frozenset[str] = frozenset(get_args(Kind))


@dataclass(frozen=True)
class Endpoint:
    agency_id: str
    url: str
    secrets: tuple[Secret, ...] = field(repr=False)
    events: frozenset[str] = KINDS

    def wants(self, kind: str) -> bool:
        return kind in self.events


def check_url(url: str, where: str, *, require_https: bool = False) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port
        raise ConfigError(f"not a URL: {exc}", field=where) from None
    allowed = ("https",) if require_https else ("http", "https")
    if parts.scheme not in allowed:
        raise ConfigError(
            f"scheme must be one of {list(allowed)}, not {parts.scheme!r}", field=where
        )
    if not parts.hostname:
        raise ConfigError("has no host", field=where)
    if parts.username or parts.password:
        raise ConfigError("must not carry credentials (sign instead)", field=where)
    if parts.fragment:
        raise ConfigError("must not carry a fragment", field=where)
    return url


def resolve_secret(ref: str, where: str, *, demo: bool) -> list[Secret]:
    kind, _, value = str(ref).partition(":")
    if kind == "env":
        text = os.environ.get(value, "")
        if not text.strip():
            raise ConfigError(f"environment variable {value!r} is not set", field=where)
        texts = text.split()
    elif kind == "file":
        try:
            texts = Path(value).read_text(encoding="utf-8").split()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file: {exc.strerror}", field=where) from None
        except ValueError:  # a NUL in the path
            raise ConfigError("not a file path", field=where) from None
    elif kind == "demo":
        if not demo:
            raise ConfigError("inline secrets only in a registry marked demo: true", field=where)
        texts = [value]
    else:
        raise ConfigError("must be env:NAME, file:PATH or demo:whsec_...", field=where)
    try:
        return [Secret.parse(t, field_name=where) for t in texts]
    except HomewardError as exc:
        raise ConfigError(exc.reason, field=where) from None


def _endpoint(agency_id: str, spec: Any, *, demo: bool, require_https: bool) -> Endpoint:
    where = f"endpoints.{agency_id}"
    if not isinstance(spec, dict):
        raise ConfigError("must be a mapping with url and secrets", field=where)
    unknown = sorted(set(spec) - {"url", "secrets", "events"})
    if unknown:
        raise ConfigError(f"unknown keys {unknown}", field=where)
    if "url" not in spec:
        raise ConfigError("missing", field=f"{where}.url")
    url = check_url(str(spec["url"]), f"{where}.url", require_https=require_https)
    refs = spec.get("secrets") or []
    if not isinstance(refs, list) or not refs:
        raise ConfigError("at least one secret reference is needed", field=f"{where}.secrets")
    secrets: list[Secret] = []
    for i, ref in enumerate(refs):
        secrets += resolve_secret(ref, f"{where}.secrets[{i}]", demo=demo)
    events = spec.get("events")
    wanted = KINDS
    if events is not None and not isinstance(events, list):
        raise ConfigError("must be a list of delivery kinds", field=f"{where}.events")
    if events is not None:
        bad = sorted(str(e) for e in events if str(e) not in KINDS)
        if bad or not events:
            raise ConfigError(
                f"unknown delivery kinds {bad}; one or more of {sorted(KINDS)}",
                field=f"{where}.events",
            )
        wanted = frozenset(str(e) for e in events)
    return Endpoint(agency_id, url, tuple(secrets), wanted)


@dataclass(frozen=True)
class Registry:
    endpoints: dict[str, Endpoint]

    def get(self, agency_id: str) -> Endpoint | None:
        return self.endpoints.get(agency_id)

    def __len__(self) -> int:
        return len(self.endpoints)

    @classmethod
    def parse(cls, doc: Any, *, require_https: bool = False) -> Registry:
        if doc is None:
            return cls({})
        if not isinstance(doc, dict):
            raise ConfigError("must be a mapping with `endpoints`", field="registry")
        unknown = sorted(str(k) for k in set(doc) - {"demo", "endpoints"})
        if unknown:
            raise ConfigError("unknown key (known: demo, endpoints)", field=unknown[0])
        if not isinstance(doc.get("demo", False), bool):
            raise ConfigError("must be true or false", field="demo")
        demo = bool(doc.get("demo", False))
        specs = doc.get("endpoints") or {}
        if not isinstance(specs, dict):
            raise ConfigError("must map agency ids to endpoints", field="endpoints")
        return cls(
            {
                str(aid): _endpoint(str(aid), spec, demo=demo, require_https=require_https)
                for aid, spec in specs.items()
            }
        )

    @classmethod
    def load(cls, path: Path, *, require_https: bool = False) -> Registry:
        doc = read_yaml(path)
        try:
            return cls.parse(doc, require_https=require_https)
        except ConfigError as exc:
            raise ConfigError(exc.reason, field=f"{path}: {exc.field}") from None
