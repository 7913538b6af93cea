"""Shared fixtures: real ``moorage serve`` processes on loopback, on SQLite or PostgreSQL.

``app_registry`` / ``inproc`` serve the same app in this process, for tests that need no
server (see tests/inprocess.py). ``--db sqlite`` (default, or ``MOORAGE_TEST_DATABASES``) runs
the fast suite; the full run (``--db sqlite,postgres``) repeats every registry test on a real
PostgreSQL server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from moorage.db.migrate import upgrade
from moorage.registry.context import RegistryContext
from moorage.storage.filesystem import FilesystemDriver
from tests.db.statement_log import StatementLog, recording
from tests.inprocess import InProcessApp, ThreadedApp, running_app, threaded_app
from tests.jobs.helpers import registry_context
from tests.services import objectstores, postgres
from tests.services.objectstores import ObjectStoreServer

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("admin", "admin-test-password")
ARTIFACTS = Path(os.environ.get("MOORAGE_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("MOORAGE_TEST_DATABASES", "sqlite"),
        help="comma-separated databases to run registry tests on: sqlite,postgres",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames:
        kinds = [k.strip() for k in metafunc.config.getoption("--db").split(",") if k.strip()]
        if metafunc.definition.get_closest_marker("one_database"):
            kinds = kinds[:1]  # what it shows does not depend on the database
        metafunc.parametrize("db_kind", kinds, scope="module")


def free_port() -> int:
    """A loopback port nobody else is handed for a minute: the kernel's pick, left in
    TIME_WAIT by one accepted and closed connection, so no other ``bind(("", 0))`` (another
    xdist worker's, another engineer's run) gets it while our server starts, and the server,
    binding it with ``SO_REUSEADDR`` as PostgreSQL, slapd, nginx and moorage do, can."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = int(s.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = s.accept()
            accepted.close()  # this side closes first: its end of the pair waits in TIME_WAIT
    return port


_SQLITE_TEMPLATE: list[Path] = []


def seed_sqlite(data: Path) -> None:
    """An empty data folder gets a copy of a SQLite database migrated once per process (the
    migrations are a second of every first start); the server still creates its keys and
    administrator. A folder with anything in it is left alone."""
    if data.exists() and any(data.iterdir()):
        return
    if not _SQLITE_TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="moorage-served-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'moorage.db'}")
        _SQLITE_TEMPLATE.append(folder / "moorage.db")
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    data.chmod(0o700)
    target = data / "moorage.db"
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with (
        contextlib.closing(sqlite3.connect(_SQLITE_TEMPLATE[0])) as source,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)  # a consistent copy, whatever the template's WAL holds


@dataclass
class RunningRegistry:
    """One ``moorage serve`` process; can be stopped, killed and started again on the same data."""

    data: Path
    database: str | None
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"
    # Serving processes (``MOORAGE_WORKERS``; ``env`` or ``--workers`` in ``extra_args`` win).
    # One unless a test is about several: each worker is another interpreter to start.
    workers: int = 1
    # Site settings applied through the API after each start (tests push to new repositories).
    site_settings: dict[str, object] = field(
        default_factory=lambda: {"createRepositoryOnPush": True}
    )
    # Start an empty embedded data folder from a migrated copy (the fixtures' folders; a test
    # that brings its own folder sees the whole first start, migrations included).
    migrated: bool = False

    @property
    def admin(self) -> tuple[str, str]:
        return ADMIN

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.data / 'moorage.db').resolve()}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.data.parent / f"{self.data.name}-{self.port}.log"

    def start(self, timeout: float = 90.0) -> RunningRegistry:
        if self.migrated and not self.database:
            seed_sqlite(self.data)
        cmd = [
            sys.executable,
            "-m",
            "moorage.cli.main",
            "serve",
            "--listen",
            self.host,
            "--data",
            str(self.data),
            *self.extra_args,
        ]
        if self.database:
            cmd += ["--database", self.database]
        env = {
            **os.environ,
            "MOORAGE_ADMIN_PASSWORD": ADMIN[1],
            "MOORAGE_WORKERS": str(self.workers),
            **self.env,
        }
        with open(self.log_path, "ab") as log:
            # A session of its own, so a crash can take the server's worker processes too.
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moorage exited: {self.log_path.read_text()[-3000:]}")
            try:
                with httpx.Client(verify=False, timeout=10.0) as probe:
                    if probe.get(f"{self.url}/_ping", timeout=1.0).status_code == 200:
                        if self.site_settings:
                            r = probe.post(
                                f"{self.url}/api/v0/meta/settings",
                                json=self.site_settings,
                                auth=ADMIN,
                            )
                            r.raise_for_status()
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"moorage did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL to the server and its workers at once, as a crash (or the OOM killer) would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Wait until no process of the server's session is left (workers exit after the parent)."""
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client signed in as the administrator (``auth=None`` for an anonymous one)."""
        kwargs.setdefault("auth", ADMIN)
        kwargs.setdefault("timeout", 60.0)
        return httpx.Client(base_url=self.url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PostgresServer]:
    if not postgres.available():
        pytest.skip("PostgreSQL binaries not installed")
    server = postgres.start(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: postgres.PostgresServer) -> str:
    """A database migrated to head once per session (its name): each database a test gets
    is a copy of it, made by PostgreSQL in milliseconds, instead of a migration from scratch.
    Tests of migrating a fresh database ask ``pg_server`` for an empty one."""
    url = pg_server.create_database()
    upgrade(url)  # disposes of its engine: nobody stays connected to the template
    name = make_url(url).database
    assert name
    return name


@pytest.fixture(scope="module")
def database_factory(db_kind: str, request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """Makes database URLs of the kind under test (None = the embedded SQLite default); a
    PostgreSQL one comes migrated (a copy of ``pg_template``)."""
    if db_kind == "sqlite":
        return lambda: None
    if db_kind == "postgres":
        server: postgres.PostgresServer = request.getfixturevalue("pg_server")
        template: str = request.getfixturevalue("pg_template")
        return lambda: server.create_database(template=template)
    raise ValueError(f"unknown --db kind {db_kind!r}")


@pytest.fixture(scope="module")
def registry_factory(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[Callable[..., RunningRegistry]]:
    started: list[RunningRegistry] = []

    def make(
        data: Path | None = None, database: str | None = None, *, start: bool = True, **kw: object
    ) -> RunningRegistry:
        kw.setdefault("migrated", data is None)
        reg = RunningRegistry(
            data=data or tmp_path_factory.mktemp("data"),
            database=database if database is not None else database_factory(),
            **kw,  # type: ignore[arg-type]
        )
        started.append(reg)
        return reg.start() if start else reg

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture(scope="module")
def registry(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    """A registry shared by the tests of one module (each test uses its own repository names)."""
    return registry_factory()


@pytest.fixture(scope="session")
def _shared_registries() -> Iterator[dict[str, RunningRegistry]]:
    started: dict[str, RunningRegistry] = {}
    yield started
    for reg in started.values():
        reg.stop()


@pytest.fixture(scope="module")
def shared_registry(
    db_kind: str,
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
    _shared_registries: dict[str, RunningRegistry],
) -> RunningRegistry:
    """One ``moorage serve`` per database kind for the whole session, for modules that need a
    real server only to talk to it (raw sockets, its log, a browser) and change nothing
    shared: each test uses its own repository names and accounts, and none changes site
    settings. A module opts in by overriding ``registry`` with it."""
    if db_kind not in _shared_registries:
        reg = RunningRegistry(
            data=tmp_path_factory.mktemp("shared"), database=database_factory(), migrated=True
        )
        try:
            reg.start()
        except BaseException:
            reg.stop()  # one that timed out may still be running
            raise
        _shared_registries[db_kind] = reg
    return _shared_registries[db_kind]


@pytest.fixture()
def client(registry: RunningRegistry) -> Iterator[httpx.Client]:
    with registry.client() as c:
        yield c


@pytest.fixture()
async def inproc(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    """The real ASGI app in this process, on a fresh database of the kind under test."""
    async with running_app(tmp_path / "data", database_factory()) as app:
        yield app


@pytest.fixture(scope="module")
def app_registry(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str | None]
) -> Iterator[ThreadedApp]:
    """The real ASGI app in this process, shared by a module's synchronous tests (each test
    uses its own repository names), on a database of the kind under test; no server."""
    with threaded_app(tmp_path_factory.mktemp("app"), database_factory()) as app:
        yield app


@pytest.fixture()
def statements() -> Iterator[StatementLog]:
    """Every statement any database engine of this process runs during the test."""
    with recording() as log:
        yield log


@pytest.fixture()
async def ctx(
    db_kind: str, database_factory: Callable[[], str | None], tmp_path: Path
) -> AsyncIterator[RegistryContext]:
    """A registry context (database of the kind under test, filesystem storage) without an
    app: for the job, queue and schedule tests. A module may override it."""
    async with registry_context(
        database_factory(), tmp_path, FilesystemDriver(tmp_path / "storage")
    ) as ctx:
        yield ctx


# Object-store servers (tests/services/objectstores.py), each started once per session on first
# use and stopped by its PID at the end; a test that needs an absent one skips, naming why.
def _object_store(kind: str, ports: int = 1) -> Iterator[ObjectStoreServer]:
    reason = objectstores.missing(kind)
    if reason is not None:
        pytest.skip(reason)
    server = objectstores.start(kind, *(free_port() for _ in range(ports)))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[ObjectStoreServer]:
    yield from _object_store("s3")


@pytest.fixture(scope="session")
def azure_server() -> Iterator[ObjectStoreServer]:
    yield from _object_store("azure")


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[ObjectStoreServer]:
    yield from _object_store("gcs")


@pytest.fixture(scope="session")
def swift_server() -> Iterator[ObjectStoreServer]:
    """Proxy, account, container and object servers and memcached: five ports."""
    yield from _object_store("swift", ports=5)
