"""The parts that mount themselves on the gateway's app (console, public feed,
tips, webhooks): each package's `__init__` exports `mount(app, gateway,
settings)`. A part not installed yet is simply absent."""

from __future__ import annotations

import importlib
import logging

from homeward_gateway.app import Mount

log = logging.getLogger(__name__)

PARTS = ("console", "public", "tips", "webhooks")


def installed_mounts() -> list[Mount]:
    found: list[Mount] = []
    for part in PARTS:
        try:
            module = importlib.import_module(f"homeward_gateway.{part}")
        except ModuleNotFoundError as exc:
            if exc.name != f"homeward_gateway.{part}":
                raise  # the part is there but broken: say so
            continue
        mount = getattr(module, "mount", None)
        if mount is not None:
            found.append(mount)
            log.info("mounted %s", part)
    return found
