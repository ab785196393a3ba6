"""The console's pages and form posts, as a Starlette app the gateway mounts at /console.

Every page needs a logged-in staff member (else: the login page); every POST needs the
session's CSRF token (else: 403, nothing done); every action goes through the gateway's
facade with the staff member's principal, so the roles table, the lifecycle checks and the
published records are exactly the API's. Forms answer with a redirect back (303), so a
reload never posts twice.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeward.agency_types import AgencyType
from homeward.auth import Action, Forbidden, Principal, current_roles
from homeward.errors import HomewardError
from homeward.events import Outcome, RejectionReason
from homeward_gateway.console import csrf, i18n, views
from homeward_gateway.console.figures import figures
from homeward_gateway.console.login import Login, LoginFailed
from homeward_gateway.console.rendering import environment, set_language
from homeward_gateway.console.settings import ConsoleSettings
from homeward_gateway.service import Gateway, NotFound
from homeward_gateway.store import MAX_LIMIT, InboxEntry

log = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "homeward_console"
STATIC = Path(__file__).parent / "static"
# Content-Security-Policy: nothing but the gateway itself, no inline script, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self' {issuer}; frame-ancestors 'none'; base-uri 'none'"
)

Handler = Callable[[Request], Awaitable[Response]]
MAX_FORM_BYTES = 64 * 1024  # a note is at most 4000 characters; nothing else is long


class FormCap:
    """The gateway's JSON guard leaves /console to us: cap every body here (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await PlainTextResponse("body too large", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, "body too large")
            return message

        await self.app(scope, capped, send)


class Console:
    def __init__(
        self, gateway: Gateway, settings: ConsoleSettings, login: Login, issuer: str
    ) -> None:
        self.gateway = gateway
        self.settings = settings
        self.login = login
        self.issuer = issuer
        self.env = environment()

    # -- plumbing -----------------------------------------------------------------
    def language(self, request: Request) -> str:
        tag = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE))
        set_language(tag)
        return tag

    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> Response:
        lang = self.language(request)
        session = request.session
        body = self.env.get_template(template).render(
            request=request,
            lang=lang,
            csrf_token=csrf.token(session),
            flash=session.pop("flash", None),
            prefix=PREFIX,
            **ctx,
        )
        response = HTMLResponse(body, status_code=status)
        self._headers(response)
        if request.query_params.get("lang") == lang:
            response.set_cookie(
                i18n.COOKIE,
                lang,
                max_age=365 * 86400,
                path=PREFIX,
                secure=self.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return response

    def _headers(self, response: Response) -> None:
        response.headers["Content-Security-Policy"] = CSP.format(issuer=self.issuer)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"

    def cursor_now(self, p: Principal) -> int:
        """Where the page's live stream starts: the newest entry's cursor (its offset in
        the agency's inbox partition, the same on every gateway replica and after a
        restart, as the API's SSE ids); -1 for an empty inbox."""
        entries = self.gateway.store.entries(p.agency_id)
        return entries[-1].cursor if entries else -1

    def nav(self, p: Principal) -> list[tuple[str, str]]:
        roles = current_roles()
        items = [("inbox", "nav.inbox")]
        if roles.allows(p, Action.REFERRAL_ANSWER):
            items.append(("referrals", "nav.referrals"))
        if roles.allows(p, Action.REPORT_ACKNOWLEDGE):
            items.append(("reports", "nav.reports"))
        if roles.allows(p, Action.POLICE_ONLY_READ):
            items.append(("anomalies", "nav.anomalies"))
        if p.agency_type is AgencyType.COORDINATION_OFFICE:
            items.append(("oversight", "nav.oversight"))
        if roles.allows(p, Action.TIMELINE_READ):
            items.append(("cases", "nav.cases"))
        return items

    def staff_page(self, handler: Callable[[Request, Principal], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            principal = await self.login.current(request.session)
            if principal is None:
                return RedirectResponse(f"{PREFIX}/login", status_code=303)
            if request.method == "POST":
                form = await request.form()
                try:
                    csrf.check(request.session, form.get(csrf.FIELD))
                except csrf.CsrfRefused as exc:
                    log.warning("CSRF refused for %s: %s", principal.name, exc)
                    return self.page(
                        request,
                        "error.html",
                        403,
                        who=principal,
                        nav=self.nav(principal),
                        error_key="error.csrf",
                    )
            try:
                return await handler(request, principal)
            except Forbidden:
                return self.page(
                    request,
                    "error.html",
                    403,
                    who=principal,
                    nav=self.nav(principal),
                    error_key="error.forbidden",
                )
            except NotFound:
                return self.page(
                    request,
                    "error.html",
                    404,
                    who=principal,
                    nav=self.nav(principal),
                    error_key="error.not_found",
                )

        return wrapped

    def back(
        self, request: Request, where: str, flash: tuple[str, str, str] | None = None
    ) -> Response:
        if flash is not None:
            request.session["flash"] = {"kind": flash[0], "key": flash[1], "detail": flash[2]}
        return RedirectResponse(f"{PREFIX}/{where}", status_code=303)

    # -- login --------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if await self.login.current(request.session) is not None:
            return RedirectResponse(f"{PREFIX}/inbox", status_code=303)
        return self.page(request, "login.html")

    async def login_start(self, request: Request) -> Response:
        base = self.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        # Mounted at /console: request.base_url already ends in it.
        if not base.endswith(PREFIX):
            base += PREFIX
        response: Response = await self.login.start(request, f"{base}/callback")
        return response

    async def callback(self, request: Request) -> Response:
        try:
            await self.login.finish(request)
        except (LoginFailed, HomewardError) as exc:
            log.warning("console login refused: %s", exc)
            return self.page(request, "login.html", 401, error_key="error.login")
        csrf.token(request.session)
        return RedirectResponse(f"{PREFIX}/inbox", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        try:
            csrf.check(request.session, form.get(csrf.FIELD))
        except csrf.CsrfRefused:
            return self.page(request, "error.html", 403, error_key="error.csrf")
        await self.login.logout(request.session)
        return self.page(request, "logged_out.html")

    # -- the inbox ----------------------------------------------------------------
    def _entries(self, p: Principal) -> list[InboxEntry]:
        current_roles().require(p, Action.INBOX_READ)
        return self.gateway.store.entries(p.agency_id)

    async def inbox(self, request: Request, p: Principal) -> Response:
        entries = self._entries(p)
        return self.page(
            request,
            "inbox.html",
            who=p,
            nav=self.nav(p),
            here="inbox",
            cards=views.alert_cards(entries),
            last_seq=self.cursor_now(p),
            may_ack=current_roles().allows(p, Action.ALERT_ACKNOWLEDGE),
        )

    async def acknowledge(self, request: Request, p: Principal) -> Response:
        delivery_id = request.path_params["delivery_id"]
        entry = self.gateway.get(p, delivery_id)
        try:
            await run_in_threadpool(self.gateway.acknowledge, p, delivery_id)
        except (Forbidden, NotFound):
            raise
        except HomewardError as exc:
            return self.back(request, "inbox", ("error", "flash.ack_failed", exc.reason))
        return self.back(
            request, f"inbox#case-{entry.delivery.case_id}", ("ok", "flash.acknowledged", "")
        )

    # -- referrals ----------------------------------------------------------------
    async def referrals(self, request: Request, p: Principal) -> Response:
        current_roles().require(p, Action.REFERRAL_ANSWER)
        entries = self._entries(p)
        return self.page(
            request,
            "referrals.html",
            who=p,
            nav=self.nav(p),
            here="referrals",
            cards=views.referral_cards(entries, self.gateway.referral_status),
            reasons=[r.value for r in RejectionReason],
            outcomes=[o.value for o in Outcome],
            needs_reason=views.NEEDS_REASON,
            needs_outcome=views.NEEDS_OUTCOME,
            last_seq=self.cursor_now(p),
        )

    async def answer(self, request: Request, p: Principal) -> Response:
        delivery_id = request.path_params["delivery_id"]
        form = await request.form()
        status = str(form.get("status") or "")
        reason = str(form.get("reason") or "") or None
        outcome = str(form.get("outcome") or "") or None
        note = str(form.get("note") or "")[:4000]
        if status not in views.NEEDS_REASON:
            reason = None
        if status not in views.NEEDS_OUTCOME:
            outcome = None
        try:
            await run_in_threadpool(
                self.gateway.answer_referral, p, delivery_id, status, reason, note, outcome
            )
        except (Forbidden, NotFound):
            raise
        except HomewardError as exc:
            detail = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
            return self.back(request, "referrals", ("error", "flash.answer_failed", detail))
        return self.back(
            request, f"referrals#referral-{delivery_id}", ("ok", "flash.answered", status)
        )

    # -- police: mandatory reports ------------------------------------------------
    async def reports(self, request: Request, p: Principal) -> Response:
        filed = await run_in_threadpool(self.gateway.reports, p)
        return self.page(
            request, "reports.html", who=p, nav=self.nav(p), here="reports", reports=filed
        )

    async def acknowledge_report(self, request: Request, p: Principal) -> Response:
        report_id = request.path_params["report_id"]
        try:
            await run_in_threadpool(self.gateway.acknowledge_report, p, report_id)
        except (Forbidden, NotFound):
            raise
        except HomewardError as exc:
            return self.back(request, "reports", ("error", "flash.ack_failed", exc.reason))
        return self.back(request, "reports", ("ok", "flash.acknowledged", ""))

    # -- police: health-record anomalies ---------------------------------------------
    async def anomalies(self, request: Request, p: Principal) -> Response:
        # The gateway checks police_only.read (else 403) and audits the read.
        raised = await run_in_threadpool(self.gateway.anomalies, p, MAX_LIMIT)
        return self.page(
            request, "anomalies.html", who=p, nav=self.nav(p), here="anomalies", anomalies=raised
        )

    # -- the coordination office --------------------------------------------------
    async def oversight(self, request: Request, p: Principal) -> Response:
        if p.agency_type is not AgencyType.COORDINATION_OFFICE:
            raise Forbidden("the coordination office's page", field="agency_type")
        entries = self._entries(p)
        alerts, offers = views.supervision_input(self.gateway.store)
        return self.page(
            request,
            "oversight.html",
            who=p,
            nav=self.nav(p),
            here="oversight",
            notices=views.notices(entries),
            rows=figures(alerts, offers),
            now=datetime.now(UTC),
            last_seq=self.cursor_now(p),
        )

    # -- a case's timeline (read at intake with the user's own token) -------------
    async def cases(self, request: Request, p: Principal) -> Response:
        current_roles().require(p, Action.TIMELINE_READ)
        case_id = (request.query_params.get("case_id") or "").strip()
        timeline: dict[str, Any] | None = None
        error_key = ""
        if case_id:
            timeline, error_key = await self._timeline(request, case_id)
        return self.page(
            request,
            "cases.html",
            who=p,
            nav=self.nav(p),
            here="cases",
            case_id=case_id,
            timeline=timeline,
            error_key=error_key,
            configured=bool(self.settings.intake_url),
        )

    async def _timeline(self, request: Request, case_id: str) -> tuple[dict[str, Any] | None, str]:
        if not self.settings.intake_url:
            return None, "error.timeline_unconfigured"
        fresh = await self.login.fresh(request.session)
        if fresh is None:
            return None, "error.session_ended"
        url = f"{self.settings.intake_url.rstrip('/')}/v1/cases/{quote(case_id, safe='')}/timeline"
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                resp = await http.get(
                    url, headers={"Authorization": f"Bearer {fresh.access_token}"}
                )
        except httpx.HTTPError as exc:
            log.warning("timeline of %s: intake did not answer: %s", case_id, exc)
            return None, "error.timeline_unavailable"
        if resp.status_code == 404:
            return None, "error.case_not_found"
        if resp.status_code == 403:
            return None, "error.forbidden"
        if resp.status_code != 200:
            return None, "error.timeline_unavailable"
        body: dict[str, Any] = resp.json()
        return body, ""

    # -- live: server-sent events of rendered cards --------------------------------
    async def events(self, request: Request, p: Principal) -> Response:
        current_roles().require(p, Action.INBOX_READ)
        lang = self.language(request)
        page = request.query_params.get("page", "inbox")
        # Last-Event-ID (the browser's resume) and ?after= are cursors: inbox offsets.
        try:
            cursor = int(
                request.headers.get("last-event-id") or request.query_params.get("after") or -1
            )
        except ValueError:
            cursor = -1
        store = self.gateway.store
        after = store.seq_after_cursor(p.agency_id, cursor) if cursor >= 0 else 0
        until = float(request.session.get("fresh_until", 0))
        token = csrf.token(request.session)

        async def stream() -> AsyncIterator[bytes]:
            nonlocal after
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                # End the stream when the login would need refreshing: the browser
                # reconnects, and that request refreshes (or ends) the session.
                if datetime.now(UTC).timestamp() >= until:
                    return
                found = await self.gateway.wait(p, after, self.settings.live_poll_seconds)
                if not found:
                    yield b": keep-alive\n\n"
                    continue
                set_language(lang)
                for entry in found:
                    after = entry.seq
                    fragment = self.fragment(p, page, entry, token)
                    if fragment is None:
                        continue
                    data = json.dumps(fragment, ensure_ascii=False)
                    yield f"id: {entry.cursor}\nevent: card\ndata: {data}\n\n".encode()

        response = StreamingResponse(stream(), media_type="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    def fragment(
        self, p: Principal, page: str, entry: InboxEntry, token: str
    ) -> dict[str, str] | None:
        """The card a new entry changes, rendered, for the page that shows it."""
        entries = self.gateway.store.entries(p.agency_id)
        ctx: dict[str, Any] = {"prefix": PREFIX, "csrf_token": token}
        if page == "inbox" and entry.kind in views.ALERT_KINDS:
            card = views.alert_card(entries, entry.delivery.case_id)
            if card is None:
                return None
            may_ack = current_roles().allows(p, Action.ALERT_ACKNOWLEDGE)
            html = self.env.get_template("_alert_card.html").render(
                card=card, may_ack=may_ack, **ctx
            )
            return {"target": "alerts", "id": card.dom_id, "html": html}
        if (
            page == "referrals"
            and entry.delivery.referral_id is not None
            and entry.kind in ("referral", "answer_refused")
        ):
            cards = views.referral_cards(entries, self.gateway.referral_status)
            found = next((c for c in cards if c.referral_id == entry.delivery.referral_id), None)
            if found is None:
                return None
            html = self.env.get_template("_referral_card.html").render(
                card=found,
                reasons=[r.value for r in RejectionReason],
                outcomes=[o.value for o in Outcome],
                needs_reason=views.NEEDS_REASON,
                needs_outcome=views.NEEDS_OUTCOME,
                **ctx,
            )
            return {"target": "referrals", "id": found.dom_id, "html": html}
        if page == "oversight" and entry.kind in views.NOTICE_KINDS:
            html = self.env.get_template("_notice.html").render(n=entry, **ctx)
            return {"target": "notices", "id": f"notice-{entry.seq}", "html": html}
        return None

    async def root(self, request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/inbox", status_code=303)

    # -- the app ------------------------------------------------------------------
    def app(self) -> Starlette:
        secret = self.settings.session_secret.get_secret_value()
        if not secret:
            log.warning(
                "HOMEWARD_CONSOLE_SESSION_SECRET is not set: a random one for this process "
                "(console sessions end at a restart and do not span gateway instances)"
            )
            secret = secrets.token_urlsafe(32)
        s = self.staff_page
        routes = [
            Route("/", self.root),
            Route("/login", self.login_page),
            Route("/login/start", self.login_start),
            Route("/callback", self.callback),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/inbox", s(self.inbox)),
            Route("/ack/{delivery_id}", s(self.acknowledge), methods=["POST"]),
            Route("/referrals", s(self.referrals)),
            Route("/referrals/{delivery_id}/answer", s(self.answer), methods=["POST"]),
            Route("/reports", s(self.reports)),
            Route("/reports/{report_id}/ack", s(self.acknowledge_report), methods=["POST"]),
            Route("/anomalies", s(self.anomalies)),
            Route("/oversight", s(self.oversight)),
            Route("/cases", s(self.cases)),
            Route("/events", s(self.events)),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        middleware = [
            Middleware(FormCap),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=self.settings.session_max_age_seconds,
                path=PREFIX,
                same_site="lax",  # strict would drop it on the provider's redirect back
                https_only=self.settings.secure_cookies,
            ),
        ]
        return Starlette(routes=routes, middleware=middleware)
