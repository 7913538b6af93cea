"""What every page of the web UI shares: the Jinja2 environment and its filters, the signed-in
viewer, the response headers, error pages and the ``page`` wrapper (session, CSRF, errors)."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match

from moorage.auth.levels import ANONYMOUS, Principal
from moorage.db.engine import Database, as_utc
from moorage.errors import Denied, MoorageError
from moorage.http.services import services
from moorage.http.ui import sessions
from moorage.http.ui.formatting import artifact_label, config_value
from moorage.registry.context import RegistryContext

COOKIE = "moorage_session"
LOGIN_COOKIE = "moorage_login_csrf"
PAGE_SIZE = 50


def _size(value: object) -> str:
    n = float(value) if isinstance(value, int | float) else 0.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _when(value: object) -> str:
    if isinstance(value, dt.datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")


def _short(digest: object) -> str:
    text = str(digest or "")
    algorithm, _, hexpart = text.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else text


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("moorage.http.ui", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.ChainableUndefined,  # manifests are user data: a missing key shows nothing
)
_env.filters["size"] = _size
_env.filters["when"] = _when
_env.filters["short"] = _short
_env.filters["config_value"] = config_value
_env.filters["artifact_label"] = artifact_label


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of one request."""

    principal: Principal
    csrf: str
    session_hash: str

    @property
    def name(self) -> str:
        return self.principal.name or ""


def db_of(request: Request) -> Database:
    return services(request).db


def ctx_of(request: Request) -> RegistryContext:
    return services(request).registry


def secure(request: Request) -> bool:
    public = services(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


async def session_viewer(request: Request) -> Viewer | None:
    """The session cookie's user. Also hands the principal to ``RbacAuthorizer.principal`` for
    this request, so the UI (and only the UI: /v2 never sees this cookie) signs in by session."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    found = await sessions.lookup(db_of(request), raw)
    if found is None:
        return None
    principal = await services(request).authenticator.principal_for(found.account_id, found.via)
    if principal is None:
        return None
    request.scope["moorage.principal"] = (principal, None)
    return Viewer(principal, found.csrf_token, found.id_hash)


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    body = _env.get_template(template).render(
        viewer=viewer,
        csrf=viewer.csrf if viewer else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "same-origin",
        },
    )


def error_page(request: Request, viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
    return render(
        request,
        viewer,
        "error.html",
        status=status,
        title=titles.get(status, "Error"),
        message=message,
        here=_here(request),
    )


# Paths whose own protocol answers their 404s (an HTML page would mislead a client there).
_PROTOCOL_PREFIXES = ("/v2/", "/v2", "/api/", "/enzi/", "/auth/", "/_ping", "/_notary_server")


async def not_found(request: Request) -> Response:
    """Any URL no route knows: a page in the UI's style (still a 404), or the plain answer
    under the API prefixes."""
    if request.url.path.startswith(_PROTOCOL_PREFIXES):
        return PlainTextResponse("Not Found", status_code=404)
    path = request.url.path
    if len(path) > 1 and path.endswith("/"):  # what Starlette's redirect_slashes did
        other = dict(request.scope, path=path.rstrip("/"))
        for route in request.app.router.routes:
            match, _ = route.matches(other)
            if match == Match.FULL and getattr(route, "endpoint", None) is not not_found:
                query = f"?{request.url.query}" if request.url.query else ""
                return RedirectResponse(path.rstrip("/") + query, status_code=307)
    viewer = await session_viewer(request)
    return error_page(request, viewer, 404, "There is no page at this address.")


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


Handler = Callable[[Request, Viewer], Awaitable[Response]]


PublicHandler = Callable[[Request, "Viewer | None"], Awaitable[Response]]


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def public_page(handler: PublicHandler) -> Callable[[Request], Awaitable[Response]]:
    """Read-only pages that anonymous visitors may see too (public repositories, their tags and
    images): the handler gets ``None`` without a session and must ask with
    ``principal_of(None)``, the anonymous principal. Only GET; errors become error pages."""

    async def endpoint(request: Request) -> Response:
        viewer = await session_viewer(request)
        try:
            return await handler(request, viewer)
        except MoorageError as exc:
            status = exc.status if 400 <= exc.status < 500 else 500
            message = exc.message
            if viewer is None and status == 404:
                message += " Private repositories show only after you sign in."
            return error_page(request, viewer, status, message)

    return endpoint


def principal_of(viewer: Viewer | None) -> Principal:
    return viewer.principal if viewer is not None else ANONYMOUS


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Signed-in pages: to the login page without a session; CSRF check on every POST; domain
    errors become error pages with their status."""

    async def endpoint(request: Request) -> Response:
        viewer = await session_viewer(request)
        if viewer is None:
            if request.method != "GET":
                return error_page(request, None, 403, "Your session has ended: sign in again.")
            return see_other(f"/login?next={quote(_here(request), safe='')}")
        if request.method == "POST":
            form = await request.form()
            token = form.get("csrf")
            if not isinstance(token, str) or not hmac.compare_digest(token, viewer.csrf):
                return error_page(
                    request, viewer, 403, "The form's CSRF token is missing or wrong."
                )
        try:
            return await handler(request, viewer)
        except MoorageError as exc:
            status = exc.status if 400 <= exc.status < 500 else 500
            return error_page(request, viewer, status, exc.message)

    return endpoint


def field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/repositories"


def system_admin(viewer: Viewer) -> None:
    if not viewer.principal.is_admin:
        raise Denied("only system administrators may see this page")
