"""The real notary CLI (Debian's notary 0.7.0) against ``moorage serve`` over TLS: init and
publish, add, list, lookup, a server-managed snapshot after ``key rotate snapshot -r``, the
server's timestamp key and the root key rotated, a second trust directory seeing the same
targets, a reader refused a publish and a delete, and ``delete --remote`` by the owner; the docker
CLI's trust commands that need no daemon (key generate and load, signer add and remove, sign of a
signed tag, inspect, revoke); two replicas on PostgreSQL. More in test_notary_delegations.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
) -> Served:
    return serve_over_tls(registry_factory, tmp_path_factory)


def serve_over_tls(
    registry_factory: Callable[..., RunningRegistry], tmp_path_factory: pytest.TempPathFactory
) -> Served:
    """``moorage serve`` over TLS (a self-signed certificate) with the trust tests' accounts;
    ``registry_factory`` stops it when its test module ends."""
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
    return Served(reg, cert, world)


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


class Docker:
    """One docker CLI (its own config and trust directory) with no daemon to talk to."""

    def __init__(self, home: Path, name: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / name
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "DOCKER_CONFIG": str(self.config),
            "DOCKER_HOST": f"unix://{home}/{name}-no-daemon.sock",
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": "root-passphrase-1",
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": "repo-passphrase-1",
        }

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args],
            env=self.env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {proc.stdout}\n{proc.stderr}")
        return proc

    def login(self, host: str, user: str) -> None:
        self.run("login", host, "-u", user, "--password-stdin", stdin=PASSWORD)

    def inspect(self, ref: str) -> list[dict[str, Any]]:
        doc = json.loads(self.run("trust", "inspect", ref).stdout)
        assert isinstance(doc, list)
        return doc


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """An ECDSA key as ``docker trust key load`` takes it (unencrypted PKCS#8, mode 0600) and its
    public key as ``docker trust signer add --key`` takes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_docker_trust_sign_revoke_and_signers_without_a_daemon(
    served: Served, tmp_path: Path
) -> None:
    """``docker trust key load`` a key made elsewhere, ``signer add`` it, ``docker trust sign``
    a tag that is already signed (no daemon needed: it signs the existing target; a new tag
    needs the daemon's image), ``signer remove`` and ``revoke``, each seen by another client."""
    owner = served.world.writer
    with served.admin() as admin:
        r = admin.post(
            f"/api/v0/repositories/{owner}", json={"name": "signers", "visibility": "public"}
        )
        assert r.status_code == 201, r.text
    gun = f"{served.registry.host}/{owner}/signers"
    keys = tmp_path / "keys"
    keys.mkdir()
    admin_cli, qa_cli = Docker(tmp_path / "a", "admin"), Docker(tmp_path / "q", "qa")
    for cli in (admin_cli, qa_cli):
        cli.login(served.registry.host, owner)
    admin_cli.run("trust", "key", "generate", "ci", "--dir", str(keys))
    admin_cli.run("trust", "signer", "add", "--key", str(keys / "ci.pub"), "ci", gun)
    signer = Notary(served, tmp_path, owner, PASSWORD)
    signer.trust_dir = admin_cli.config / "trust"
    signer.env["NOTARY_DELEGATION_PASSPHRASE"] = "repo-passphrase-1"
    digest = hashlib.sha256(b"the v1 manifest").hexdigest()
    signer.run(
        "addhash", "-p", gun, "v1", "1234", "--sha256", digest,
        "--roles", "targets/releases", "--roles", "targets/ci",
    )  # fmt: skip

    # a second signer: its key made elsewhere, loaded into the other CLI's trust directory
    qa_key, qa_pub = _key_pair(keys, "qa")
    loaded = qa_cli.run("trust", "key", "load", str(qa_key), "--name", "qa").stdout
    assert "Successfully imported key" in loaded, loaded
    admin_cli.run("trust", "signer", "add", "--key", str(qa_pub), "qa", gun)
    signed = qa_cli.run("trust", "sign", f"{gun}:v1").stdout
    assert "Successfully signed" in signed, signed
    [repo] = admin_cli.inspect(f"{gun}:v1")
    [tag] = repo["SignedTags"]
    assert tag["SignedTag"] == "v1" and tag["Digest"] == digest, tag
    assert {"ci", "qa"} <= set(tag["Signers"]), tag
    assert {s["Name"] for s in repo["Signers"]} == {"ci", "qa"}
    # a tag nobody signed yet: docker trust sign pushes the local image, which needs a daemon
    unsigned = qa_cli.run("trust", "sign", f"{gun}:v2", check=False)
    assert unsigned.returncode != 0 and "daemon" in unsigned.stderr, unsigned.stderr

    # revoke: v1 leaves every role the revoking CLI holds a key for (qa's and releases)
    revoked = qa_cli.run("trust", "revoke", "-y", f"{gun}:v1").stdout
    assert "Successfully deleted signature" in revoked, revoked
    # docker shows released tags (in targets/releases): v1 is no longer one; ci's own
    # signature in targets/ci is not the revoker's to take away
    [repo] = admin_cli.inspect(f"{gun}:v1")
    assert repo["SignedTags"] == [], repo
    reader = Notary(served, _home(tmp_path, "r"), served.world.reader, PASSWORD)
    for role in ("targets/qa", "targets/releases"):
        assert "v1" not in reader.run("list", gun, "--roles", role).stdout
    assert "v1" in reader.run("list", gun, "--roles", "targets/ci").stdout

    # qa signed the releases role last: removing qa asks first (answered yes)
    removed = admin_cli.run("trust", "signer", "remove", "qa", gun, stdin="y\n").stdout
    assert "Successfully removed qa" in removed, removed
    assert "targets/qa" not in reader.run("delegation", "list", gun).stdout
    with served.admin() as admin:
        targets = admin.get(f"/v2/{gun}/_trust/tuf/targets.json").json()["signed"]
    roles = {r["name"]: r["keyids"] for r in targets["delegations"]["roles"]}
    assert set(roles) == {"targets/ci", "targets/releases"}, roles
    assert roles["targets/releases"] == roles["targets/ci"]  # qa's key left releases too
