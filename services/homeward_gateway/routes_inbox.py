"""The inbox over HTTP: a cursor-paged list, one delivery, the live stream
(server-sent events), acknowledging an alert and answering a referral.

Every route takes a verified `Caller` and reads only the caller's agency's
inbox; another agency's delivery id is answered 404, like an unknown one.
The Gateway facade does the roles check and the publishing; a plain-def route
runs in FastAPI's thread pool, so waiting for the broker's acknowledgement
never blocks the event loop (and with it every live stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import StreamingResponse

from homeward.auth import Action, Principal
from homeward.http.auth import Caller, authorize
from homeward.http.responses import AUTH, BODY, UNAVAILABLE, Responses, error
from homeward.metrics import GATEWAY_SSE_CLIENTS
from homeward_gateway.service import Gateway
from homeward_gateway.store import InboxEntry
from homeward_gateway.views import (
    AckAnswer,
    AckBody,
    AckView,
    AnswerAnswer,
    AnswerBody,
    EntryView,
    InboxPage,
)

router = APIRouter(prefix="/v1", tags=["inbox"])

NOT_FOUND: Responses = {404: error("not_found: no such delivery in your agency's inbox")}
# Every route here takes a token; a query or path that does not validate is a 422.
READ: Responses = {**AUTH, 422: error("invalid_request: a parameter is invalid; it is named.")}
# A write reads a JSON body (or none) and publishes, with its audit record.
WRITE: Responses = {**READ, **BODY, **UNAVAILABLE}


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def view(gateway: Gateway, entry: InboxEntry) -> EntryView:
    status = gateway.referral_status(entry)
    return EntryView.of(entry, status.value if status else None)


@router.get("/inbox", summary="Your agency's inbox, newest first, a page at a time", responses=READ)
def inbox(
    request: Request,
    caller: Caller,
    cursor: Annotated[
        int | None, Query(ge=0, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> InboxPage:
    authorize(request, caller, Action.INBOX_READ)
    gateway = gateway_of(request)
    size = limit or request.app.state.settings.page_size
    page = gateway.inbox(caller, cursor=cursor, limit=size)
    return InboxPage(items=[view(gateway, e) for e in page.entries], next_cursor=page.next_cursor)


@router.get(
    "/inbox/stream",
    summary="Your agency's inbox, live (server-sent events)",
    description="One `delivery` event per new entry, `id` = its `cursor`. Reconnect with "
    "`Last-Event-ID` (or `?after=`) and everything after that entry is replayed first, so "
    "nothing is lost across a reconnect, to any replica, or a restart of the gateway. A "
    "comment line is sent as a heartbeat.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **READ},
)
async def stream(
    request: Request,
    caller: Caller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Replay what came after this cursor")
    ] = None,
) -> StreamingResponse:
    authorize(request, caller, Action.INBOX_READ)
    gateway = gateway_of(request)
    cursor = after if after is not None else _cursor(last_event_id)
    if cursor is None:
        # A new stream starts now: the past is the list's (GET /v1/inbox).
        start = gateway.store.last_seq()
    else:
        start = gateway.store.seq_after_cursor(caller.agency_id, cursor)
    heartbeat = float(request.app.state.settings.heartbeat_seconds)
    return StreamingResponse(
        events(request, gateway, caller, start, heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None or not last_event_id.strip().isdigit():
        return None
    return int(last_event_id.strip())


async def events(
    request: Request, gateway: Gateway, caller: Principal, after: int, heartbeat: float
) -> AsyncIterator[str]:
    GATEWAY_SSE_CLIENTS.inc()
    try:
        yield f"retry: 1000\n: stream from {after}\n\n"
        while not await request.is_disconnected():
            entries = await gateway.wait(caller, after, heartbeat)
            if not entries:
                yield ": heartbeat\n\n"
                continue
            for entry in entries:
                data = view(gateway, entry).model_dump_json()
                yield f"id: {entry.cursor}\nevent: delivery\ndata: {data}\n\n"
                after = entry.seq
    finally:
        GATEWAY_SSE_CLIENTS.dec()


@router.get(
    "/inbox/{delivery_id}",
    summary="One delivery in your agency's inbox",
    responses={**READ, **NOT_FOUND},
)
def delivery(request: Request, caller: Caller, delivery_id: str) -> EntryView:
    authorize(request, caller, Action.INBOX_READ)
    gateway = gateway_of(request)
    return view(gateway, gateway.get(caller, delivery_id))


@router.post(
    "/inbox/{delivery_id}/ack",
    summary="Acknowledge an alert delivery (stops the fan-out's resend and escalation)",
    description="Publishes the SDK's AgencyAcknowledgement with you as actor. Idempotent: a "
    "second acknowledgement answers 200 with the first and publishes nothing.",
    responses={
        **WRITE,
        **NOT_FOUND,
        409: error("not_acknowledgeable: not an alert delivery (a referral is answered instead)"),
    },
)
def acknowledge(
    request: Request,
    caller: Caller,
    delivery_id: str,
    body: Annotated[AckBody | None, Body()] = None,
) -> AckAnswer:
    authorize(request, caller, Action.ALERT_ACKNOWLEDGE)
    result = gateway_of(request).acknowledge(caller, delivery_id, (body or AckBody()).note)
    ack = AckView.of(result.acknowledgement)
    assert ack is not None
    return AckAnswer(
        delivery_id=delivery_id,
        acknowledged=ack,
        repeated=result.repeated,
        event_id=result.event_id or result.acknowledgement.event_id or None,
    )


@router.post(
    "/referrals/{delivery_id}/answer",
    summary="Answer a referral offered to your agency (accept, reject, complete...)",
    description="Checked with the same lifecycle as the SDK against the status the inbox holds; "
    "publishes the SDK's ReferralAnswered with you as actor (police on police.referrals.v1, "
    "every other agency on referrals.answers.v1). `delivery_id` is the referral id.",
    responses={
        **WRITE,
        **NOT_FOUND,
        409: error(
            "illegal_transition: the lifecycle does not allow this step (names state, allowed)"
        ),
        422: error("invalid_request: an unknown code, or a missing reason / outcome"),
    },
)
def answer(request: Request, caller: Caller, delivery_id: str, body: AnswerBody) -> AnswerAnswer:
    authorize(request, caller, Action.REFERRAL_ANSWER)
    result = gateway_of(request).answer_referral(
        caller,
        delivery_id,
        body.status,
        reason_code=body.reason_code,
        note=body.note,
        outcome=body.outcome,
    )
    sent = result.answer
    return AnswerAnswer(
        delivery_id=delivery_id,
        referral_id=sent.event.referral_id,
        status=sent.event.status.value,
        previous_status=result.previous.value if result.previous else None,
        event_id=sent.event_id,
        topic=sent.topic,
    )
