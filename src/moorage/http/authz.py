"""The authorization seam: every route states the access it needs before it acts.

Each /v2 handler calls ``authorize(request, Access(...))`` first. Until accounts
exist the app runs with ``OpenAccess`` (allowed on loopback); the identity issue
replaces it with token/basic authentication and RBAC without touching a route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


CATALOG = Access("registry", "catalog", frozenset({"*"}))


class Authorizer(Protocol):
    async def authorize(self, request: Request, access: Access) -> None:
        """Return when allowed; raise ``Unauthorized`` (401) or ``Denied`` (403) otherwise."""


class OpenAccess:
    """Everything allowed: the registry before authentication is configured."""

    async def authorize(self, request: Request, access: Access) -> None:
        return None


async def authorize(request: Request, access: Access) -> None:
    authorizer: Authorizer = request.app.state.authorizer
    await authorizer.authorize(request, access)
