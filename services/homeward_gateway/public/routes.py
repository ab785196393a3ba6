"""The feed's HTTP routes: public and read-only by design (a CAP feed is for
anyone to poll), so no bearer token, no write, and nothing but what the feed
already holds: the public part of public alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response

from homeward.http.responses import error
from homeward_gateway.public.atom import ATOM_TYPE, CAP_TYPE, index
from homeward_gateway.public.feed import Feed
from homeward_gateway.public.settings import CapSettings

PREFIX = "/public/cap"
# Aggregators poll; a short shared cache spares the gateway without hiding a Cancel long.
CACHE = "public, max-age=15"


def router(feed: Feed, settings: CapSettings) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["public"])

    @api.get(
        "/index.atom",
        name="cap_index",
        summary="The Atom index of the CAP feed",
        response_class=Response,
        responses={200: {"content": {ATOM_TYPE: {}}, "description": "The Atom feed"}},
    )
    def atom(request: Request) -> Response:
        base = settings.base_url or str(request.url_for("cap_index")).rsplit("/", 1)[0]
        body = index(
            feed.newest(settings.index_limit),
            base=base,
            title=settings.feed_title,
            author=settings.sender_name_en,
            feed_id=settings.feed_id,
            now=datetime.now(UTC),
            zone=settings.zone,
        )
        return Response(body, media_type=ATOM_TYPE, headers={"Cache-Control": CACHE})

    @api.get(
        "/{identifier}.xml",
        summary="One CAP 1.2 message",
        response_class=Response,
        responses={
            200: {"content": {CAP_TYPE: {}}, "description": "The CAP 1.2 message"},
            404: error("not_found: no such message in the feed (or no longer in it)"),
        },
    )
    def message(identifier: str) -> Response:
        published = feed.get(identifier)
        if published is None:
            raise HTTPException(status_code=404, detail=f"no CAP message {identifier}")
        return Response(published.xml, media_type=CAP_TYPE, headers={"Cache-Control": CACHE})

    return api
