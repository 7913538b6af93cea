"""Logins and DTR's permission matrix through real clients: skopeo, podman and the docker CLI.

The world (tests/auth/world.py): dave is in the organization's read-write team, carol in its
read-only team, bob in no team; the org has a private and a public repository. Each client signs
in with its own credentials (``--authfile`` / ``--creds`` / a per-test ``DOCKER_CONFIG``), never
with the module's pre-filled administrator auth file, and drives the registry's token flow:
GET /auth/token with Basic credentials (skopeo, podman, docker login), and the OAuth2
``refresh_token`` POST the docker CLI (and containers/image reading its config.json) sends after
``docker login`` stored an ``identitytoken``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.auth.world import PASSWORD, World
from tests.clients.conftest import (
    DEFAULT_TIMEOUT,
    ClientEnv,
    OciImage,
    build_umoci_image,
    missing,
    requires,
)
from tests.conftest import RunningRegistry

pytestmark = [pytest.mark.one_database, pytest.mark.clients, requires("skopeo", "umoci")]

TAG = "v1"


@pytest.fixture(scope="module")
def world(registry: RunningRegistry) -> Iterator[World]:
    with registry.client(auth=None) as c:
        yield World(c, registry.admin).build()


@pytest.fixture(scope="module")
def image(cenv: ClientEnv, world: World) -> OciImage:
    """One umoci image, pushed as the administrator (module auth.json) to both org repos."""
    img = build_umoci_image(cenv, cenv.root / "login-img", TAG)
    for vis in ("private", "public"):
        cenv.skopeo("copy", "--quiet", img.oci_ref, cenv.ref(f"{world.org}/{vis}-repo:{TAG}"))
    return img


def private(world: World, tag: str = TAG) -> str:
    return f"{world.org}/private-repo:{tag}"


def public(world: World, tag: str = TAG) -> str:
    return f"{world.org}/public-repo:{tag}"


def creds(world: World, role: str, secret: str = PASSWORD) -> str:
    return f"{world.name(role)}:{secret}"


def refused(proc: subprocess.CompletedProcess[str]) -> bool:
    """A client gave up because the registry said no (not because of a crash or a typo)."""
    text = proc.stderr.lower()
    return proc.returncode != 0 and ("denied" in text or "unauthorized" in text)


def authfile(cenv: ClientEnv, name: str) -> Path:
    """A fresh, empty containers auth file (not the module's administrator one)."""
    path = cenv.tmpdir(name) / "auth.json"
    path.write_text("{}")
    return path


def tag_exists(cenv: ClientEnv, repo_tag: str) -> bool:
    repo, _, tag = repo_tag.rpartition(":")
    with cenv.http() as http:
        return http.head(f"/v2/{repo}/manifests/{tag}").status_code == 200


def pulled_manifest(cenv: ClientEnv, name: str, ref: str, *auth: str) -> bytes:
    """``skopeo copy`` the image to a ``dir:``; its manifest bytes."""
    out = cenv.tmpdir(name)
    cenv.skopeo("copy", "--quiet", *auth, cenv.ref(ref), f"dir:{out}")
    return (out / "manifest.json").read_bytes()


# ---- docker CLI (client only; no daemon) ---------------------------------------------------


def docker(
    cenv: ClientEnv, config: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        env={**cenv.env, "DOCKER_CONFIG": str(config)},
        cwd=cenv.root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT,
        check=False,
    )


def docker_config(cenv: ClientEnv, name: str) -> Path:
    path = cenv.tmpdir(name)
    (path / "config.json").write_text('{"auths": {}}')
    return path


def docker_login(
    cenv: ClientEnv, config: Path, user: str, secret: str
) -> subprocess.CompletedProcess[str]:
    return docker(
        cenv, config, "login", cenv.host, "-u", user, "--password-stdin", stdin=secret + "\n"
    )


def docker_auth(config: Path, host: str) -> dict[str, Any]:
    auths: dict[str, dict[str, Any]] = json.loads((config / "config.json").read_text())["auths"]
    return auths.get(host, {})


def manifest_inspect(cenv: ClientEnv, config: Path, ref: str) -> subprocess.CompletedProcess[str]:
    return docker(cenv, config, "manifest", "inspect", "--insecure", f"{cenv.host}/{ref}")


# ---- the registry's log ------------------------------------------------------------------


class LogTail:
    """The JSON log lines the registry writes after this point."""

    def __init__(self, registry: RunningRegistry) -> None:
        self.path = registry.log_path
        self.offset = self.path.stat().st_size

    def lines(self, logger: str) -> list[dict[str, Any]]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        out = []
        for raw in data.splitlines():
            if raw.startswith(b"{"):
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("logger") == logger:
                    out.append(line)
        return out

    def wait_for(self, logger: str, match: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Lines of ``logger`` once one satisfies ``match`` (lines follow the response)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines(logger)
            if any(match(line) for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


# ---- skopeo --------------------------------------------------------------------------------


def test_skopeo_login_own_authfile_and_wrong_password(cenv: ClientEnv, world: World) -> None:
    auth = authfile(cenv, "skopeo-login-dave")
    user = world.name("dave")
    proc = cenv.skopeo("login", "--authfile", str(auth), "-u", user, "-p", PASSWORD, cenv.host)
    assert "Login Succeeded" in proc.stdout
    stored = json.loads(auth.read_text())["auths"][cenv.host]["auth"]
    assert base64.b64decode(stored).decode() == f"{user}:{PASSWORD}"

    bad = authfile(cenv, "skopeo-login-bad")
    args = ("login", "--authfile", str(bad), "-u", user, "-p", "not-the-password", cenv.host)
    proc = cenv.skopeo(*args, check=False)
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr
    assert cenv.host not in json.loads(bad.read_text()).get("auths", {})

    cenv.skopeo("logout", "--authfile", str(auth), cenv.host)
    assert cenv.host not in json.loads(auth.read_text()).get("auths", {})


def test_skopeo_read_write_team_pushes_and_pulls(
    cenv: ClientEnv, world: World, image: OciImage
) -> None:
    # Signed in with `skopeo login` into dave's own auth file.
    auth = authfile(cenv, "skopeo-rw")
    login = ("login", "--authfile", str(auth), "-u", world.name("dave"), "-p", PASSWORD)
    cenv.skopeo(*login, cenv.host)
    dest = private(world, "skopeo-dave")
    cenv.skopeo("copy", "--quiet", "--authfile", str(auth), image.oci_ref, cenv.ref(dest))
    assert tag_exists(cenv, dest)
    assert pulled_manifest(cenv, "skopeo-rw-pull", dest, "--authfile", str(auth)) == image.manifest

    # The same with --dest-creds / --src-creds / --creds.
    dest = private(world, "skopeo-dave-creds")
    cenv.skopeo(
        "copy", "--quiet", "--dest-creds", creds(world, "dave"), image.oci_ref, cenv.ref(dest)
    )
    assert tag_exists(cenv, dest)
    src_creds = ("--src-creds", creds(world, "dave"))
    assert pulled_manifest(cenv, "skopeo-rw-creds", dest, *src_creds) == image.manifest
    raw = cenv.skopeo("inspect", "--raw", "--creds", creds(world, "dave"), cenv.ref(dest)).stdout
    assert raw.encode() == image.manifest


def test_skopeo_read_only_team_pulls_but_cannot_push(
    cenv: ClientEnv, world: World, image: OciImage
) -> None:
    src_creds = ("--src-creds", creds(world, "carol"))
    assert pulled_manifest(cenv, "skopeo-ro-pull", private(world), *src_creds) == image.manifest

    dest = private(world, "skopeo-carol")
    proc = cenv.skopeo(
        "copy",
        "--quiet",
        "--dest-creds",
        creds(world, "carol"),
        image.oci_ref,
        cenv.ref(dest),
        check=False,
    )
    assert refused(proc), proc.stderr
    assert not tag_exists(cenv, dest)

    # `skopeo login` + --authfile: the same refusal.
    auth = authfile(cenv, "skopeo-ro")
    cenv.skopeo(
        "login", "--authfile", str(auth), "-u", world.name("carol"), "-p", PASSWORD, cenv.host
    )
    proc = cenv.skopeo(
        "copy", "--quiet", "--authfile", str(auth), image.oci_ref, cenv.ref(dest), check=False
    )
    assert refused(proc), proc.stderr
    assert not tag_exists(cenv, dest)


def test_skopeo_outsider_and_anonymous_pull_public_only(
    cenv: ClientEnv, world: World, image: OciImage
) -> None:
    bob = ("--creds", creds(world, "bob"))
    proc = cenv.skopeo("inspect", "--raw", *bob, cenv.ref(private(world)), check=False)
    assert refused(proc), proc.stderr
    assert cenv.skopeo("inspect", "--raw", *bob, cenv.ref(public(world))).stdout.encode() == (
        image.manifest
    )
    src_bob = ("--src-creds", creds(world, "bob"))
    assert pulled_manifest(cenv, "skopeo-bob-public", public(world), *src_bob) == image.manifest
    # Public is pull-only for him.
    dest = public(world, "skopeo-bob")
    proc = cenv.skopeo(
        "copy", "--quiet", "--dest-creds", creds(world, "bob"), image.oci_ref, cenv.ref(dest),
        check=False,
    )  # fmt: skip
    assert refused(proc), proc.stderr
    assert not tag_exists(cenv, dest)

    # Anonymous.
    anon = cenv.skopeo("inspect", "--raw", "--no-creds", cenv.ref(public(world)))
    assert anon.stdout.encode() == image.manifest
    assert pulled_manifest(cenv, "skopeo-anon", public(world), "--src-no-creds") == image.manifest
    proc = cenv.skopeo("inspect", "--raw", "--no-creds", cenv.ref(private(world)), check=False)
    assert refused(proc), proc.stderr
    out = cenv.tmpdir("skopeo-anon-private")
    proc = cenv.skopeo(
        "copy", "--src-no-creds", cenv.ref(private(world)), f"dir:{out}", check=False
    )
    assert refused(proc), proc.stderr


# ---- podman --------------------------------------------------------------------------------


@requires("podman")
def test_podman_login_logout_and_creds(cenv: ClientEnv, world: World, image: OciImage) -> None:
    auth = authfile(cenv, "podman-login")
    af = ("--authfile", str(auth))
    user = world.name("dave")
    proc = cenv.podman("login", *af, "-u", user, "-p", PASSWORD, cenv.host)
    assert "Login Succeeded" in proc.stdout
    assert cenv.podman("login", *af, "--get-login", cenv.host).stdout.strip() == user

    local = f"{cenv.host}/{private(world)}"
    cenv.podman("pull", "-q", *af, local)
    dest = private(world, "podman-dave")
    cenv.podman("push", "-q", *af, local, cenv.ref(dest))
    assert tag_exists(cenv, dest)

    cenv.podman("logout", *af, cenv.host)
    assert json.loads(auth.read_text()).get("auths", {}) == {}
    # Signed out: anonymous, so no push (and no pull of the private repo).
    dest = private(world, "podman-after-logout")
    assert refused(cenv.podman("push", "-q", *af, local, cenv.ref(dest), check=False))
    assert not tag_exists(cenv, dest)
    proc = cenv.podman("pull", "-q", *af, f"{cenv.host}/{private(world)}", check=False)
    assert refused(proc), proc.stderr

    # --creds: read-write pushes, read-only is refused.
    dest = private(world, "podman-creds-dave")
    cenv.podman("push", "-q", "--creds", creds(world, "dave"), local, cenv.ref(dest))
    assert tag_exists(cenv, dest)
    dest = private(world, "podman-creds-carol")
    proc = cenv.podman(
        "push", "-q", "--creds", creds(world, "carol"), local, cenv.ref(dest), check=False
    )
    assert refused(proc), proc.stderr
    assert not tag_exists(cenv, dest)

    bad = authfile(cenv, "podman-login-bad")
    proc = cenv.podman(
        "login", "--authfile", str(bad), "-u", user, "-p", "not-the-password", cenv.host,
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr


# ---- docker CLI ----------------------------------------------------------------------------


@requires("docker")
def test_docker_login_and_manifest_inspect(
    cenv: ClientEnv, world: World, image: OciImage, registry: RunningRegistry
) -> None:
    dave = docker_config(cenv, "docker-dave")
    user = world.name("dave")
    tail = LogTail(registry)
    proc = docker_login(cenv, dave, user, PASSWORD)
    assert proc.returncode == 0, proc.stderr
    assert "Login Succeeded" in proc.stdout
    stored = docker_auth(dave, cenv.host)
    # The registry returned a refresh token: docker keeps it, not the password.
    assert stored.get("identitytoken")
    assert PASSWORD not in base64.b64decode(stored.get("auth", "")).decode()

    def is_login(line: dict[str, Any]) -> bool:
        return bool(line["method"] == "GET" and line["path"].startswith("/auth/token?"))

    logins = [line for line in tail.wait_for("moorage.access", is_login) if is_login(line)]
    assert logins and logins[-1]["status"] == 200
    assert f"account={user}" in logins[-1]["path"] and "offline_token=" in logins[-1]["path"]

    bad = docker_config(cenv, "docker-bad")
    tail = LogTail(registry)
    proc = docker_login(cenv, bad, user, "not-the-password")
    assert proc.returncode != 0
    assert "invalid username or password" in proc.stderr
    assert docker_auth(bad, cenv.host) == {}

    def is_refused_login(line: dict[str, Any]) -> bool:
        return is_login(line) and bool(line["status"] == 401)

    # An access line follows its response: wait for the refused login's, so that it is not
    # among the lines of what comes next.
    assert any(map(is_refused_login, tail.wait_for("moorage.access", is_refused_login)))

    # Later calls trade the identitytoken for access tokens: POST /auth/token, refresh grant.
    tail = LogTail(registry)
    proc = manifest_inspect(cenv, dave, private(world))
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["config"]["digest"] == image.config_digest
    assert [layer["digest"] for layer in shown["layers"]] == image.layer_digests
    issued = tail.wait_for("moorage.token", lambda line: line.get("via") == "refresh-token")
    assert any(
        line.get("account") == user
        and line.get("via") == "refresh-token"
        and f"repository:{world.org}/private-repo:pull" in line.get("scopes", [])
        for line in issued
    ), issued
    manifest_path = f"/v2/{world.org}/private-repo/manifests/{TAG}"
    access = tail.wait_for("moorage.access", lambda line: line["path"] == manifest_path)
    token_calls = [line for line in access if line["path"].startswith("/auth/token")]
    assert token_calls and all(line["method"] == "POST" for line in token_calls), token_calls
    assert all(line["status"] == 200 for line in token_calls)
    assert any(line["path"] == manifest_path and line["status"] == 200 for line in access)

    # containers/image reads the same config.json and uses the identitytoken too.
    raw = cenv.skopeo(
        "inspect", "--raw", "--authfile", str(dave / "config.json"), cenv.ref(private(world))
    ).stdout
    assert raw.encode() == image.manifest

    # bob: signed in, but the private repository is not his to read; the public one is.
    bob = docker_config(cenv, "docker-bob")
    assert docker_login(cenv, bob, world.name("bob"), PASSWORD).returncode == 0
    proc = manifest_inspect(cenv, bob, private(world))
    assert refused(proc), proc.stderr
    proc = manifest_inspect(cenv, bob, public(world))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["config"]["digest"] == image.config_digest


# ---- access tokens -------------------------------------------------------------------------


def test_access_token_is_a_password_until_revoked(
    cenv: ClientEnv, world: World, image: OciImage, registry: RunningRegistry
) -> None:
    user = world.name("dave")
    with registry.client(auth=(user, PASSWORD)) as api:
        r = api.post("/api/v0/api_tokens", json={"tokenLabel": "clients"})
        assert r.status_code == 200, r.text
        secret, hashed = r.json()["token"], r.json()["hashedToken"]
    token_creds = f"{user}:{secret}"

    # skopeo: login, --creds, push and pull.
    auth = authfile(cenv, "token-skopeo")
    cenv.skopeo("login", "--authfile", str(auth), "-u", user, "-p", secret, cenv.host)
    dest = private(world, "token-push")
    cenv.skopeo("copy", "--quiet", "--authfile", str(auth), image.oci_ref, cenv.ref(dest))
    assert tag_exists(cenv, dest)
    raw = cenv.skopeo("inspect", "--raw", "--creds", token_creds, cenv.ref(dest)).stdout
    assert raw.encode() == image.manifest

    # docker CLI: login with the token as the password.
    has_docker = not missing("docker")
    config = docker_config(cenv, "token-docker")
    if has_docker:
        proc = docker_login(cenv, config, user, secret)
        assert proc.returncode == 0, proc.stderr
        # No refresh token for an access-token login (it would outlive the revocation):
        # docker keeps the access token itself.
        stored = docker_auth(config, cenv.host)
        assert "identitytoken" not in stored
        assert base64.b64decode(stored["auth"]).decode() == token_creds
        assert manifest_inspect(cenv, config, private(world)).returncode == 0

    with registry.client(auth=(user, PASSWORD)) as api:
        assert api.delete(f"/api/v0/api_tokens/{hashed}").status_code == 200

    proc = cenv.skopeo("inspect", "--raw", "--creds", token_creds, cenv.ref(dest), check=False)
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr
    proc = cenv.skopeo("inspect", "--raw", "--authfile", str(auth), cenv.ref(dest), check=False)
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr
    proc = cenv.skopeo(
        "login", "--authfile", str(authfile(cenv, "token-skopeo-again")), "-u", user,
        "-p", secret, cenv.host, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr

    if has_docker:
        # Neither the earlier login's stored state nor a new login gets in.
        proc = manifest_inspect(cenv, config, private(world))
        assert proc.returncode != 0, proc.stdout
        proc = docker_login(cenv, docker_config(cenv, "token-docker-again"), user, secret)
        assert proc.returncode != 0
        assert "invalid username or password" in proc.stderr


# ---- deactivated accounts ------------------------------------------------------------------


@requires("docker")
def test_deactivated_user_cannot_pull_even_with_a_refresh_token(
    cenv: ClientEnv, world: World, image: OciImage, registry: RunningRegistry
) -> None:
    user = world.name("gina")
    with registry.client() as admin:
        r = admin.post("/enzi/v0/accounts", json={"name": user, "password": PASSWORD})
        assert r.status_code < 300, r.text
        r = admin.put(f"/enzi/v0/accounts/{world.org}/teams/rw/members/{user}")
        assert r.status_code < 300, r.text

    config = docker_config(cenv, "deactivated-docker")
    proc = docker_login(cenv, config, user, PASSWORD)
    assert proc.returncode == 0, proc.stderr
    refresh = docker_auth(config, cenv.host).get("identitytoken")
    assert refresh
    assert manifest_inspect(cenv, config, private(world)).returncode == 0
    gina = ("--creds", f"{user}:{PASSWORD}")
    cenv.skopeo("inspect", "--raw", *gina, cenv.ref(private(world)))

    with registry.client() as admin:
        r = admin.patch(f"/enzi/v0/accounts/{user}", json={"isActive": False})
        assert r.status_code == 200, r.text
        assert r.json()["isActive"] is False

    proc = manifest_inspect(cenv, config, private(world))
    assert proc.returncode != 0, proc.stdout
    assert "config" not in proc.stdout
    proc = cenv.skopeo("inspect", "--raw", *gina, cenv.ref(private(world)), check=False)
    assert proc.returncode != 0
    assert "invalid username/password" in proc.stderr
    # containers/image with docker's config.json (the refresh token) is refused as well.
    docker_json = ("--authfile", str(config / "config.json"))
    proc = cenv.skopeo("inspect", "--raw", *docker_json, cenv.ref(private(world)), check=False)
    assert proc.returncode != 0
    # Even the public repository: the refresh token no longer names anyone.
    proc = manifest_inspect(cenv, config, public(world))
    assert proc.returncode != 0, proc.stdout
    # And the token service says so directly.
    with registry.client(auth=None) as http:
        r = http.post(
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "service": "moorage",
                "client_id": "registry-client",
                "scope": f"repository:{world.org}/private-repo:pull",
            },
        )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_grant"
    assert docker_login(cenv, docker_config(cenv, "deactivated-again"), user, PASSWORD).returncode
