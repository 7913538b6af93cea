"""The request gate: pure ASGI middleware in front of every route.

It holds the rules that apply before a handler runs, in one place:

- **Body limits.** Every request body gets a limit before it is read: ``max_request_body``
  (default 1 MiB), or ``max_manifest_bytes`` for a manifest PUT. Blob upload bodies on /v2
  (``POST``/``PATCH``/``PUT`` under ``/v2/<name>/blobs/uploads/``) are exempt: they stream to
  storage; the vulnerability database archive (``PUT /api/v0/imagescan/scan/update``, and the
  web UI's ``POST /scanning/database/upload``) streams to disk under
  ``vulnerability_db_max_archive_bytes``. A declared Content-Length over the
  limit is refused before a byte is read; a chunked (or lying) body stops being read at the
  limit. Both answer 413 in the surface's own format.
- **Who asks, before the body.** A body sent to /api/v0 or /enzi/v0 is read only after the
  caller is known (``RbacAuthorizer.api_principal``): an anonymous or bad credential gets 401
  without a byte read (no API route takes an anonymous body). The API's body is then read
  whole (bounded) and refused when its JSON nests deeper than ``MAX_JSON_DEPTH``.
- **Read-only mode.** While the ``readOnlyRegistry`` site setting is on, every unsafe method
  on /api/v0, /enzi/v0 and the web UI is refused (405 ``UNSUPPORTED``, as /v2 answers), except
  signing in and out and the settings themselves (``site_settings.update`` then accepts only a
  change that turns read-only mode off). /v2 is refused by its authorizer, the token service
  (signing in) is never refused.
- **One read per request.** Each request runs with a memo of its own (``db.request_memo``):
  the site settings and its repository's row, asked by this gate, the authorizer and the
  handler in turn, are read from the database once.
"""

from __future__ import annotations

import enum
import html
import re
from itertools import accumulate

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.config import Settings
from moorage.db import request_memo, site_settings
from moorage.errors import (
    InvalidInput,
    ManifestTooLarge,
    MoorageError,
    RequestTooLarge,
    Unauthorized,
    Unsupported,
)
from moorage.http.api.common import error_response
from moorage.http.errors import oci_error_response
from moorage.http.services import SCOPE_KEY, ServicesSlot
from moorage.http.v2.routes import API_VERSION

MAX_JSON_DEPTH = 64
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
READ_ONLY_MESSAGE = "the registry is in read-only mode"

# The same shapes as the /v2 routes (Starlette's ``path`` converter is ``.*``, ``str`` is [^/]+).
_MANIFEST = re.compile(r"^/v2/.*/manifests/[^/]+$")
_UPLOAD = re.compile(r"^/v2/.*/blobs/uploads(?:/[^/]*)?$")
_UPLOAD_METHODS = frozenset({"POST", "PATCH", "PUT"})
# Routes whose body streams to disk (not read whole here) under a limit of their own: the
# vulnerability database archive (``vulnerability_db_max_archive_bytes``; http/api/imagescan.py,
# and the web UI's upload of it, http/ui/pages/scanning.py).
_STREAMED_API = frozenset(
    {("PUT", "/api/v0/imagescan/scan/update"), ("POST", "/scanning/database/upload")}
)
# Always-allowed writes in read-only mode: signing in and out, and the settings that turn it
# off (their own rule lives in ``site_settings.update``).
_READ_ONLY_EXEMPT = frozenset({"/login", "/logout", "/admin/settings", "/api/v0/meta/settings"})

# A JSON string, escapes included; an unterminated one runs to the end, so each byte is
# scanned once whatever the input (no retry from every later quote).
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S]?)*+(?:"|\Z)')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = tuple(1 if b in b"[{" else -1 for b in range(256))


class Surface(enum.Enum):
    """Which protocol a path speaks, hence which error format it answers in."""

    V2 = "v2"
    API = "api"  # /api/v0, /enzi/v0 and /v1 (docker search): DTR's envelope
    TOKEN = "token"  # /auth/...: the token service (OCI-style envelope)
    UI = "ui"  # everything else: pages


def surface_of(path: str) -> Surface:
    if path == "/v2" or path.startswith("/v2/"):
        return Surface.V2
    for prefix in ("/api/v0", "/enzi/v0", "/v1"):
        if path == prefix or path.startswith(prefix + "/"):
            return Surface.API
    if path.startswith("/auth/"):
        return Surface.TOKEN
    return Surface.UI


def streamed_api(method: str, path: str) -> bool:
    return (method, path.rstrip("/")) in _STREAMED_API


def body_limit(settings: Settings, method: str, path: str) -> int | None:
    """The most bytes a request may send (None: unlimited, a blob upload)."""
    if path.startswith("/v2/"):
        if method in _UPLOAD_METHODS and _UPLOAD.match(path):
            return None
        if method == "PUT" and _MANIFEST.match(path):
            return settings.max_manifest_bytes
    if streamed_api(method, path):
        return settings.vulnerability_db_max_archive_bytes
    return settings.max_request_body


def json_depth(body: bytes) -> int:
    """How deep brackets nest in a JSON text, strings skipped, without parsing or recursion."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)))


def declared_length(headers: Headers) -> int | None:
    raw = headers.get("content-length")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def too_large(limit: int, method: str, path: str, size: int | None = None) -> MoorageError:
    detail: dict[str, int] = {"limit": limit}
    if size is not None:
        detail["size"] = size
    if method == "PUT" and _MANIFEST.match(path):
        return ManifestTooLarge(detail=detail)
    return RequestTooLarge(f"request body over the limit of {limit} bytes", detail=detail)


def error_page(status: int, title: str, message: str) -> Response:
    """The UI's answer when the gate refuses a form: a small page of its own."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · Moorage</title>"
        '<link rel="stylesheet" href="/static/ui.css"></head>'
        f'<body><main class="error"><h1>{html.escape(title)}</h1>'
        f'<p>{html.escape(message)}</p><p><a href="/">Back to Moorage</a></p></main></body></html>'
    )
    return Response(
        body,
        status_code=status,
        media_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "same-origin",
        },
    )


def refusal(surface: Surface, method: str, error: MoorageError) -> Response:
    """``error`` in the format of ``surface``."""
    if surface is Surface.API:
        return error_response(error)
    if surface is Surface.UI:
        titles = {405: "Read-only mode", 413: "Too large", 401: "Sign in first"}
        return error_page(error.status, titles.get(error.status, "Error"), error.message)
    response = oci_error_response(error, head=method == "HEAD")
    if surface is Surface.V2:
        response.headers.update(API_VERSION)
    return response


class RequestGate:
    """See the module's documentation. ``services`` is the app's slot (filled by its lifespan,
    before any request)."""

    def __init__(self, app: ASGIApp, services: ServicesSlot, settings: Settings) -> None:
        self.app = app
        self.services = services
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.services  # what services(request) reads: http.services
        with request_memo.remembering():  # the site settings and repository rows: read once
            await self._gate(scope, receive, send)

    async def _gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        surface = surface_of(path)
        headers = Headers(scope=scope)
        limit = body_limit(self.settings, method, path)
        declared = declared_length(headers)
        has_body = bool(declared) or "transfer-encoding" in headers

        if surface is Surface.API and has_body:
            refused = await self._anonymous_body(scope)
            if refused is not None:
                await self._refuse(scope, receive, send, surface, method, refused, close=True)
                return
        if limit is not None and declared is not None and declared > limit:
            error = too_large(limit, method, path, declared)
            await self._refuse(scope, receive, send, surface, method, error, close=True)
            return
        if method not in SAFE_METHODS and await self._read_only(surface, path):
            error = Unsupported(READ_ONLY_MESSAGE)
            await self._refuse(scope, receive, send, surface, method, error, close=has_body)
            return
        if limit is None:
            await self.app(scope, receive, send)
        elif surface is Surface.API and has_body and not streamed_api(method, path):
            await self._buffered(scope, receive, send, limit)
        else:
            await self._counted(scope, receive, send, surface, limit)

    # ---- the rules ---------------------------------------------------------------------

    async def _anonymous_body(self, scope: Scope) -> MoorageError | None:
        """The refusal of an API body whose sender is nobody, or whose credentials are bad (or
        throttled): the same answer the route would give, before any of the body is read."""
        authorizer = self.services.get().authorizer
        try:  # the API's own rule (no registry bearer tokens); it caches the caller in the scope
            principal = await authorizer.api_principal(Request(scope))
        except MoorageError as exc:
            return exc
        if principal.is_anonymous:
            return Unauthorized("sign in first")
        return None

    async def _read_only(self, surface: Surface, path: str) -> bool:
        if surface in (Surface.V2, Surface.TOKEN) or path.rstrip("/") in _READ_ONLY_EXEMPT:
            return False
        settings = await site_settings.load(self.services.get().db)
        return settings.read_only_registry

    # ---- bodies ------------------------------------------------------------------------

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """An API body: read whole (never past ``limit``), checked, then handed on."""
        method, path = scope["method"], scope["path"]
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                error = too_large(limit, method, path)
                await self._refuse(scope, receive, send, Surface.API, method, error, close=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_depth(body) > MAX_JSON_DEPTH:
            error = InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            await self._refuse(scope, receive, send, Surface.API, method, error)
            return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, surface: Surface, limit: int
    ) -> None:
        """Any other body: streamed to the handler, and cut off at ``limit``. The handler sees
        the error from ``receive``; whatever it answers then, the client gets the 413."""
        method, path = scope["method"], scope["path"]
        seen = 0
        tripped: MoorageError | None = None
        started = False
        substituted = False

        async def counting() -> Message:
            nonlocal seen, tripped
            if tripped is not None:
                raise tripped
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    tripped = too_large(limit, method, path)
                    raise tripped
            return message

        async def sending(message: Message) -> None:
            nonlocal started, substituted
            if substituted:
                return  # the rest of the handler's own answer
            if message["type"] == "http.response.start":
                if tripped is not None:
                    substituted = True
                    await self._refuse(scope, receive, send, surface, method, tripped, close=True)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if tripped is None or started:
                raise
        if tripped is not None and not started and not substituted:
            await self._refuse(scope, receive, send, surface, method, tripped, close=True)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        surface: Surface,
        method: str,
        error: MoorageError,
        *,
        close: bool = False,
    ) -> None:
        """Answer ``error``; ``close`` ends the connection after it, so an unread body is
        dropped with it instead of being drained."""
        response = refusal(surface, method, error)
        if close:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)
