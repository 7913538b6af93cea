"""The real notary CLI (Debian's notary 0.7.0) against ``moorage serve`` over TLS: init and
publish, add, list, lookup, a server-managed snapshot after ``key rotate snapshot -r``, the
server's timestamp key and the root key rotated, a second trust directory seeing the same
targets, a reader refused a publish and a delete, and ``delete --remote`` by the owner."""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from moorage.trust.keys import PublicKey
from tests.conftest import RunningRegistry, free_port
from tests.services.tls import self_signed
from tests.trust.world import PASSWORD, TrustWorld, make_world

pytestmark = [
    pytest.mark.one_database,  # the protocol; the route tests run on both databases
    pytest.mark.skipif(
        shutil.which("notary") is None, reason="notary not installed (apt-get install notary)"
    ),
]

TIMEOUT = 60


@dataclass
class Served:
    registry: RunningRegistry
    ca: Path
    world: TrustWorld

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.registry.url,
            verify=ssl.create_default_context(cafile=str(self.ca)),
            auth=self.registry.admin,
            timeout=30,
        )


@pytest.fixture(scope="module")
def served(
    registry_factory: Callable[..., RunningRegistry], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    certs = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(certs, "tls.crt", "tls.key")
    reg = registry_factory(
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https"
    )
    with httpx.Client(
        base_url=reg.url,
        verify=ssl.create_default_context(cafile=str(cert)),
        auth=reg.admin,
        timeout=30,
    ) as admin:
        world = make_world(admin)
    yield Served(reg, cert, world)


class Notary:
    """One notary client: its own trust directory, signed in as ``user``."""

    def __init__(self, served: Served, home: Path, user: str, password: str) -> None:
        self.served, self.home = served, home
        self.trust_dir = home / "trust"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "NOTARY_ROOT_PASSPHRASE": "root-passphrase-1",
            "NOTARY_TARGETS_PASSPHRASE": "targets-passphrase-1",
            "NOTARY_SNAPSHOT_PASSPHRASE": "snapshot-passphrase-1",
            "NOTARY_DELEGATION_PASSPHRASE": "delegation-passphrase-1",
            "NOTARY_AUTH": base64.b64encode(f"{user}:{password}".encode()).decode(),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            "notary",
            "-s",
            self.served.registry.url,
            "--tlscacert",
            str(self.served.ca),
            "-d",
            str(self.trust_dir),
            *args,
        ]
        proc = subprocess.run(
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
        return proc


def _client(served: Served, tmp_path: Path, name: str, user: str) -> Notary:
    home = tmp_path / name
    home.mkdir()
    return Notary(served, home, user, PASSWORD)


def test_notary_workflow(served: Served, tmp_path: Path) -> None:
    owner = served.world.writer  # admin of their own namespace: rotates and deletes there
    with served.admin() as admin:
        r = admin.post(
            f"/api/v0/repositories/{owner}", json={"name": "app", "visibility": "public"}
        )
        assert r.status_code == 201, r.text
    gun = f"{served.registry.host}/{owner}/app"
    writer = _client(served, tmp_path, "writer", owner)
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"the image's bytes\n")

    writer.run("init", gun)
    writer.run("publish", gun)
    writer.run("add", gun, "v1", str(payload))
    writer.run("publish", gun)
    listed = writer.run("list", gun).stdout
    assert "v1" in listed, listed
    lookup = writer.run("lookup", gun, "v1").stdout
    assert "v1" in lookup and str(payload.stat().st_size) in lookup, lookup

    # the server takes over the snapshot, then signs it on the next publish
    writer.run("key", "rotate", gun, "snapshot", "-r")
    writer.run("add", gun, "v2", str(payload))
    writer.run("publish", gun)
    with served.admin() as admin:
        key = admin.get(f"/v2/{gun}/_trust/tuf/snapshot.key").json()
        snap = admin.get(f"/v2/{gun}/_trust/tuf/snapshot.json").json()
    signer = PublicKey(key["keytype"], base64.b64decode(key["keyval"]["public"]))
    assert [s["keyid"] for s in snap["signatures"]] == [signer.key_id]

    # the server's timestamp key and the root key rotate too; publishes go on
    writer.run("key", "rotate", gun, "timestamp", "-r")
    writer.run("key", "rotate", gun, "root")
    writer.run("add", gun, "v3", str(payload))
    writer.run("publish", gun)
    with served.admin() as admin:
        root = admin.get(f"/v2/{gun}/_trust/tuf/root.json").json()
    assert root["signed"]["version"] >= 3  # two rotations, each a new root

    # a fresh trust directory (another client) sees the same targets
    reader = _client(served, tmp_path, "reader", served.world.reader)
    seen = reader.run("list", gun).stdout
    assert all(tag in seen for tag in ("v1", "v2", "v3")), seen

    # a reader with pull only is refused a publish
    reader.run("add", gun, "evil", str(payload))
    refused = reader.run("publish", gun, check=False)
    assert refused.returncode != 0, refused.stdout
    assert "evil" not in writer.run("list", gun).stdout
    denied = reader.run("delete", gun, "--remote", check=False)
    assert denied.returncode != 0

    writer.run("delete", gun, "--remote")
    with served.admin() as admin:
        r = admin.get(f"/v2/{gun}/_trust/tuf/root.json")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "METADATA_NOT_FOUND"


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_docker_trust_without_a_daemon(served: Served, tmp_path: Path) -> None:
    """``docker trust signer add`` initializes the repository's trust data on the registry's own
    host (``DOCKER_CONTENT_TRUST_SERVER`` unset), notary signs as the delegate in docker's trust
    directory, and ``docker trust inspect`` shows the signed tag and its signer."""
    owner = served.world.writer
    with served.admin() as admin:
        r = admin.post(
            f"/api/v0/repositories/{owner}", json={"name": "dct", "visibility": "public"}
        )
        assert r.status_code == 201, r.text
    gun = f"{served.registry.host}/{owner}/dct"
    config = tmp_path / "docker"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DOCKER_CONFIG": str(config),
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "root-passphrase-1",
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": "repo-passphrase-1",
    }

    def docker(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["docker", *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    docker("login", served.registry.host, "-u", owner, "--password-stdin", stdin=PASSWORD)
    keys = tmp_path / "keys"
    keys.mkdir()
    docker("trust", "key", "generate", "ci", "--dir", str(keys))
    docker("trust", "signer", "add", "--key", str(keys / "ci.pub"), "ci", gun)

    signer = Notary(served, tmp_path, owner, PASSWORD)
    signer.trust_dir = config / "trust"
    signer.env["NOTARY_DELEGATION_PASSPHRASE"] = "repo-passphrase-1"
    digest = "ab" * 32
    signer.run(
        "addhash", "-p", gun, "v1", "1234", "--sha256", digest,
        "--roles", "targets/releases", "--roles", "targets/ci",
    )  # fmt: skip
    assert "v1" in signer.run("list", gun).stdout
    pretty = docker("trust", "inspect", "--pretty", f"{gun}:v1")
    assert digest in pretty and "ci" in pretty, pretty
    inspected = docker("trust", "inspect", gun)
    assert '"SignedTags"' in inspected and digest in inspected, inspected


def test_two_replicas_on_postgres_share_trust_data(
    registry_factory: Callable[..., RunningRegistry],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """A publish through one replica is served by the other, signed with the same timestamp
    key: metadata and the server's sealed keys live in the shared database."""
    pg = request.getfixturevalue("pg_server")
    database = pg.create_database(template=request.getfixturevalue("pg_template"))
    certs = tmp_path_factory.mktemp("tls2")
    cert, key = self_signed(certs, "tls.crt", "tls.key")
    first_port = free_port()
    env = {
        "MOORAGE_SECRET_KEY": Fernet.generate_key().decode(),
        "MOORAGE_PUBLIC_URL": f"https://127.0.0.1:{first_port}",  # one name for both
    }
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    one = registry_factory(
        database=database, env=env, extra_args=tls, scheme="https", port=first_port
    )
    two = registry_factory(database=database, env=env, extra_args=tls, scheme="https")
    ctx = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=one.url, verify=ctx, auth=one.admin, timeout=30) as admin:
        world = make_world(admin)
        r = admin.post(f"/api/v0/repositories/{world.writer}", json={"name": "ha"})
        assert r.status_code == 201, r.text
    gun = f"{one.host}/{world.writer}/ha"
    writer = Notary(Served(one, cert, world), _home(tmp_path, "w"), world.writer, PASSWORD)
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"bytes")
    writer.run("init", "-p", gun)
    writer.run("add", "-p", gun, "v1", str(payload))
    other = Notary(Served(two, cert, world), _home(tmp_path, "o"), world.writer, PASSWORD)
    assert "v1" in other.run("list", gun).stdout
    keys = []
    for reg in (one, two):
        with httpx.Client(base_url=reg.url, verify=ctx, auth=reg.admin, timeout=30) as c:
            keys.append(c.get(f"/v2/{gun}/_trust/tuf/timestamp.key").json())
            assert c.get(f"/v2/{gun}/_trust/tuf/targets.json").status_code == 200
    assert keys[0] == keys[1]


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    return home
