"""The public tip line (issue 11): a rate-limited, unauthenticated POST and a
form for sightings of a child with an active public alert, routed to the
case's chief officer and unit on police.tips.v1; police of that unit list and
acknowledge their tips. `mount(app, gateway, settings)` adds it to the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from homeward.settings import KafkaSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from homeward_gateway.service import Gateway
    from homeward_gateway.settings import GatewaySettings
    from homeward_gateway.tips.line import TipLine

FORM_PATH = "/public/tip"


def mount(app: FastAPI, gateway: Gateway, settings: GatewaySettings) -> None:
    from homeward_gateway.tips.book import TipBook
    from homeward_gateway.tips.cases import PublicCases
    from homeward_gateway.tips.csrf import FormTokens
    from homeward_gateway.tips.desk import Limits, TipDesk
    from homeward_gateway.tips.line import TipLine
    from homeward_gateway.tips.ratelimit import TipRateLimiter
    from homeward_gateway.tips.settings import TipSettings
    from homeward_gateway.tips.views import PublicCasesView, TipBookView, Views

    tips = TipSettings()
    kafka = KafkaSettings()
    topic = gateway.topology.get("police_tips").name
    cases, book = PublicCases(), TipBook()
    views = Views(
        PublicCasesView(
            kafka,
            gateway.topology.get("alert_events").name,
            cases,
            startup_timeout_seconds=settings.startup_timeout_seconds,
        ),
        TipBookView(kafka, topic, book, startup_timeout_seconds=settings.startup_timeout_seconds),
    )
    desk = TipDesk(
        cases=cases,
        book=book,
        publish=gateway.sink.send,
        auditor=gateway.auditor,
        topic=topic,
        limits=Limits(clock_skew=tips.clock_skew),
        sync=views.cases.sync,
        sync_timeout=tips.sync_timeout_seconds,
    )
    line = TipLine(
        desk=desk,
        settings=tips,
        limiter=TipRateLimiter(tips.per_client, tips.global_limit),
        tokens=FormTokens(ttl_seconds=tips.form_token_ttl_seconds),
        ready=lambda: views.ready() and gateway.sink.ready(),
    )
    app.state.runners.append(views)
    install(app, line)


def install(app: FastAPI, line: TipLine) -> None:
    """The routes over a ready-made line (unit tests pass in-memory parts)."""
    from homeward.http.guard import RequestGuard
    from homeward_gateway.tips import routes

    app.state.tip_line = line
    # The form posts form-encoded bodies, which the gateway's JSON guard would
    # refuse; the form's route caps and parses its own body.
    for middleware in app.user_middleware:
        if middleware.cls is cast(Any, RequestGuard):
            exempt: tuple[str, ...] = tuple(cast(Any, middleware.kwargs).get("exempt_prefixes", ()))
            middleware.kwargs["exempt_prefixes"] = (*exempt, FORM_PATH)
    app.include_router(routes.router)
    routes.install_handlers(app)
