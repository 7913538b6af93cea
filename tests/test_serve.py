"""``moorage serve``: TLS, the first administrator, /_ping turning unhealthy; a private data
folder and a sealed signing key; one server per port; replicas starting together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization

from moorage.auth import accounts
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.secretbox import SecretBox
from moorage.db.engine import Database
from moorage.db.migrate import upgrade
from moorage.http.server import address_in_use
from tests.conftest import RunningRegistry
from tests.registry.pushing import patch_chunk, push_blob, start_upload
from tests.services import postgres
from tests.services.tls import self_signed


@pytest.mark.one_database
def test_tls(registry_factory: Callable[..., RunningRegistry], tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "tls.crt", "tls.key")
    reg = registry_factory(
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(cert)), auth=reg.admin
    ) as client:
        r = client.get(f"https://{reg.host}/v2/")
        assert r.status_code == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    # plain HTTP to the TLS port is refused
    try:
        plain = httpx.get(f"http://{reg.host}/v2/", timeout=5.0).status_code
    except httpx.HTTPError:
        plain = None
    assert plain != 200


@pytest.mark.one_database
def test_generated_admin_password_printed_once(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory(env={"MOORAGE_ADMIN_PASSWORD": ""}, site_settings={})
    log = reg.log_path.read_text()
    marker = "First administrator created: user 'admin', password "
    assert log.count(marker) == 1
    password = log.split(marker, 1)[1].split()[0]
    with httpx.Client(base_url=reg.url) as client:
        assert client.get("/v2/", auth=("admin", password)).status_code == 200
        assert client.get("/v2/", auth=("admin", "wrong-password")).status_code == 401
    # the password appears in that one notice and in no log record
    assert log.count(password) == 1
    # and the notice tells the truth about changing it
    assert "`moorage admin passwd admin`" in log
    assert "MOORAGE_ADMIN_PASSWORD sets the password only when the first administrator" in log
    reg.stop()
    reg.start()
    assert reg.log_path.read_text().count(marker) == 1


@pytest.mark.one_database
def test_ping_turns_unhealthy_when_storage_breaks(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory()
    storage = reg.data / "storage"
    with httpx.Client(base_url=reg.url) as client:
        assert client.get("/_ping").json() == {"Error": "", "Healthy": True}
        shutil.rmtree(storage)
        storage.write_text("not a directory")
        try:
            r = client.get("/_ping")
            assert r.status_code == 503
            body = r.json()
            assert body["Healthy"] is False and "storage" in body["Error"]
        finally:
            storage.unlink()
            storage.mkdir()
        assert client.get("/_ping").status_code == 200


# ---- local secrets: a private data folder, a sealed signing key ------------------------------

NOBODY = 65534


def _world_readable_parent(tmp: Path) -> Path:
    """A folder any local user may enter (pytest's own are 0700), so the data folder's own
    modes are what keeps another user out."""
    parent = Path(tempfile.mkdtemp(prefix="moorage-ops-", dir="/tmp"))
    parent.chmod(0o755)
    return parent


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        list(argv), user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, timeout=30
    )


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def _loose(root: Path) -> dict[str, str]:
    return {
        name: f"{mode:04o}"
        for name, mode in _modes(root).items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }


@pytest.fixture()
def private_data(tmp_path: Path) -> Iterator[Path]:
    parent = _world_readable_parent(tmp_path)
    try:
        yield parent / "data"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.one_database
def test_data_folder_and_everything_in_it_are_private(
    registry_factory: Callable[..., RunningRegistry], private_data: Path
) -> None:
    reg = registry_factory(data=private_data, database="", env={"MOORAGE_WORKERS": "2"})
    blob = os.urandom(2048)
    with reg.client() as c:
        digest = push_blob(c, "ops/private", blob)
        location = start_upload(c, "ops/private")  # an upload in progress
        assert patch_chunk(c, location, b"partial", 0).status_code == 202
    names = _modes(private_data)
    hexpart = digest.split(":", 1)[1]
    blob_path = f"storage/blobs/sha256/{hexpart[:2]}/{hexpart}/data"
    for expected in ("moorage.db", "moorage.db-wal", "moorage.db-shm", "secret.key", blob_path):
        assert expected in names, sorted(names)
    assert any(n.startswith("storage/uploads/") and n.endswith("/data") for n in names)
    assert _loose(private_data) == {}
    # Another local user reads none of it: not the database (and the signing key in it), not
    # the secret key, not a private repository's blob.
    for target in ("moorage.db", "secret.key", blob_path):
        denied = _as_nobody("cat", str(private_data / target))
        assert denied.returncode != 0 and b"Permission denied" in denied.stderr, target
    assert _as_nobody("ls", str(private_data)).returncode != 0


@pytest.mark.one_database
def test_an_older_install_is_made_private_on_start(
    registry_factory: Callable[..., RunningRegistry], private_data: Path
) -> None:
    reg = registry_factory(data=private_data, database="")
    with reg.client() as c:
        push_blob(c, "ops/older", os.urandom(1024))
    reg.stop()
    for dirpath, dirnames, filenames in os.walk(private_data):  # as an older version left it
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)
    private_data.chmod(0o755)
    assert _as_nobody("cat", str(private_data / "moorage.db")).returncode == 0
    reg.start()
    assert _loose(private_data) == {}
    assert _as_nobody("cat", str(private_data / "moorage.db")).returncode != 0
    log = reg.log_path.read_text()
    assert "made the data folder private" in log
    assert "moorage.db 0644->0600" in log and ". 0755->0700" in log


def _signing_row(reg: RunningRegistry) -> tuple[str, str]:
    with contextlib.closing(sqlite3.connect(reg.data / "moorage.db")) as conn:
        kid, stored = conn.execute("SELECT kid, private_pem FROM signing_keys").fetchone()
    return str(kid), str(stored)


def _forged_admin_token(pem: str, kid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "moorage",
        "sub": "admin",
        "aud": "moorage",
        "iat": now,
        "nbf": now - 1,
        "exp": now + 300,
        "access": [{"type": "registry", "name": "catalog", "actions": ["*"]}],
    }
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def test_signing_key_is_sealed_and_a_clear_one_is_sealed_in_place(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory(database="")
    kid, stored = _signing_row(reg)
    # What the database file holds is no key: a reader of moorage.db cannot forge a token.
    assert "PRIVATE KEY" not in stored and SecretBox.looks_sealed(stored)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(stored.encode(), password=None)
    for name in ("moorage.db", "moorage.db-wal"):  # nor anywhere in the database's files
        assert b"PRIVATE KEY" not in (reg.data / name).read_bytes()
    # Only with the secret key (the 0600 file beside it) does it open, and it is the real key.
    pem = SecretBox.in_data_folder(reg.data).open(stored)
    forged = _forged_admin_token(pem, kid)
    with httpx.Client(base_url=reg.url) as c:
        assert (
            c.get("/v2/_catalog", headers={"Authorization": f"Bearer {forged}"}).status_code == 200
        )
    # An install from before: the key in clear. The next start seals it, same key, same kid.
    reg.stop()
    with contextlib.closing(sqlite3.connect(reg.data / "moorage.db")) as conn, conn:
        conn.execute("UPDATE signing_keys SET private_pem = ?", (pem,))
    reg.start()
    again_kid, again = _signing_row(reg)
    assert again_kid == kid and SecretBox.looks_sealed(again) and again != stored
    assert SecretBox.in_data_folder(reg.data).open(again) == pem
    assert (
        "signing key was stored in clear by an older version; sealed it" in reg.log_path.read_text()
    )
    with httpx.Client(base_url=reg.url) as c:  # tokens signed before still verify
        assert (
            c.get("/v2/_catalog", headers={"Authorization": f"Bearer {forged}"}).status_code == 200
        )


# ---- one server per port ------------------------------------------------------------------


@pytest.mark.one_database
def test_second_server_on_a_busy_port_refuses_to_start(
    registry_factory: Callable[..., RunningRegistry], tmp_path: Path
) -> None:
    first = registry_factory(env={"MOORAGE_WORKERS": "2"})
    other = tmp_path / "other"
    began = time.monotonic()
    second = subprocess.run(
        [sys.executable, "-m", "moorage.cli.main", "serve", "--listen", first.host,
         "--data", str(other)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "MOORAGE_ADMIN_PASSWORD": first.admin[1]},
    )  # fmt: skip
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"moorage: 127.0.0.1:{first.port} is already in use" in second.stderr
    assert time.monotonic() - began < 30
    assert not other.exists()  # refused before touching anything
    with first.client() as c:  # the first one still serves, alone
        assert c.get("/v2/").status_code == 200
    # and a restart of the first one on its own port works (its old connections linger)
    first.stop()
    first.start()
    with first.client() as c:
        assert c.get("/v2/").status_code == 200


def test_address_in_use_sees_listeners_with_and_without_reuseport() -> None:
    for reuseport in (False, True):
        with socket.socket() as listener:
            if reuseport:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            problem = address_in_use("127.0.0.1", port)
            assert problem is not None and "already in use" in problem
            assert address_in_use("0.0.0.0", port) is not None
        assert address_in_use("127.0.0.1", port) is None


# ---- replicas starting together on one fresh PostgreSQL -----------------------------------


def _start_together(regs: list[RunningRegistry]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(regs))

    def start(reg: RunningRegistry) -> None:
        barrier.wait()
        try:
            reg.start(timeout=90)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in regs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def _postgres(db_kind: str, request: pytest.FixtureRequest) -> postgres.PostgresServer:
    if db_kind != "postgres":
        pytest.skip("a PostgreSQL test (--db postgres)")
    server: postgres.PostgresServer = request.getfixturevalue("pg_server")
    return server


def test_replicas_started_together_on_fresh_postgres_agree(
    db_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg_server = _postgres(db_kind, request)
    # Each replica migrating on start (they take turns under the migration lock), and the
    # schema migrated beforehand (`moorage migrate`, then replicas with migrateOnStart off:
    # their first starts meet head-on).
    for n, migrate_first in enumerate((False, True, True)):
        database = pg_server.create_database()
        secret = Fernet.generate_key().decode()
        env = {"MOORAGE_ADMIN_PASSWORD": "", "MOORAGE_SECRET_KEY": secret}
        if migrate_first:
            upgrade(database)
            env["MOORAGE_MIGRATE_ON_START"] = "false"
        regs = [
            RunningRegistry(
                data=tmp_path / f"r{n}-{i}", database=database, env=env, site_settings={}
            )
            for i in range(3)
        ]
        try:
            errors = _start_together(regs)
            assert not errors, errors
            logs = [r.log_path.read_text() for r in regs]
            marker = "First administrator created: user 'admin', password "
            assert sum(log.count(marker) for log in logs) == 1, logs
            password = next(log for log in logs if marker in log).split(marker, 1)[1].split()[0]
            jwks = []
            for reg in regs:
                with httpx.Client(base_url=reg.url) as c:
                    assert c.get("/v2/", auth=("admin", password)).status_code == 200
                    jwks.append(c.get("/auth/jwks").json())
                    tok = c.get(
                        "/auth/token", params={"service": "moorage"}, auth=("admin", password)
                    ).json()["token"]
                # a token from one replica is good on the others
                other = regs[(regs.index(reg) + 1) % len(regs)]
                with httpx.Client(base_url=other.url) as c:
                    assert (
                        c.get("/v2/", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
                    )
            assert all(keys == jwks[0] for keys in jwks)
            with psycopg.connect(database) as conn:
                assert conn.execute("SELECT count(*) FROM signing_keys").fetchone() == (1,)
                admins = conn.execute("SELECT count(*) FROM accounts WHERE is_admin").fetchone()
                assert admins == (1,)
        finally:
            for reg in regs:
                reg.stop()
    # A replica with another secret key says so and stops, rather than serving another key.
    stranger = RunningRegistry(
        data=tmp_path / "stranger",
        database=database,
        env={"MOORAGE_SECRET_KEY": Fernet.generate_key().decode()},
        site_settings={},
    )
    with pytest.raises(RuntimeError, match="moorage exited"):
        stranger.start()
    assert "sealed with another secret key" in stranger.log_path.read_text()


async def test_first_start_bootstrap_is_race_safe(
    db_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Many processes' bootstraps at once (each its own engine): one key, one administrator."""
    database = _postgres(db_kind, request).create_database()
    await asyncio.to_thread(upgrade, database)
    box = SecretBox.in_data_folder(tmp_path)
    dbs = [Database(database, pool_size=2) for _ in range(8)]
    try:
        signers = await asyncio.gather(
            *(TokenSigner.load_or_create(db, "moorage", box=box) for db in dbs)
        )
        created = await asyncio.gather(*(accounts.bootstrap_admin(db, "admin", None) for db in dbs))
    finally:
        for db in dbs:
            await db.close()
    assert len({s.kid for s in signers}) == 1
    assert len([p for p in created if p]) == 1
