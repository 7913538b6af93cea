"""Docker-token-style access scopes: what a request asks to do (``repository:<name>:pull,push``).

The vocabulary the authorizer (``http.authn``) and the per-request seam (``http.authz``) share;
a module of its own so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


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
