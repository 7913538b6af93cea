"""``GET /_ping``: DTR's health shape, 503 when the database or the store is unhealthy.

``GET /_notary_server/health``: notary-server's health route, in the shape of the health package
it uses (docker/distribution's ``StatusHandler``): ``{}`` and 200 when healthy, else 503 and a map
of each failed check's name to its error. Its one check is the database (``DB operational``, as
notary-server names it), which holds the trust metadata and the server's sealed keys; the blob
store is no part of Notary's service."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from moorage.http.services import services

log = logging.getLogger("moorage.health")


async def ping(request: Request) -> JSONResponse:
    ctx = services(request).registry
    problems = []
    try:
        await ctx.db.check_health()
    except Exception as exc:
        log.warning("database unhealthy", extra={"error": str(exc)})
        problems.append(f"database: {type(exc).__name__}")
    try:
        await ctx.storage.check_health()
    except Exception as exc:
        log.warning("storage unhealthy", extra={"error": str(exc)})
        problems.append(f"storage: {type(exc).__name__}")
    return JSONResponse(
        {"Error": "; ".join(problems), "Healthy": not problems},
        status_code=503 if problems else 200,
    )


async def notary_health(request: Request) -> JSONResponse:
    failed: dict[str, str] = {}
    try:
        await services(request).registry.db.check_health()
    except Exception as exc:
        log.warning("database unhealthy", extra={"error": str(exc)})
        failed["DB operational"] = f"database: {type(exc).__name__}"
    return JSONResponse(failed, status_code=503 if failed else 200)
