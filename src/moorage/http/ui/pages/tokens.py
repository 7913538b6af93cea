"""The signed-in user's own access tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from moorage.auth import access_tokens
from moorage.auth.credentials import require_own_credentials
from moorage.errors import Denied
from moorage.http.ui.render import (
    Viewer,
    db_of,
    field,
    render,
    see_other,
)


async def tokens(request: Request, viewer: Viewer) -> Response:
    require_own_credentials(viewer.principal)  # not from a sign-in made with an access token
    db = db_of(request)
    assert viewer.principal.account_id is not None
    created = ""
    if request.method == "POST":
        form = await request.form()
        if field(form, "action") == "revoke":
            hashed = field(form, "token")
            info = await access_tokens.get(db, hashed)
            if info.account_id != viewer.principal.account_id:
                raise Denied("not your token")
            await access_tokens.revoke(db, hashed)
            return see_other("/tokens")
        created, _ = await access_tokens.issue(
            db, viewer.principal.account_id, kind=access_tokens.API, label=field(form, "label")
        )
    tokens = await access_tokens.list_for(db, viewer.principal.account_id)
    return render(request, viewer, "tokens.html", tokens=tokens, created=created)
