"""What every /api/v0 and /enzi/v0 route shares: who is asking, what they may do, paging, errors."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from moorage.auth.levels import Principal
from moorage.db.engine import Database
from moorage.errors import Denied, InvalidParameters, MoorageError, Unauthorized
from moorage.http.headers import error_headers
from moorage.http.services import Services, services

log = logging.getLogger("moorage.api")
MAX_PAGE = 1000


def error_response(exc: MoorageError) -> Response:
    entry: dict[str, Any] = {"code": exc.api_code or exc.code, "message": exc.message}
    if exc.detail is not None:
        entry["detail"] = exc.detail
    headers = error_headers(exc)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="moorage"')
    return Response(
        json.dumps({"errors": [entry]}).encode(),
        status_code=exc.status,
        media_type="application/json",
        headers=headers,
    )


async def moorage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MoorageError)
    return error_response(exc)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    body = {
        "errors": [
            {"code": _validation_code(exc), "message": "invalid request", "detail": problems}
        ]
    }
    return Response(json.dumps(body).encode(), status_code=400, media_type="application/json")


# Where a refused value came from (FastAPI's ``loc[0]``): DTR answers INVALID_PARAMETERS
# ("Unable to parse query parameters") for the request line and its headers, INVALID_JSON
# ("Unable to parse JSON") for the body (a multipart form's fields included).
_PARAMETER_SOURCES = frozenset({"query", "path", "header", "cookie"})


def _validation_code(exc: RequestValidationError) -> str:
    """INVALID_PARAMETERS when a query, path or header parameter is refused (DTR checks those
    before it reads the body), INVALID_JSON when only the body is."""
    for error in exc.errors():
        loc = error.get("loc", ())
        if loc and loc[0] in _PARAMETER_SOURCES:
            return "INVALID_PARAMETERS"
    return "INVALID_JSON"


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled API error", exc_info=exc)
    return error_response(MoorageError("internal server error"))


def database(request: Request) -> Database:
    return services(request).db


async def current_principal(request: Request) -> Principal:
    """The caller of an API route: Basic credentials (password or access token) or nobody; a
    registry bearer token is refused (401), whatever its scope."""
    return await services(request).authorizer.api_principal(request)


async def signed_in(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.is_anonymous:
        raise Unauthorized("sign in first")
    return principal


async def administrator(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    if not principal.is_admin:
        raise Denied("only system administrators may do this")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
SignedIn = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(administrator)]
Db = Annotated[Database, Depends(database)]
AppServices = Annotated[Services, Depends(services)]  # the app's services (http.services)
PageStart = Annotated[str | None, Query(alias="pageStart")]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE)]


# DTR's ``count=true``: the size of the whole list in ``X-Resource-Count`` (``resource_count``).
Count = Annotated[bool, Query(alias="count")]


def resource_count(response: Response, total: int) -> None:
    response.headers["X-Resource-Count"] = str(total)


def next_page(response: Response, next_start: str | None) -> None:
    """DTR's paging: the start of the next page in ``X-Next-Page-Start`` (none on the last)."""
    if next_start:
        response.headers["X-Next-Page-Start"] = next_start


def query_time(name: str, value: str) -> dt.datetime:
    """A date-time query parameter (DTR's ``usedbefore``, ``publishedBefore`` …): RFC 3339, a
    missing zone read as UTC; 400 ``INVALID_PARAMETERS`` naming ``name`` otherwise."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameters(
            f"{name} must be a date-time such as 2024-01-31T00:00:00Z",
            detail={name: value[:64]},
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
