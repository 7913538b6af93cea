"""The authorization seam: every route states the access it needs before it acts.

Each /v2 handler calls ``authorize(request, Access(...))`` first; the authorizer
(``http.authn.RbacAuthorizer``) authenticates the caller and applies DTR's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class Access:
    """A Docker-token-style scope: ``repository:<name>:pull,push`` or ``registry:catalog:*``."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def repository(cls, name: str, *actions: str) -> Access:
        return cls("repository", name, frozenset(actions))

    def scope(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


# ``request.scope`` key: further scopes (``Access``) a 401 challenge names beside the one
# refused, e.g. the source repository of a cross-repository mount.
CHALLENGE_EXTRA = "moorage.challenge_scopes"

CATALOG = Access("registry", "catalog", frozenset({"*"}))
# ``GET /v2/``: any authenticated caller (it is how clients discover the token service).
BASE = Access("registry", "base", frozenset())


class Authorizer(Protocol):
    async def authorize(self, request: Request, access: Access) -> None:
        """Return when allowed; raise ``Unauthorized`` (401) or ``Denied`` (403) otherwise."""

    async def visible(self, request: Request) -> ColumnElement[bool]:
        """SQL condition on ``repositories`` selecting those the caller may pull."""


def _authorizer(request: Request) -> Authorizer:
    authorizer: Authorizer = request.app.state.authorizer
    return authorizer


async def authorize(request: Request, access: Access) -> None:
    await _authorizer(request).authorize(request, access)


async def visible(request: Request) -> ColumnElement[bool]:
    return await _authorizer(request).visible(request)
