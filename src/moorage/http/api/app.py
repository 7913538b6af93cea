"""The FastAPI applications mounted under ``/api/v0``, ``/enzi/v0`` and ``/v1``.

They hold no state of a serving app: a handler finds its app's services in the request's
scope (``http.services.services(request)``, put there by ``RequestGate``). So each is built
once per process, on first use (``functools.cache``), and every app ``create_app`` makes in
that process mounts the same one: FastAPI analyses a route's parameters and response model
on its first request, once per process instead of once per app."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from moorage import __version__
from moorage.errors import MoorageError
from moorage.http.api import (
    accounts,
    action_configs,
    activity,
    content_trust,
    enzi_jobs,
    images,
    imagescan,
    jobs,
    ldap,
    meta,
    not_yet,
    pruning,
    public_keys,
    pull_policy,
    registry_settings,
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


def _app(title: str) -> FastAPI:
    app = FastAPI(
        title=title,
        version=__version__,
        docs_url=None,  # served from the package below, not from a CDN
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    add_docs(app, title)
    app.add_exception_handler(MoorageError, moorage_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    return app


@functools.cache
def api_v0() -> FastAPI:
    app = _app("Moorage API (DTR /api/v0)")
    app.include_router(repositories.router)
    app.include_router(team_access.router)
    app.include_router(images.router)
    app.include_router(activity.router)
    app.include_router(search.router)
    app.include_router(settings.router)
    app.include_router(registry_settings.router)
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
    app.include_router(pull_policy.router)
    app.include_router(content_trust.router)
    app.include_router(not_yet.router)
    return app


@functools.cache
def enzi_v0() -> FastAPI:
    app = _app("Moorage accounts (enzi /enzi/v0)")
    app.include_router(accounts.router)
    app.include_router(ldap.router)
    app.include_router(public_keys.router)
    app.include_router(enzi_jobs.router)
    return app


@functools.cache
def docker_v1() -> FastAPI:
    """``/v1/search``: what ``docker search <registry>/<term>`` calls on the registry's host;
    the same answer as ``/api/v0/index/dockersearch``."""
    app = _app("Moorage docker search (/v1)")
    app.add_api_route("/search", search.docker_search, methods=["GET"], tags=["search"])
    return app
