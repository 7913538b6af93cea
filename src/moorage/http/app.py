"""Build the ASGI application for one serving process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.http import ping
from moorage.http.accesslog import AccessLog
from moorage.http.authz import Authorizer, OpenAccess
from moorage.http.v2 import routes as v2
from moorage.registry.context import RegistryContext
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver


def make_storage(settings: Settings) -> StorageDriver:
    return FilesystemDriver(settings.storage_root)


def create_app(settings: Settings, authorizer: Authorizer | None = None) -> AccessLog:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        app.state.registry = RegistryContext(
            db=db, storage=make_storage(settings), settings=settings
        )
        app.state.authorizer = authorizer or OpenAccess()
        try:
            yield
        finally:
            await db.close()

    app = Starlette(
        routes=[Route("/_ping", ping.ping, methods=["GET", "HEAD"]), *v2.routes()],
        lifespan=lifespan,
    )
    return AccessLog(app)
