"""Signing in and out, the home redirect and the stylesheet."""

from __future__ import annotations

import hmac
import secrets
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from moorage.db import site_settings
from moorage.errors import SignInThrottled, Unauthorized
from moorage.http.authn import client_source
from moorage.http.headers import error_headers
from moorage.http.services import services
from moorage.http.ui import sessions
from moorage.http.ui.render import (
    COOKIE,
    LOGIN_COOKIE,
    Viewer,
    db_of,
    error_page,
    field,
    render,
    safe_next,
    secure,
    see_other,
    session_viewer,
)


async def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    """The session cookie: random id, HttpOnly, SameSite=Lax, Secure over TLS; kept for the
    session's lifetime, or, with the site setting ``disablePersistentCookies``, a browser
    session cookie (no Max-Age, no Expires: gone when the browser closes)."""
    persistent = not (await site_settings.load(db_of(request))).disable_persistent_cookies
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(sessions.LIFETIME.total_seconds()) if persistent else None,
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="lax",
    )


_CSS = (resources.files("moorage.http.ui") / "static" / "ui.css").read_bytes()


async def login(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        if await session_viewer(request) is not None:
            return see_other(next_url)
        token = secrets.token_urlsafe(32)
        response = render(request, None, "login.html", login_csrf=token, next=next_url, error="")
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=3600,
            path="/login",
            secure=secure(request),
            httponly=True,
            samesite="lax",
        )
        return response
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = field(form, "csrf")
    if not expected or not hmac.compare_digest(sent, expected):
        return error_page(request, None, 403, "The form's CSRF token is missing or wrong.")
    name, password = field(form, "username"), form.get("password")
    next_url = safe_next(field(form, "next"))
    try:
        principal = await services(request).authenticator.check(
            name, password if isinstance(password, str) else "", source=client_source(request)
        )
    except SignInThrottled as exc:
        throttled = render(
            request,
            None,
            "login.html",
            status=429,
            login_csrf=expected,
            next=next_url,
            error="Too many failed sign-ins from your address: try again later.",
            username=name,
        )
        throttled.headers.update(error_headers(exc))
        return throttled
    except Unauthorized:
        return render(
            request,
            None,
            "login.html",
            status=401,
            login_csrf=expected,
            next=next_url,
            error="Invalid username or password.",
            username=name,
        )
    assert principal.account_id is not None
    previous = await sessions.lookup(db_of(request), request.cookies.get(COOKIE, ""))
    if previous is not None:  # a sign-in always starts a new session
        await sessions.end(db_of(request), previous.id_hash)
    session_id, _ = await sessions.create(db_of(request), principal)
    redirect = see_other(next_url)
    await set_session_cookie(request, redirect, session_id)
    redirect.delete_cookie(LOGIN_COOKIE, path="/login")
    return redirect


async def logout(request: Request, viewer: Viewer) -> Response:
    await sessions.end(db_of(request), viewer.session_hash)
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


async def home(request: Request, viewer: Viewer | None) -> Response:
    return see_other("/repositories")


async def stylesheet(request: Request) -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})
