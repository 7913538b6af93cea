"""The /v2 authorizer: Basic credentials, bearer tokens from the token service, or nobody.

Refusals follow the Docker token protocol: an unauthenticated request, or a bearer
token without the needed scope, gets 401 with a ``WWW-Authenticate: Bearer`` challenge
naming the scope; an authenticated Basic request without the right gets 403 DENIED.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request

from moorage.auth import grants
from moorage.auth.credentials import Authenticator
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.levels import ANONYMOUS, Principal
from moorage.config import Settings
from moorage.db import site_settings
from moorage.errors import Denied, NameUnknown, Unauthorized, Unsupported
from moorage.http.access import AccessPolicy, Refusal
from moorage.http.authz import Access

_VERIFIED_MAX = 10_000


def realm(request: Request, settings: Settings) -> str:
    base = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + "/auth/token"


def parse_basic(header_value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed Basic credentials") from exc
    name, sep, secret = decoded.partition(":")
    if not sep or not name:
        raise Unauthorized("malformed Basic credentials")
    return name, secret


class RbacAuthorizer:
    def __init__(
        self,
        policy: AccessPolicy,
        authenticator: Authenticator,
        signer: TokenSigner,
        settings: Settings,
    ) -> None:
        self.policy = policy
        self.ctx_db = policy.ctx.db
        self.authenticator = authenticator
        self.signer = signer
        self.settings = settings
        self._verified: dict[str, dict[str, Any]] = {}

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """Verify a bearer token, remembering the result until the token expires: clients send
        the same token on every request, and an RSA verification costs more than the rest."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached.get("exp", 0) > time.time():
                return cached
            del self._verified[token]
        claims = self.signer.verify(token, self.settings.token_service)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def challenge(self, request: Request, access: Access | None, error: str | None = None) -> str:
        parts = [
            f'Bearer realm="{realm(request, self.settings)}"',
            f'service="{self.settings.token_service}"',
        ]
        if access is not None and access.actions:
            parts.append(
                f'scope="{access.type}:{access.name}:{",".join(_ordered(access.actions))}"'
            )
        if error:
            parts.append(f'error="{error}"')
        return ",".join(parts)

    async def principal(self, request: Request) -> tuple[Principal, list[dict[str, Any]] | None]:
        """Who sent the request, and the access claims of its bearer token (None for others)."""
        cached = request.scope.get("moorage.principal")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        header = request.headers.get("authorization")
        result: tuple[Principal, list[dict[str, Any]] | None]
        if not header:
            result = (ANONYMOUS, None)
        else:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "basic":
                name, secret = parse_basic(value)
                result = (await self.authenticator.check(name, secret), None)
            elif scheme.lower() == "bearer":
                claims = self._verified_claims(value.strip())
                access = claims.get("access") or []
                account_id = claims.get("moorage_account")
                principal = ANONYMOUS
                if isinstance(account_id, int):
                    found = await self.authenticator.principal_for(account_id, "bearer")
                    if found is None:
                        raise Unauthorized("the token's account is no longer active")
                    principal = found
                result = (principal, access if isinstance(access, list) else [])
            else:
                raise Unauthorized("unsupported authorization scheme")
        request.scope["moorage.principal"] = result
        return result

    async def authorize(self, request: Request, access: Access) -> None:
        try:
            principal, token_access = await self.principal(request)
        except Unauthorized as exc:
            exc.headers["WWW-Authenticate"] = self.challenge(request, access, "invalid_token")
            raise
        if access.type == "registry" and access.name == "base":
            if principal.is_anonymous and token_access is None:
                raise Unauthorized(headers={"WWW-Authenticate": self.challenge(request, None)})
            return
        if token_access is not None:
            self._check_token(request, access, token_access)
            if access.type == "repository" and access.actions & {"push", "delete"}:
                await self._check_writable()
            return
        if access.type == "registry":
            if principal.is_anonymous:
                raise Unauthorized(headers={"WWW-Authenticate": self.challenge(request, access)})
            return
        decision = await self.policy.decide(principal, access.name, access.actions)
        if access.actions <= decision.granted:
            return
        self._refuse(request, principal, access, decision.refusal)

    def _refuse(
        self, request: Request, principal: Principal, access: Access, refusal: Refusal
    ) -> None:
        if refusal is Refusal.READ_ONLY_REGISTRY:
            raise Unsupported("the registry is in read-only mode")
        if refusal is Refusal.NO_SUCH_REPOSITORY and not principal.is_anonymous:
            raise NameUnknown(
                f"repository {access.name} does not exist: create it first "
                "(or an administrator enables createRepositoryOnPush)",
                detail={"name": access.name},
            )
        if principal.is_anonymous:
            raise Unauthorized(headers={"WWW-Authenticate": self.challenge(request, access)})
        raise Denied(detail={"scope": access.scope()})

    async def _check_writable(self) -> None:
        """A token's push or delete right still yields to read-only mode, switched on later."""
        if (await site_settings.load(self.ctx_db)).read_only_registry:
            raise Unsupported("the registry is in read-only mode")

    def _check_token(
        self, request: Request, access: Access, token_access: list[dict[str, Any]]
    ) -> None:
        for entry in token_access:
            if (
                isinstance(entry, dict)
                and entry.get("type") == access.type
                and entry.get("name") == access.name
                and access.actions <= set(entry.get("actions") or ())
            ):
                return
        raise Unauthorized(
            "token does not grant the requested access",
            detail={"scope": access.scope()},
            headers={"WWW-Authenticate": self.challenge(request, access, "insufficient_scope")},
        )

    async def visible(self, request: Request) -> ColumnElement[bool]:
        principal, _ = await self.principal(request)
        return grants.visible_repositories(principal)


def _ordered(actions: frozenset[str]) -> list[str]:
    order = {"pull": 0, "push": 1, "delete": 2}
    return sorted(actions, key=lambda a: (order.get(a, 9), a))
