"""A pure ASGI guard in front of the app: JSON only, and a hard cap on body size.

Written by hand rather than with FastAPI's newer built-in body limit, because
the project supports FastAPI releases that lack it, and because the 413 and
415 answers must have the same JSON shape as every other error.
"""

from __future__ import annotations

from email.message import Message

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from homeward.http.errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    msg = Message()
    msg["content-type"] = content_type
    subtype = msg.get_content_subtype()
    return msg.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class RequestGuard:
    """Refuses non-JSON bodies (415) and bodies over `max_body_bytes` (413).

    The body is read here, at most max_body_bytes + 1 of it, and handed on in one
    piece: a chunked upload cannot get past the cap, and nothing is parsed first.

    `allow_empty` lets a bodiless POST through (an acknowledgement needs no body);
    paths under `exempt_prefixes` are not guarded here (a browser form posts
    form-encoded bodies, and the part that serves it caps them itself).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        *,
        allow_empty: bool = False,
        exempt_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.allow_empty = allow_empty
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in BODY_METHODS
            or (self.exempt_prefixes and str(scope["path"]).startswith(self.exempt_prefixes))
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if (
            self.allow_empty
            and headers.get("content-length", "0") == "0"
            and "content-type" not in headers
            and "transfer-encoding" not in headers
        ):
            await self.app(scope, receive, send)
            return
        too_big = error_response(
            413,
            "body_too_large",
            [{"field": "body", "reason": f"is larger than {self.max_body_bytes} bytes"}],
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_big(scope, receive, send)
            return
        if not is_json(headers.get("content-type")):
            await error_response(
                415,
                "unsupported_media_type",
                [{"field": "content-type", "reason": "must be application/json"}],
            )(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> AsgiMessage:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body, only a disconnect can come

        await self.app(scope, replay, send)
