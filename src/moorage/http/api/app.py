"""The two FastAPI applications mounted under ``/api/v0`` and ``/enzi/v0``: each holds the
parent app's ``ServicesSlot`` as ``state.services`` (``http.services.services(request)``)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from moorage import __version__
from moorage.errors import MoorageError
from moorage.http.api import (
    accounts,
    action_configs,
    activity,
    enzi_jobs,
    images,
    imagescan,
    jobs,
    ldap,
    meta,
    not_yet,
    pruning,
    public_keys,
    remote,
    repositories,
    sbom,
    scan_overrides,
    scansummary,
    search,
    settings,
    signatures,
    team_access,
    tokens,
    webhooks,
)
from moorage.http.api.common import (
    moorage_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from moorage.http.api.docs import add_docs
from moorage.http.services import ServicesSlot


def _app(title: str, slot: ServicesSlot) -> FastAPI:
    app = FastAPI(
        title=title,
        version=__version__,
        docs_url=None,  # served from the package below, not from a CDN
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    add_docs(app, title)
    app.state.services = slot
    app.add_exception_handler(MoorageError, moorage_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    return app


def api_v0(slot: ServicesSlot) -> FastAPI:
    app = _app("Moorage API (DTR /api/v0)", slot)
    app.include_router(repositories.router)
    app.include_router(team_access.router)
    app.include_router(images.router)
    app.include_router(activity.router)
    app.include_router(search.router)
    app.include_router(settings.router)
    app.include_router(tokens.router)
    app.include_router(jobs.router)
    app.include_router(webhooks.router)
    app.include_router(pruning.router)
    app.include_router(imagescan.router)
    app.include_router(sbom.router)
    app.include_router(scansummary.router)
    app.include_router(scan_overrides.router)
    app.include_router(meta.router)
    app.include_router(action_configs.router)
    app.include_router(remote.router)
    app.include_router(signatures.router)
    app.include_router(not_yet.router)
    return app


def enzi_v0(slot: ServicesSlot) -> FastAPI:
    app = _app("Moorage accounts (enzi /enzi/v0)", slot)
    app.include_router(accounts.router)
    app.include_router(ldap.router)
    app.include_router(public_keys.router)
    app.include_router(enzi_jobs.router)
    return app


def docker_v1(slot: ServicesSlot) -> FastAPI:
    """``/v1/search``: what ``docker search <registry>/<term>`` calls on the registry's host;
    the same answer as ``/api/v0/index/dockersearch``."""
    app = _app("Moorage docker search (/v1)", slot)
    app.add_api_route("/search", search.docker_search, methods=["GET"], tags=["search"])
    return app
