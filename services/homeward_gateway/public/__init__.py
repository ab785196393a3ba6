"""The public channel's CAP 1.2 feed (docs/cap-feed.md): an Atom index and one
CAP message per change of a public alert, built from the PublicNotice
deliveries the fan-out writes to media and online-platform inboxes.

`mount(app, gateway, settings)` is what the gateway's create_app calls: it
builds the feed, subscribes it to the store (every entry, as it arrives and
when the store is rebuilt at start) and adds the unauthenticated read-only
routes under /public/cap.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from homeward_gateway.public.feed import Feed
from homeward_gateway.public.routes import router
from homeward_gateway.public.settings import CapSettings
from homeward_gateway.public.sign import Signer

__all__ = ["CapSettings", "Feed", "feed_for", "mount"]


def feed_for(settings: CapSettings) -> Feed:
    signer = None
    if settings.signing_key_file is not None and settings.signing_cert_file is not None:
        signer = Signer.from_files(settings.signing_key_file, settings.signing_cert_file)
    return Feed(settings.texts, settings.zone, settings.base_url, signer)


def mount(
    app: FastAPI, gateway: Any, settings: Any = None, *, cap: CapSettings | None = None
) -> Feed:
    """Add the feed to `app`, fed by `gateway`'s inbox store. `settings` are the
    gateway's (unused: the feed reads its own, HOMEWARD_GATEWAY_CAP_*)."""
    cap = cap or CapSettings()
    feed = feed_for(cap)
    store = getattr(gateway, "store", gateway)
    store.listen(lambda entry: feed.offer_entry(entry.delivery.event))
    app.include_router(router(feed, cap))
    app.state.cap_feed = feed
    return feed
