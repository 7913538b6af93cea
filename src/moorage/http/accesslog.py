"""Pure ASGI middleware: a request id on every request and one access-log line per request."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.logs import redact_query

log = logging.getLogger("moorage.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _redacted_query(query: bytes) -> str:
    """The query string as logged: credential-named and token-shaped values replaced
    (``moorage.logs.redact_query``; the formatter scrubs the whole line again)."""
    if not query:
        return ""
    return "?" + redact_query(query.decode("latin-1"))


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                with contextlib.suppress(OSError):
                    sent += os.stat(message["path"]).st_size
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            client: Any = scope.get("client")
            extra = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"] + _redacted_query(scope.get("query_string", b"")),
                "status": status,
                "bytes": sent,
                "ms": round((time.perf_counter() - start) * 1000, 2),
                # The client a trusted proxy named (moorage.http.proxies), else the peer.
                "remote": state.get("client_address") or (client[0] if client else None),
            }
            if state.get("proxy_peer"):
                extra["proxy"] = state["proxy_peer"]
            log.info("request", extra=extra)
