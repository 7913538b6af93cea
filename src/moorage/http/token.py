"""The Docker token service (DTR's garant): ``GET|POST /auth/token`` and the signing key's JWKS.

GET takes Basic credentials (password or access token) and any number of ``scope``
parameters; POST takes the OAuth2 ``password`` and ``refresh_token`` grants that the
docker CLI and containers/image send. Each granted scope is the intersection of what
was asked and what the account may do, never more.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from moorage.auth import access_tokens
from moorage.auth.credentials import access_token_of
from moorage.auth.jwt_tokens import GrantedAccess
from moorage.auth.levels import ANONYMOUS, Principal
from moorage.errors import InvalidInput, MoorageError, Unauthorized
from moorage.http.authn import client_source
from moorage.http.headers import error_headers
from moorage.http.services import Services, services
from moorage.trust import gun

log = logging.getLogger("moorage.token")
MAX_SCOPES = 32


def parse_scope(raw: str) -> tuple[str, str, frozenset[str]] | None:
    """``repository:name:pull,push`` (the name may hold ``host:port``); None when malformed."""
    kind, sep, rest = raw.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    kind = kind.split("(", 1)[0]  # "repository(plugin)" → "repository"
    return kind, name, frozenset(a for a in actions.split(",") if a)


def _scopes(values: list[str]) -> list[tuple[str, str, frozenset[str]]]:
    scopes = []
    for value in values:
        for raw in value.split():
            parsed = parse_scope(raw)
            if parsed is not None:
                scopes.append(parsed)
    if len(scopes) > MAX_SCOPES:
        raise InvalidInput(f"at most {MAX_SCOPES} scopes per token")
    return scopes


async def _grant(
    app_services: Services, principal: Principal, scopes: list[tuple[str, str, frozenset[str]]]
) -> list[GrantedAccess]:
    granted: list[GrantedAccess] = []
    for kind, name, actions in scopes:
        if kind == "repository":
            decision = await app_services.policy.decide(principal, name, actions)
            granted.append(GrantedAccess(kind, name, decision.granted))
        elif kind == "registry" and name == "catalog":
            allowed = actions & {"*"} if not principal.is_anonymous else frozenset()
            granted.append(GrantedAccess(kind, name, allowed))
    return granted


async def _token_response(
    request: Request,
    principal: Principal,
    scopes: list[tuple[str, str, frozenset[str]]],
    *,
    offline: bool,
    client_id: str,
) -> Response:
    app_services = services(request)
    settings = app_services.settings
    # A Notary GUN (``<this registry's host>/<repo>``, as the notary CLI and docker trust ask)
    # is granted as the repository it names: the scope the /v2/<gun>/_trust routes check.
    hosts = gun.own_hosts(request.url.netloc, settings.public_url)
    scopes = [
        (k, gun.scope_repository(n, hosts) if k == "repository" else n, a) for k, n, a in scopes
    ]
    granted = await _grant(app_services, principal, scopes)
    token, issued = app_services.signer.mint(
        principal.name or "",
        settings.token_service,
        granted,
        settings.token_ttl,
        account_id=principal.account_id,
        access_token_id=access_token_of(principal),
    )
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": settings.token_ttl,
        "issued_at": dt.datetime.fromtimestamp(issued, dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    # No refresh token for a login with an access token: it would outlive the access token's
    # revocation. Clients then keep the access token itself and present it on every login.
    if offline and principal.account_id is not None and principal.via != "access-token":
        refresh, _ = await access_tokens.issue(
            app_services.db,
            principal.account_id,
            kind=access_tokens.REFRESH,
            label=f"refresh token ({client_id or 'client'})"[:255],
            creator_ua=request.headers.get("user-agent", "")[:255],
        )
        body["refresh_token"] = refresh
    log.info(
        "token issued",
        extra={
            "account": principal.name,
            "via": principal.via,
            "scopes": [f"{g.type}:{g.name}:{','.join(sorted(g.actions))}" for g in granted],
        },
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _error(exc: MoorageError, *, oauth: bool = False) -> Response:
    body: dict[str, Any] = {"errors": [{"code": exc.code, "message": exc.message}]}
    if oauth:
        body["error"] = "invalid_grant" if exc.status == 401 else "invalid_request"
        body["error_description"] = exc.message
    headers = error_headers(exc)  # Retry-After of a throttled sign-in
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="moorage"'
    return Response(
        json.dumps(body).encode(),
        status_code=exc.status,
        media_type="application/json",
        headers=headers,
    )


async def token_get(request: Request) -> Response:
    authorizer = services(request).authorizer
    try:
        header = request.headers.get("authorization")
        principal = ANONYMOUS
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise Unauthorized("the token service takes Basic credentials")
            principal = await authorizer.basic_principal(request, value)
        scopes = _scopes(request.query_params.getlist("scope"))
        offline = request.query_params.get("offline_token", "").lower() == "true"
        return await _token_response(
            request,
            principal,
            scopes,
            offline=offline,
            client_id=request.query_params.get("client_id", ""),
        )
    except MoorageError as exc:
        return _error(exc)


async def token_post(request: Request) -> Response:
    app_services = services(request)
    try:
        form = await request.form()
        grant_type = str(form.get("grant_type", ""))
        client_id = str(form.get("client_id", ""))
        if grant_type == "password":
            principal = await app_services.authenticator.check(
                str(form.get("username", "")),
                str(form.get("password", "")),
                source=client_source(request),
            )
        elif grant_type == "refresh_token":
            account_id = await access_tokens.resolve(
                app_services.db, str(form.get("refresh_token", "")), kind=access_tokens.REFRESH
            )
            refreshed = (
                await app_services.authenticator.principal_for(account_id, "refresh-token")
                if account_id is not None
                else None
            )
            if refreshed is None:
                raise Unauthorized("invalid or revoked refresh token")
            principal = refreshed
        else:
            raise InvalidInput("grant_type must be password or refresh_token")
        scopes = _scopes([str(v) for v in form.getlist("scope")])
        offline = str(form.get("access_type", "")) == "offline"
        response = await _token_response(
            request, principal, scopes, offline=offline, client_id=client_id
        )
        if grant_type == "refresh_token":
            # OAuth2 clients keep using the refresh token they sent.
            data = json.loads(bytes(response.body))
            data["refresh_token"] = str(form.get("refresh_token", ""))
            return JSONResponse(data, headers={"Cache-Control": "no-store"})
        return response
    except MoorageError as exc:
        return _error(exc, oauth=True)


async def jwks(request: Request) -> Response:
    return JSONResponse(services(request).signer.jwks())


def routes() -> list[Route]:
    return [
        Route("/auth/token", token_get, methods=["GET"]),
        Route("/auth/token", token_post, methods=["POST"]),
        Route("/auth/jwks", jwks, methods=["GET"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
