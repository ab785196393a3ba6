"""The tip line's HTTP side.

Public, no login: `POST /public/v1/tips` (JSON) and the form at `/public/tip`.
Each request is counted against its client's and the line's limit first (429
with Retry-After), then the body is read up to the cap (413), parsed (400) and
validated (422 naming each field); a case without an active public alert is a
404 naming case_id, whatever the reason, so the public cannot tell an unknown
case from one kept from the public. Only a tip that passes all of it is
published. Refusals of the public are counted, not audited: a flood would
otherwise write itself into the audit record.

Police of the case's unit: `GET /v1/tips`, `GET /v1/tips/{tip_id}`,
`POST /v1/tips/{tip_id}/ack` (authenticated, the roles table's tip.read and
tip.acknowledge); another unit's tip id is a 404."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pydantic
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from homeward.auth import Action
from homeward.errors import PublishUnavailable, ValidationError
from homeward.events.tips import TipVerdict
from homeward.http.auth import Caller, needs
from homeward.http.errors import error_response, field_of
from homeward.http.responses import AUTH, BODY, UNAVAILABLE, Responses, error
from homeward.metrics import GATEWAY_TIPS
from homeward_gateway.tips import i18n
from homeward_gateway.tips.book import TipEntry
from homeward_gateway.tips.desk import NotFound
from homeward_gateway.tips.line import TipLine
from homeward_gateway.tips.models import TipSubmission

TIPS = GATEWAY_TIPS

router = APIRouter()

# The police routes take a token, and each read or acknowledgement is audited
# (a 503 when Kafka does not confirm the record).
POLICE: Responses = {
    **AUTH,
    **UNAVAILABLE,
    422: error("invalid_request: a parameter or field is invalid; it is named."),
}
TIP_NOT_FOUND: Responses = {404: error("not_found: no such tip for your unit")}


class TooLarge(Exception):
    pass


def line_of(request: Request) -> TipLine:
    line: TipLine = request.app.state.tip_line
    return line


def client_address(request: Request) -> str:
    # Behind a reverse proxy, run uvicorn with --proxy-headers (and its
    # --forwarded-allow-ips) so this is the caller's address, not the proxy's.
    return request.client.host if request.client else "unknown"


async def read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def pydantic_errors(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    # The field and the reason only: never the input back.
    return [
        {"field": field_of(("body", *e["loc"])) if e["loc"] else "body", "reason": e["msg"]}
        for e in exc.errors()
    ]


def refuse(
    channel: str, outcome: str, status: int, code: str, errors: list[dict[str, Any]], **kw: Any
) -> JSONResponse:
    TIPS.labels(channel, outcome).inc()
    return error_response(status, code, errors, **kw)


# -- the public, JSON --------------------------------------------------------------
@router.post(
    "/public/v1/tips",
    status_code=202,
    summary="Send a tip about a child with an active public alert (no login; rate-limited)",
    tags=["public tips"],
    responses={
        **BODY,
        400: error("invalid_json: not JSON, or not a JSON object"),
        404: error("not_found: no active public alert for case_id"),
        422: error("invalid_request: a field is invalid (named)"),
        429: error("rate_limited: too many tips; see Retry-After"),
        503: error("unavailable: the line is starting, or Kafka did not confirm; retry"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TipSubmission.model_json_schema()}},
        }
    },
)
async def submit_tip(request: Request) -> Response:
    line = line_of(request)
    decision = line.limiter.hit(client_address(request))
    if not decision.allowed:
        return refuse(
            "api",
            "rate_limited",
            429,
            "rate_limited",
            [{"field": None, "reason": f"too many tips ({decision.scope} limit); retry later"}],
            headers={"Retry-After": str(decision.retry_after)},
        )
    try:
        body = await read_capped(request, line.settings.max_body_bytes)
    except TooLarge:
        reason = f"is larger than {line.settings.max_body_bytes} bytes"
        return refuse(
            "api", "too_large", 413, "body_too_large", [{"field": "body", "reason": reason}]
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = f"is not valid JSON ({exc.__class__.__name__})"
        return refuse(
            "api", "malformed", 400, "invalid_json", [{"field": "body", "reason": reason}]
        )
    if not isinstance(doc, dict):
        return refuse(
            "api",
            "malformed",
            400,
            "invalid_json",
            [{"field": "body", "reason": "must be a JSON object"}],
        )
    try:
        sub = TipSubmission.model_validate(doc)
    except pydantic.ValidationError as exc:
        return refuse("api", "invalid", 422, "invalid_request", pydantic_errors(exc))
    return await _submit(line, sub, "api")


async def _submit(line: TipLine, sub: TipSubmission, channel: str) -> JSONResponse:
    if not line.ready():
        return refuse(
            channel,
            "unavailable",
            503,
            "unavailable",
            [{"field": None, "reason": "the tip line is starting; retry shortly"}],
            headers={"Retry-After": "1"},
        )
    try:
        tip = await run_in_threadpool(line.desk.submit, sub, channel=channel)
    except NotFound as exc:
        return refuse(
            channel, "not_found", 404, "not_found", [{"field": exc.field, "reason": exc.reason}]
        )
    except ValidationError as exc:
        return refuse(
            channel, "invalid", 422, "invalid_request", [{"field": exc.field, "reason": exc.reason}]
        )
    except PublishUnavailable as exc:
        return refuse(
            channel,
            "unavailable",
            503,
            "unavailable",
            [{"field": None, "reason": exc.reason}],
            headers={"Retry-After": "1"},
        )
    TIPS.labels(channel, "accepted").inc()
    return JSONResponse(
        {"tip_id": tip.tip_id, "case_id": tip.case_id, "received_at": tip.received_at.isoformat()},
        status_code=202,
    )


# -- the public, the form ------------------------------------------------------------
FORM_FIELDS = ("case_id", "seen_at", "place", "latitude", "longitude", "description", "contact")


def _page(
    line: TipLine,
    lang: str,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    tip_id: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    html = line.pages.get_template("tip.html").render(
        lang=lang,
        other=i18n.other(lang),
        t=i18n.catalogue(lang),
        token=line.tokens.issue(),
        values={f: "" for f in FORM_FIELDS} | (values or {}),
        errors=errors or [],
        tip_id=tip_id,
    )
    page = HTMLResponse(html, status_code=status, headers=headers)
    # The form is for this site only: not framed elsewhere (clickjacking), no
    # scripts at all, and not cached (each form carries a token of its own).
    page.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    page.headers["X-Frame-Options"] = "DENY"
    page.headers["Cache-Control"] = "no-store"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


@router.get("/public/tip", response_class=HTMLResponse, include_in_schema=False)
async def tip_form(request: Request, lang: str | None = None) -> HTMLResponse:
    line = line_of(request)
    return _page(line, i18n.pick(lang, line.settings.language))


def form_document(fields: dict[str, str], line: TipLine) -> dict[str, Any]:
    """The form's strings as the JSON a tip is: optional fields left empty are
    absent, the local time gets the form's zone, coordinates become numbers."""
    doc: dict[str, Any] = {k: v for k, v in fields.items() if k in FORM_FIELDS and v.strip()}
    if "seen_at" in doc:
        try:
            seen = datetime.fromisoformat(doc["seen_at"])
        except ValueError:
            seen = None
        if seen is not None and seen.tzinfo is None:
            doc["seen_at"] = seen.replace(tzinfo=line.form_zone).isoformat()
    for coord in ("latitude", "longitude"):
        if coord in doc:
            # Not a number: left a string, and the model names the field.
            with contextlib.suppress(ValueError):
                doc[coord] = float(doc[coord])
    return doc


@router.post("/public/tip", response_class=HTMLResponse, include_in_schema=False)
async def tip_form_post(request: Request, lang: str | None = None) -> Response:
    line = line_of(request)
    lang = i18n.pick(lang, line.settings.language)
    t = i18n.catalogue(lang)
    decision = line.limiter.hit(client_address(request))
    if not decision.allowed:
        TIPS.labels("form", "rate_limited").inc()
        return _page(
            line,
            lang,
            status=429,
            errors=[{"field": None, "reason": t["rate_limited"]}],
            headers={"Retry-After": str(decision.retry_after)},
        )
    try:
        body = await read_capped(request, line.settings.max_body_bytes)
    except TooLarge:
        TIPS.labels("form", "too_large").inc()
        return _page(line, lang, status=413, errors=[{"field": None, "reason": t["too_large"]}])
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        TIPS.labels("form", "malformed").inc()
        return _page(line, lang, status=400, errors=[{"field": None, "reason": t["bad_token"]}])
    fields = {k: v[0] for k, v in parsed.items() if v}
    values = {k: fields.get(k, "") for k in FORM_FIELDS}
    problem = line.tokens.redeem(fields.get("form_token", ""))
    if problem is not None:
        TIPS.labels("form", "bad_token").inc()
        return _page(
            line,
            lang,
            status=403,
            values=values,
            errors=[{"field": None, "reason": f"{t['bad_token']} ({problem})"}],
        )
    try:
        sub = TipSubmission.model_validate(form_document(fields, line))
    except pydantic.ValidationError as exc:
        TIPS.labels("form", "invalid").inc()
        return _page(line, lang, status=422, values=values, errors=pydantic_errors(exc))
    answer = await _submit(line, sub, "form")
    if answer.status_code != 202:
        doc = json.loads(bytes(answer.body))
        reason = {404: t["not_found"], 503: t["unavailable"]}
        errors = (
            [{"field": None, "reason": reason[answer.status_code]}]
            if answer.status_code in reason
            else doc["errors"]
        )
        return _page(line, lang, status=answer.status_code, values=values, errors=errors)
    return _page(line, lang, status=201, tip_id=json.loads(bytes(answer.body))["tip_id"])


# -- police of the unit --------------------------------------------------------------
def tip_view(e: TipEntry) -> dict[str, Any]:
    tip = e.tip
    return {
        "tip_id": tip.tip_id,
        "case_id": tip.case_id,
        "received_at": tip.received_at.isoformat(),
        "seen_at": tip.seen_at.isoformat(),
        "place": tip.place,
        "latitude": tip.latitude,
        "longitude": tip.longitude,
        "description": tip.description,
        "contact": tip.contact,
        "channel": tip.channel,
        "officer": tip.officer.model_dump(),
        "agency_id": tip.agency_id,
        "acknowledged_at": e.acknowledged_at.isoformat() if e.acknowledged_at else None,
        "acknowledged_by": e.acknowledged_by or None,
        "verdict": e.verdict.value,
        "code": e.code or None,
    }


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: TipVerdict = TipVerdict.UNASSESSED
    code: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=4000)


@router.get(
    "/v1/tips",
    dependencies=[needs(Action.TIP_READ)],
    summary="The public tips routed to your unit, newest first",
    tags=["tips"],
    responses=POLICE,
)
async def list_tips(request: Request, caller: Caller, limit: int = 100) -> dict[str, Any]:
    entries = await run_in_threadpool(
        line_of(request).desk.tips_of, caller, limit=max(1, min(limit, 500))
    )
    return {"tips": [tip_view(e) for e in entries]}


@router.get(
    "/v1/tips/{tip_id}",
    dependencies=[needs(Action.TIP_READ)],
    summary="One tip of your unit (another unit's: 404)",
    tags=["tips"],
    responses={**POLICE, **TIP_NOT_FOUND},
)
async def get_tip(request: Request, caller: Caller, tip_id: str) -> dict[str, Any]:
    entry = await run_in_threadpool(line_of(request).desk.tip, caller, tip_id)
    return tip_view(entry)


@router.post(
    "/v1/tips/{tip_id}/ack",
    dependencies=[needs(Action.TIP_ACKNOWLEDGE)],
    status_code=202,
    summary="Acknowledge a tip of your unit, optionally with a verdict and its code",
    tags=["tips"],
    responses={**POLICE, **BODY, **TIP_NOT_FOUND},
)
async def acknowledge_tip(
    request: Request, caller: Caller, tip_id: str, body: AckRequest | None = None
) -> dict[str, Any]:
    body = body or AckRequest()
    ack = await run_in_threadpool(
        line_of(request).desk.acknowledge,
        caller,
        tip_id,
        verdict=body.verdict,
        code=body.code,
        note=body.note,
    )
    return {"tip_id": ack.tip_id, "case_id": ack.case_id, "verdict": ack.verdict.value}


def install_handlers(app: FastAPI) -> None:
    """Police routes raise; the gateway's refusal audit records them."""
    from homeward_gateway.app import audit_refusal

    @app.exception_handler(NotFound)
    async def on_not_found(request: Request, exc: NotFound) -> JSONResponse:
        audit_refusal(request, 404, exc.field, exc.reason)
        return error_response(404, "not_found", [{"field": exc.field, "reason": exc.reason}])
