"""The /v2 authorizer: Basic credentials, bearer tokens from the token service, or nobody.

The management APIs ask ``api_principal``: Basic credentials or nobody, never a registry
bearer token (a JWT is for /v2, whatever its scope). Empty Basic credentials (``Og==``) are
anonymous everywhere. Sign-ins are throttled by the ASGI scope's client address
(``client_source``); see ``moorage.auth.throttle``.

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
from moorage.auth.verified_cache import VerifiedCache
from moorage.config import Settings
from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.errors import Denied, NameUnknown, TokenChallenge, Unauthorized, Unsupported
from moorage.http.scopes import CHALLENGE_EXTRA, Access
from moorage.services.access import AccessPolicy, Refusal

_VERIFIED_MAX = 10_000
_VERIFIED_TTL = 24 * 3600.0  # at most; a token's own expiry comes first


def realm(request: Request, settings: Settings) -> str:
    """The token service's URL for the ``WWW-Authenticate`` challenge: ``public_url`` when set,
    else the scheme and host the client used. Behind a proxy in ``trusted_proxies`` those are
    the forwarded ones (``moorage.http.proxies`` rewrote the scope); Starlette falls back to
    the server's address for a ``Host`` header that is no host."""
    base = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + "/auth/token"


def parse_basic(header_value: str) -> tuple[str, str] | None:
    """(name, secret) of a Basic header; None for an empty name and secret (``Og==``, which
    clients send when they have no credentials): that caller is anonymous."""
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed Basic credentials") from exc
    name, sep, secret = decoded.partition(":")
    if sep and not name and not secret:
        return None
    if not sep or not name:
        raise Unauthorized("malformed Basic credentials")
    return name, secret


def client_source(request: Request) -> str | None:
    """The address sign-ins are throttled by: the ASGI scope's client (which the trusted-proxy
    handling rewrites when the request came through a proxy it trusts)."""
    return request.client.host if request.client else None


class RbacAuthorizer:
    def __init__(
        self,
        db: Database,
        policy: AccessPolicy,
        authenticator: Authenticator,
        signer: TokenSigner,
        settings: Settings,
    ) -> None:
        self._db = db  # the site settings: read-only mode holds a token's push
        self.policy = policy
        self.authenticator = authenticator
        self.signer = signer
        self.settings = settings
        # Keyed by the token's HMAC, until the token expires (wall clock, as its ``exp``).
        self._verified: VerifiedCache[dict[str, Any]] = VerifiedCache(
            ttl=_VERIFIED_TTL, max_entries=_VERIFIED_MAX, clock=time.time
        )

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """Verify a bearer token, remembering the result until the token expires: clients send
        the same token on every request, and an RSA verification costs more than the rest."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        claims = self.signer.verify(token, self.settings.token_service)
        expires = claims.get("exp", 0)
        if isinstance(expires, int | float):
            self._verified.put(token, value=claims, expires_at=float(expires))
        return claims

    def challenge(
        self, request: Request, access: Access | None, error: str | None = None
    ) -> TokenChallenge:
        """What a 401 asks the client to fetch a token for (``moorage.http.headers`` writes
        it as ``WWW-Authenticate``)."""
        scopes = [access] if access is not None and access.actions else []
        if scopes:  # as distribution does: further scopes beside the one asked for
            scopes += [a for a in request.scope.get(CHALLENGE_EXTRA, ()) if a != access]
        return TokenChallenge(
            realm=realm(request, self.settings),
            service=self.settings.token_service,
            scopes=tuple(f"{a.type}:{a.name}:{','.join(_ordered(a.actions))}" for a in scopes),
            error=error,
        )

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
                result = (await self.basic_principal(request, value), None)
            elif scheme.lower() == "bearer":
                result = await self._bearer_principal(value.strip())
            else:
                raise Unauthorized("unsupported authorization scheme")
        request.scope["moorage.principal"] = result
        return result

    async def basic_principal(self, request: Request, value: str) -> Principal:
        """The principal of a Basic header's value (anonymous for empty credentials)."""
        credentials = parse_basic(value)
        if credentials is None:
            return ANONYMOUS
        name, secret = credentials
        return await self.authenticator.check(name, secret, source=client_source(request))

    async def _bearer_principal(self, token: str) -> tuple[Principal, list[dict[str, Any]] | None]:
        """A registry bearer token: its signature (remembered), then one statement for its
        account and, when it was minted from an access token, that token (not revoked)."""
        claims = self._verified_claims(token)
        access = claims.get("access") or []
        account_id = claims.get("moorage_account")
        access_token_id = claims.get("moorage_access_token")
        principal = ANONYMOUS
        if isinstance(account_id, int):
            found = await self.authenticator.principal_for_bearer(
                account_id, access_token_id if isinstance(access_token_id, int) else None
            )
            if found is None:
                raise Unauthorized(
                    "the token's account is no longer active, or its access token was revoked"
                )
            principal = found
        return principal, access if isinstance(access, list) else []

    async def api_principal(self, request: Request) -> Principal:
        """Who calls the management APIs (/api/v0, /enzi/v0): Basic credentials (a password or
        an access token) or nobody. A registry bearer token is for /v2 only: whatever its
        scope, it never acts on accounts, tokens or settings."""
        header = request.headers.get("authorization") or ""
        scheme = header.partition(" ")[0].lower()
        if scheme == "bearer":
            raise Unauthorized(
                "registry bearer tokens are for /v2 only: send Basic credentials "
                "(your password or an access token)"
            )
        if header and scheme != "basic":
            raise Unauthorized("unsupported authorization scheme")
        principal, token_access = await self.principal(request)
        if token_access is not None:  # defence in depth: never a bearer token's principal
            raise Unauthorized("registry bearer tokens are for /v2 only")
        return principal

    async def authorize(self, request: Request, access: Access) -> None:
        try:
            principal, token_access = await self.principal(request)
        except Unauthorized as exc:
            exc.challenge = self.challenge(request, access, "invalid_token")
            raise
        if access.type == "registry" and access.name == "base":
            if principal.is_anonymous and token_access is None:
                raise Unauthorized(challenge=self.challenge(request, None))
            return
        if token_access is not None:
            self._check_token(request, access, token_access)
            if access.type == "repository" and access.actions & {"push", "delete"}:
                await self._check_writable()
            return
        if access.type == "registry":
            if principal.is_anonymous:
                raise Unauthorized(challenge=self.challenge(request, access))
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
            raise Unauthorized(challenge=self.challenge(request, access))
        raise Denied(detail={"scope": access.scope()})

    async def _check_writable(self) -> None:
        """A token's push or delete right still yields to read-only mode, switched on later."""
        if (await site_settings.load(self._db)).read_only_registry:
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
            challenge=self.challenge(request, access, "insufficient_scope"),
        )

    async def visible(self, request: Request) -> ColumnElement[bool]:
        principal, _ = await self.principal(request)
        return grants.visible_repositories(principal)


def _ordered(actions: frozenset[str]) -> list[str]:
    order = {"pull": 0, "push": 1, "delete": 2}
    return sorted(actions, key=lambda a: (order.get(a, 9), a))
