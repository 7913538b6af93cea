"""The real ASGI app in this process: no socket, no subprocess, one fresh database per use.

For tests of API answers, permissions and validation, where no real client, server or crash
is under test. ``InProcessApp`` runs the app's lifespan (the same ``create_app`` that
``moorage serve`` workers build) after the same bootstrap the CLI does (migrations, signing
key, first administrator), and hands out ``httpx.AsyncClient``s that talk ASGI directly.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
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


# Migrated, bootstrapped SQLite data folders, one per (issuer, admin name), copied into each
# fresh data folder: migrating a new database is most of what starting an app costs.
_TEMPLATES: dict[tuple[str, str], Path] = {}


async def _prepare(settings: Settings) -> None:
    """Migrate and bootstrap; a fresh embedded SQLite folder starts as a copy of a template."""
    fresh = not settings.database and not any(settings.data.iterdir())
    if not fresh:
        upgrade(settings.database_url)
        await _bootstrap(settings)
        return
    key = (settings.token_issuer, settings.admin_name)
    if key not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="moorage-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = settings.model_copy(update={"data": folder})
        upgrade(template.database_url)
        await _bootstrap(template)
        _TEMPLATES[key] = folder
    shutil.copytree(_TEMPLATES[key], settings.data, dirs_exist_ok=True)


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
    await _prepare(settings)
    app = create_app(settings)
    # Generous timeouts: on a loaded machine the job runner may take seconds to stop.
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        running = InProcessApp(settings=settings, app=manager.app)
        if site_settings is None:
            site_settings = {"createRepositoryOnPush": True}
        if site_settings:
            async with running.client() as c:
                r = await c.post("/api/v0/meta/settings", json=site_settings)
                r.raise_for_status()
        yield running


class _LoopTransport(httpx.BaseTransport):
    """Sends a synchronous client's requests to the app on the loop of another thread."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as one ByteStream, which the ASGI transport can read
        future = asyncio.run_coroutine_threadsafe(self._exchange(request), self._loop)
        status, headers, content = future.result(timeout=300)  # bounded, like a client's
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content))

    async def _exchange(self, request: httpx.Request) -> tuple[int, list[Any], bytes]:
        response = await self._asgi.handle_async_request(request)
        return response.status_code, response.headers.raw, await response.aread()


@dataclass
class ThreadedApp:
    """The in-process app served on an event loop in a thread of its own, for synchronous
    tests written against a registry: ``client()`` hands out plain ``httpx.Client``s."""

    app: InProcessApp
    loop: asyncio.AbstractEventLoop

    @property
    def admin(self) -> tuple[str, str]:
        return ADMIN

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def url(self) -> str:
        return self.app.base_url

    @property
    def host(self) -> str:
        return httpx.URL(self.app.base_url).netloc.decode()

    @property
    def data(self) -> Path:
        return self.app.settings.data

    @property
    def database_url(self) -> str:
        return self.app.settings.database_url

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client signed in as the administrator (``auth=None`` for an anonymous one)."""
        kwargs.setdefault("auth", ADMIN)
        kwargs.setdefault("timeout", 60.0)
        transport = _LoopTransport(self.app.app, self.loop)
        return httpx.Client(transport=transport, base_url=self.app.base_url, **kwargs)


@contextlib.contextmanager
def threaded_app(data: Path, database: str | None = None, **settings: Any) -> Iterator[ThreadedApp]:
    """``running_app(...)`` on a loop in a background thread, stopped and joined on exit."""
    started: concurrent.futures.Future[ThreadedApp] = concurrent.futures.Future()
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        try:
            async with running_app(data, database, **settings) as app:
                stop.append(asyncio.Event())
                started.set_result(ThreadedApp(app, asyncio.get_running_loop()))
                await stop[0].wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="inprocess-app", daemon=True)
    thread.start()
    running = started.result(timeout=120)  # raises what made the start fail
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(stop[0].set)
        thread.join(timeout=60)
        if failure:  # the app failed while shutting down
            raise failure[0]
