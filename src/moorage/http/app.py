"""Build the ASGI application for one serving process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from moorage.auth.credentials import Authenticator
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.ldap import LdapService, PeriodicSync
from moorage.auth.secretbox import SecretBox
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.http import ping, token
from moorage.http.access import AccessPolicy
from moorage.http.accesslog import AccessLog
from moorage.http.api.app import api_v0, enzi_v0
from moorage.http.authn import RbacAuthorizer
from moorage.http.v2 import routes as v2
from moorage.registry.context import RegistryContext
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver


def make_storage(settings: Settings) -> StorageDriver:
    return FilesystemDriver(settings.storage_root)


def create_app(settings: Settings) -> AccessLog:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        ctx = RegistryContext(db=db, storage=make_storage(settings), settings=settings)
        app.state.registry = ctx
        directory = LdapService(db, SecretBox.in_data_folder(settings.data))
        app.state.ldap = directory
        app.state.authorizer = RbacAuthorizer(
            AccessPolicy(ctx),
            Authenticator(db, directory),
            await TokenSigner.load_or_create(db, settings.token_issuer),
            settings,
        )
        periodic = PeriodicSync(directory)
        app.state.ldap_periodic = periodic
        periodic.start()
        try:
            yield
        finally:
            await periodic.stop()
            await db.close()

    app = Starlette(
        routes=[
            Route("/_ping", ping.ping, methods=["GET", "HEAD"]),
            *token.routes(),
            *v2.routes(),
        ],
        lifespan=lifespan,
    )
    app.router.routes.extend(
        [Mount("/api/v0", api_v0(app.state)), Mount("/enzi/v0", enzi_v0(app.state))]
    )
    return AccessLog(app)
