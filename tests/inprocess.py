"""The real ASGI app in this process: no socket, no subprocess, one fresh database per use.

For tests of API answers, permissions and validation, where no real client, server or crash
is under test. ``InProcessApp`` runs the app's lifespan (the same ``create_app`` that
``moorage serve`` workers build) after the same bootstrap the CLI does (migrations, signing
key, first administrator), and hands out ``httpx.AsyncClient``s that talk ASGI directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from moorage.auth import accounts
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.secretbox import SecretBox
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.http.app import create_app

ADMIN = ("admin", "admin-test-password")


@dataclass
class InProcessApp:
    settings: Settings
    app: Any
    base_url: str = "http://moorage.test"

    @property
    def admin(self) -> tuple[str, str]:
        return ADMIN

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A client signed in as the administrator (``auth=None`` for an anonymous one)."""
        kwargs.setdefault("auth", ADMIN)
        kwargs.setdefault("timeout", 30.0)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000)),
            base_url=self.base_url,
            **kwargs,
        )


async def _bootstrap(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await TokenSigner.load_or_create(
            db, settings.token_issuer, box=SecretBox.in_data_folder(settings.data)
        )
        await accounts.bootstrap_admin(db, settings.admin_name, ADMIN[1])
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def running_app(
    data: Path,
    database: str | None = None,
    *,
    site_settings: dict[str, object] | None = None,
    **overrides: Any,
) -> AsyncIterator[InProcessApp]:
    """A migrated, bootstrapped app on ``data`` (and ``database``, default SQLite in it)."""
    data.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {"data": data, "job_poll_seconds": 0.2, **overrides}
    if database:
        values["database"] = database
    settings = Settings(**values)
    upgrade(settings.database_url)
    await _bootstrap(settings)
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        running = InProcessApp(settings=settings, app=manager.app)
        if site_settings is None:
            site_settings = {"createRepositoryOnPush": True}
        if site_settings:
            async with running.client() as c:
                r = await c.post("/api/v0/meta/settings", json=site_settings)
                r.raise_for_status()
        yield running
