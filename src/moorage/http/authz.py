"""The authorization seam: every route states the access it needs before it acts.

Each /v2 handler calls ``authorize(request, Access(...))`` first (``Access``: ``http.scopes``);
the app's authorizer (``services(request).authorizer``, ``http.authn.RbacAuthorizer``)
authenticates the caller and applies DTR's rules.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request

from moorage.http.scopes import Access
from moorage.http.services import services


async def authorize(request: Request, access: Access) -> None:
    """Return when allowed; raise ``Unauthorized`` (401) or ``Denied`` (403) otherwise."""
    await services(request).authorizer.authorize(request, access)


async def visible(request: Request) -> ColumnElement[bool]:
    """SQL condition on ``repositories`` selecting those the caller may pull."""
    return await services(request).authorizer.visible(request)
