"""``moorage backup`` and ``moorage restore`` end to end: an embedded (SQLite) install served by
a real ``moorage serve``, backed up while it serves and takes pushes, its database wiped and
restored, served again; and the same install moved to PostgreSQL by an encrypted backup that
carries its secret key. Each time: every image pulls byte-identical by digest, a user's password
and an access token made before the backup sign in, the server-held Notary key and the scan
results are there."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from moorage.db.migrate import current
from moorage.trust.keys import parse_key
from tests.cli import moorage
from tests.conftest import RunningRegistry
from tests.registry.pushing import push_image, sha256
from tests.services.postgres import PostgresServer
from tests.trust.craft import Signer, envelope, root, snapshot, targets

pytestmark = pytest.mark.one_database  # the source is always SQLite; the targets are named

USER = ("backup-user", "backup-user-password-1")
REPO = "admin/kept"


@dataclass
class Install:
    registry: RunningRegistry
    images: dict[str, tuple[str, bytes, list[bytes]]] = field(default_factory=dict)
    token: str = ""
    timestamp_key: dict[str, object] = field(default_factory=dict)
    trust: dict[str, bytes] = field(default_factory=dict)  # role → the bytes published
    scan_digest: str = ""
    backups: dict[str, Path] = field(default_factory=dict)

    @property
    def gun(self) -> str:
        return f"{self.registry.host}/{REPO}"


def _seed(reg: RunningRegistry) -> Install:
    found = Install(reg)
    with reg.client() as admin:
        for n in range(3):
            config = f'{{"architecture":"amd64","os":"linux","n":{n}}}'.encode()
            layers = [f"layer {n} {i} ".encode() * (5000 * (i + 1)) for i in range(2)]
            digest, body = push_image(admin, REPO, f"v{n}", config, layers)
            found.images[digest] = (f"v{n}", body, [config, *layers])
        r = admin.post("/enzi/v0/accounts", json={"name": USER[0], "password": USER[1]})
        assert r.status_code < 300, r.text
        found.timestamp_key, found.trust = _publish_trust(admin, found.gun)
    with reg.client(auth=USER) as user:
        r = user.post("/api/v0/api_tokens", json={"tokenLabel": "before-backup"})
        assert r.status_code == 200, r.text
        found.token = r.json()["token"]
    # A finished scan, as the scan engine records one.
    found.scan_digest = next(iter(found.images))
    with sqlite3.connect(reg.data / "moorage.db", timeout=30) as conn:
        conn.execute(
            "INSERT INTO image_scans (manifest_digest, status, critical, major, minor, "
            "queued_at, completed_at) VALUES (?, 'done', 2, 1, 0, "
            "'2026-01-01 00:00:00.000000', '2026-01-01 00:01:00.000000')",
            (found.scan_digest,),
        )
    return found


def _publish_trust(admin: httpx.Client, gun: str) -> tuple[dict[str, object], dict[str, bytes]]:
    """Notary metadata as a notary client publishes it, over the server-held timestamp key
    (made and sealed by the server on the first ask)."""
    tuf = f"/v2/{gun}/_trust/tuf/"
    r = admin.get(tuf + "timestamp.key")
    assert r.status_code == 200, r.text
    key: dict[str, object] = r.json()
    root_key, targets_key, snapshot_key = Signer("ecdsa-x509", cn=gun), Signer(), Signer()
    doc = root(1, [root_key], [targets_key], [snapshot_key.public], [parse_key(key)])
    root_bytes = envelope(doc, root_key)
    targets_bytes = envelope(targets(1, {"latest": b"kept"}), targets_key)
    snap = envelope(snapshot(1, {"root": root_bytes, "targets": targets_bytes}), snapshot_key)
    uploads = {"root": root_bytes, "targets": targets_bytes, "snapshot": snap}
    files = [("files", (f"{k}.json", v, "application/octet-stream")) for k, v in uploads.items()]
    r = admin.post(tuf, files=files)
    assert r.status_code == 200, r.text
    return key, uploads


def _check(reg: RunningRegistry, install: Install) -> None:
    """What the install held before its backup is all there, on this server."""
    with reg.client() as admin:
        for digest, (tag, body, blobs) in install.images.items():
            for reference in (digest, tag):
                r = admin.get(
                    f"/v2/{REPO}/manifests/{reference}",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                )
                assert r.status_code == 200 and r.content == body, (reference, r.text[:300])
            for blob in blobs:
                r = admin.get(f"/v2/{REPO}/blobs/{sha256(blob)}")
                assert r.status_code == 200 and r.content == blob
        # Every tag the restored database lists pulls whole (pushes during the backup too).
        tags = admin.get(f"/v2/{REPO}/tags/list").json()["tags"]
        for tag in tags:
            manifest = admin.get(
                f"/v2/{REPO}/manifests/{tag}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
            assert manifest.status_code == 200, tag
            for layer in manifest.json()["layers"]:
                assert admin.head(f"/v2/{REPO}/blobs/{layer['digest']}").status_code == 200
        tuf = f"/v2/{install.gun}/_trust/tuf/"
        r = admin.get(tuf + "timestamp.key")
        assert r.status_code == 200 and r.json() == install.timestamp_key
        for role, published in install.trust.items():
            r = admin.get(tuf + f"{role}.json")
            assert r.status_code == 200 and r.content == published, role
        assert admin.get(tuf + "timestamp.json").status_code == 200
        tag = install.images[install.scan_digest][0]
        r = admin.get(f"/api/v0/imagescan/scansummary/repositories/{REPO}/{tag}")
        assert r.status_code == 200, r.text
        summary = r.json()[0]
        assert summary["status"] == "done", r.text
        assert summary["check_completed_at"] == "2026-01-01T00:01:00.000Z", r.text
    for secret in (USER[1], install.token):
        with reg.client(auth=(USER[0], secret)) as user:
            assert user.get("/v2/").status_code == 200, secret == USER[1]
            r = user.get("/auth/token", params={"service": "moorage"})
            assert r.status_code == 200 and r.json()["token"]
    with reg.client(auth=(USER[0], "not-the-password")) as stranger:
        assert stranger.get("/v2/").status_code == 401


def _ok(done: object) -> str:
    assert getattr(done, "returncode", None) == 0, getattr(done, "stderr", "")[-3000:]
    return str(getattr(done, "stdout", ""))


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """The SQLite install, seeded, backed up twice while it serves and takes pushes (a plain
    backup and an encrypted one with the secret key); stopped after the backups."""
    reg = RunningRegistry(data=tmp_path_factory.mktemp("source"), database=None, migrated=True)
    try:
        reg.start()
        found = _seed(reg)
        folder = tmp_path_factory.mktemp("backups")
        passphrase = folder / "passphrase"
        passphrase.write_text("a long passphrase\n")
        stop = threading.Event()

        def keep_pushing() -> None:
            with reg.client() as admin:
                n = 0
                while not stop.is_set():
                    config = f'{{"during":{n}}}'.encode()
                    push_image(admin, REPO, f"during-{n}", config, [f"busy {n}".encode() * 999])
                    n += 1

        pusher = threading.Thread(target=keep_pushing)
        pusher.start()
        try:
            plain, sealed = folder / "plain.moorage-backup", folder / "sealed.moorage-backup"
            out = _ok(moorage("backup", str(plain), data=reg.data))
            assert "not encrypted" in out and "copy" in out and "secret.key" in out
            out = _ok(
                moorage(
                    "backup",
                    str(sealed),
                    "--include-secret-key",
                    "--passphrase-file",
                    str(passphrase),
                    data=reg.data,
                )
            )
            assert "the secret key is in the backup" in out
        finally:
            stop.set()
            pusher.join(timeout=60)
        key = (reg.data / "secret.key").read_text().strip()
        for made in (plain, sealed):
            assert stat.S_IMODE(made.stat().st_mode) == 0o600
        assert key.encode() not in sealed.read_bytes() and key not in out
        assert not list(folder.glob(".*partial*"))
        refused = moorage("backup", str(plain), data=reg.data)
        assert refused.returncode == 2 and "exists" in refused.stderr
        found.backups = {"plain": plain, "sealed": sealed, "passphrase": passphrase}
        reg.stop()
        yield found
    finally:
        reg.stop()


def test_a_wiped_database_is_restored_and_serves_everything(install: Install) -> None:
    reg = install.registry
    for leftover in reg.data.glob("moorage.db*"):
        leftover.unlink()
    out = _ok(moorage("restore", str(install.backups["plain"]), data=reg.data))
    assert "restored" in out and "from sqlite" in out
    again = moorage("restore", str(install.backups["plain"]), data=reg.data)
    assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr
    _ok(moorage("restore", str(install.backups["plain"]), "--force", data=reg.data))
    try:
        reg.start()
        _check(reg, install)
        # A server is beating on it now: even a forced restore is refused.
        busy = moorage("restore", str(install.backups["plain"]), "--force", data=reg.data)
        assert busy.returncode == 1 and "stop them" in busy.stderr
    finally:
        reg.stop()


def test_sqlite_moves_to_postgresql_with_its_secret_key(
    install: Install, pg_server: PostgresServer, tmp_path: Path
) -> None:
    """A new machine: a new data folder with a copy of the blobs, a fresh PostgreSQL database,
    the encrypted backup that carries the secret key."""
    database = pg_server.create_database()
    data = tmp_path / "moved"
    data.mkdir(mode=0o700)
    shutil.copytree(install.registry.data / "storage", data / "storage")
    sealed, passphrase = install.backups["sealed"], install.backups["passphrase"]
    # Refused before anything is written: no passphrase, a wrong one, a plain backup whose key
    # was not copied, a data folder holding another key.
    refusals = [
        (moorage("restore", str(sealed), data=data, database=database), "is encrypted"),
        (
            moorage(
                "restore",
                str(sealed),
                data=data,
                database=database,
                env={"MOORAGE_BACKUP_PASSPHRASE": "wrong"},
            ),
            "wrong passphrase",
        ),
        (
            moorage("restore", str(install.backups["plain"]), data=data, database=database),
            "copy secret.key",
        ),
    ]
    (data / "secret.key").write_text(Fernet.generate_key().decode() + "\n")
    refusals.append(
        (
            moorage(
                "restore",
                str(sealed),
                "--passphrase-file",
                str(passphrase),
                data=data,
                database=database,
            ),
            "not the one that sealed",
        )
    )
    for done, says in refusals:
        assert done.returncode in (1, 2) and says in done.stderr, done.stderr[-2000:]
    assert current(database) is None  # not even migrated
    (data / "secret.key").unlink()
    out = _ok(
        moorage(
            "restore",
            str(sealed),
            "--passphrase-file",
            str(passphrase),
            data=data,
            database=database,
        )
    )
    assert "secret key was written" in out
    key = data / "secret.key"
    assert key.read_text() == (install.registry.data / "secret.key").read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Served on PostgreSQL at the same address (the Notary GUN names the host).
    moved = RunningRegistry(data=data, database=database, port=install.registry.port)
    try:
        moved.start()
        _check(moved, install)
    finally:
        moved.stop()


def test_bad_requests_are_refused_with_a_reason(install: Install, tmp_path: Path) -> None:
    data = install.registry.data
    no_passphrase = moorage("backup", str(tmp_path / "x"), "--include-secret-key", data=data)
    assert no_passphrase.returncode == 2 and "passphrase" in no_passphrase.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    blank = moorage("backup", str(tmp_path / "y"), "--passphrase-file", str(empty), data=data)
    assert blank.returncode == 2 and "empty" in blank.stderr
    missing = moorage("backup", str(tmp_path / "z"), data=tmp_path / "nothing-here")
    assert missing.returncode == 2 and "no database" in missing.stderr
    nowhere = moorage("backup", str(tmp_path / "no-such-folder" / "b"), data=data)
    assert nowhere.returncode == 2 and "cannot create" in nowhere.stderr
    for name in ("x", "y", "z"):
        assert not (tmp_path / name).exists()
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    done = moorage("restore", str(junk), data=tmp_path / "fresh")
    assert done.returncode == 1 and "truncated or damaged" in done.stderr
    assert not (tmp_path / "fresh" / "moorage.db").exists()
