"""The signed-in user's own account: a new password, given the current one.

The form needs the session's CSRF token (``page``), the current password (checked and
throttled as a sign-in is, never an access token) and the new one twice. A session made with an
access token may not change the password. A new password ends every session of the account
(``accounts.modify``) and the refresh tokens of its docker logins; this browser gets a fresh
session so that it stays signed in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moorage.auth.credentials import OWN_CREDENTIALS_VIA
from moorage.errors import Denied, InvalidInput, MoorageError, SignInThrottled
from moorage.http.authn import client_source
from moorage.http.headers import error_headers
from moorage.http.services import services
from moorage.http.ui import sessions
from moorage.http.ui.pages.signin import set_session_cookie
from moorage.http.ui.render import Viewer, db_of, render, see_other
from moorage.services.accounts import change_account


async def account(request: Request, viewer: Viewer) -> Response:
    may_change = viewer.principal.via in OWN_CREDENTIALS_VIA
    error = ""
    status = 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        current, new, again = (form.get(k) for k in ("current", "password", "again"))
        try:
            if not may_change:
                raise Denied("you signed in with an access token: sign in with your password")
            if not all(isinstance(v, str) for v in (current, new, again)) or new != again:
                raise InvalidInput("the new password and its repetition differ")
            assert isinstance(current, str) and isinstance(new, str)
            await change_account(
                db_of(request),
                viewer.principal,
                viewer.name,
                {"password": new},
                authenticator=services(request).authenticator,
                current_password=current,
                source=client_source(request),
            )
        except MoorageError as exc:
            error = exc.message
            status = exc.status if 400 <= exc.status < 500 else 400
            if isinstance(exc, SignInThrottled):
                headers.update(error_headers(exc))
        else:
            # Every session of the account has ended; this browser starts a new one.
            session_id, _ = await sessions.create(db_of(request), viewer.principal)
            done = see_other("/account?saved=1")
            await set_session_cookie(request, done, session_id)
            return done
    response = render(
        request,
        viewer,
        "account.html",
        status=status,
        error=error,
        may_change=may_change,
        saved=request.query_params.get("saved") == "1",
    )
    response.headers.update(headers)
    return response
