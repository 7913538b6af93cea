"""Moorage behind a real nginx terminating TLS (deploy/nginx.conf, run as it is shipped).

nginx listens with a self-signed certificate on 127.0.0.1 and proxies plain HTTP to a
``moorage serve`` that trusts 127.0.0.1 as a proxy. The docker CLI (a client only, no daemon)
and skopeo sign in through it (skopeo verifying the certificate from a ``certs.d`` directory), and
skopeo pushes an image with a layer larger than nginx's default body limit and pulls it back.
Without forwarded-header support the token realm says ``http://`` on the TLS port and every
login fails with 400.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import (
    DEFAULT_TIMEOUT,
    ClientEnv,
    OciImage,
    client_environment,
    read_oci_layout,
    requires,
)
from tests.conftest import ADMIN, RunningRegistry
from tests.services.nginx import NGINX, Nginx, running_nginx

BIG_LAYER = 3 * 1024 * 1024  # above nginx's default client_max_body_size (1 MiB)

pytestmark = [
    pytest.mark.clients,
    requires("skopeo", "umoci"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed"),
]


@pytest.fixture(scope="module")
def upstream(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(env={"MOORAGE_TRUSTED_PROXIES": "127.0.0.1/32"})


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, upstream: RunningRegistry) -> Iterator[Nginx]:
    with running_nginx(tmp_path_factory.mktemp("nginx"), [upstream.port]) as server:
        yield server


@pytest.fixture(scope="module")
def cenv(
    tmp_path_factory: pytest.TempPathFactory, upstream: RunningRegistry, nginx: Nginx
) -> ClientEnv:
    """Client environment for nginx's address. It is not marked insecure: clients verify TLS
    with the certificate in a ``certs.d`` directory, as the README tells users to."""
    public = RunningRegistry(data=upstream.data, database=None, port=nginx.port, scheme="https")
    env = client_environment(tmp_path_factory.mktemp("clients"), public)
    (env.conf / "registries.conf").write_text(
        'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
    )
    (env.root / "auth.json").write_text('{"auths": {}}')
    # containers tools: /etc/containers/certs.d/HOST:PORT/ca.crt, here passed with --cert-dir.
    certs = env.root / "containers-certs.d" / nginx.host
    certs.mkdir(parents=True)
    shutil.copy(nginx.cert, certs / "ca.crt")
    return env


def cert_dir(cenv: ClientEnv, nginx: Nginx) -> str:
    return str(cenv.root / "containers-certs.d" / nginx.host)


@pytest.fixture(scope="module")
def account(upstream: RunningRegistry) -> tuple[str, str]:
    """A user who owns the namespace the test pushes to (their own)."""
    name, password = f"nginx{secrets.token_hex(3)}", "proxy-test-password"
    with upstream.client() as admin:
        r = admin.post("/enzi/v0/accounts", json={"name": name, "password": password})
        assert r.status_code < 300, r.text
    return name, password


def big_image(cenv: ClientEnv, layout: Path) -> OciImage:
    """One layer of incompressible random bytes, larger than nginx's default body limit."""
    image = f"{layout}:v1"
    bundle = layout.parent / "bundle"
    cenv.umoci("init", "--layout", str(layout))
    cenv.umoci("new", "--image", image)
    cenv.umoci("unpack", "--rootless", "--image", image, str(bundle))
    (bundle / "rootfs" / "data.bin").write_bytes(secrets.token_bytes(BIG_LAYER))
    cenv.umoci("repack", "--image", image, str(bundle))
    cenv.umoci("config", "--image", image, "--config.cmd", "/data.bin")
    cenv.umoci("gc", "--layout", str(layout))
    shutil.rmtree(bundle)
    return read_oci_layout(layout, "v1")


def test_token_realm_and_forwarded_headers_through_nginx(nginx: Nginx) -> None:
    with httpx.Client(verify=nginx.tls(), timeout=30) as c:
        r = c.get(f"{nginx.url}/v2/")
        assert r.status_code == 401
        assert f'realm="https://{nginx.host}/auth/token"' in r.headers["www-authenticate"]
        r = c.get(f"{nginx.url}/v2/", auth=ADMIN)
        assert r.status_code == 200, r.text
        # A client's own forwarded headers do not get through: nginx overwrites X-Forwarded-*
        # (appending to X-Forwarded-For) and clears Forwarded.
        spoof = {
            "Forwarded": "for=198.51.100.1;proto=http;host=evil.example",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-For": "198.51.100.2",
        }
        r = c.get(f"{nginx.url}/v2/", headers=spoof)
        assert f'realm="https://{nginx.host}/auth/token"' in r.headers["www-authenticate"]
    # Plain HTTP on nginx's port is refused by nginx; that is what clients hit before the fix.
    with httpx.Client(timeout=30) as plain:
        assert plain.get(f"http://{nginx.host}/auth/token").status_code == 400


def test_skopeo_login_push_and_pull_through_nginx(
    cenv: ClientEnv, nginx: Nginx, account: tuple[str, str]
) -> None:
    user, password = account
    certs = cert_dir(cenv, nginx)
    auth = cenv.tmpdir("skopeo-login") / "auth.json"
    auth.write_text("{}")
    proc = cenv.skopeo(
        "login", "--cert-dir", certs, "--authfile", str(auth), "-u", user, "-p", password,
        nginx.host,
    )  # fmt: skip
    assert "Login Succeeded" in proc.stdout
    # Without the certificate, TLS verification fails: the test really checks TLS.
    proc = cenv.skopeo(
        "login", "--authfile", str(auth), "-u", user, "-p", password, nginx.host, check=False
    )
    assert proc.returncode != 0 and "certificate" in proc.stderr.lower(), proc.stderr

    image = big_image(cenv, cenv.tmpdir("big") / "layout")
    ref = f"docker://{nginx.host}/{user}/big:v1"
    af = ("--authfile", str(auth))
    cenv.skopeo("copy", "--quiet", *af, "--dest-cert-dir", certs, image.oci_ref, ref)
    out = cenv.tmpdir("pulled")
    cenv.skopeo("copy", "--quiet", *af, "--src-cert-dir", certs, ref, f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == image.manifest
    layer = image.layer_digests[0]
    pulled = (out / layer.removeprefix("sha256:")).read_bytes()
    assert pulled == image.blobs[layer] and len(pulled) > BIG_LAYER


@requires("docker")
def test_docker_login_through_nginx(
    cenv: ClientEnv, nginx: Nginx, account: tuple[str, str]
) -> None:
    """The docker CLI's own (client-side) login, as without a daemon. It treats 127.0.0.0/8 as
    an insecure registry (TLS without verification, then plain HTTP), so on loopback it cannot
    show certificate trust (skopeo's test does); it shows the token flow over TLS: before
    forwarded headers were honoured, the realm said http:// and nginx answered 400."""
    user, password = account
    config = cenv.tmpdir("docker")
    (config / "config.json").write_text('{"auths": {}}')
    proc = subprocess.run(
        ["docker", "login", nginx.host, "-u", user, "--password-stdin"],
        env={**cenv.env, "DOCKER_CONFIG": str(config)},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Login Succeeded" in proc.stdout
    stored = json.loads((config / "config.json").read_text())["auths"][nginx.host]
    assert stored.get("identitytoken")  # a refresh token from /auth/token, through nginx
    assert password not in base64.b64decode(stored.get("auth", "")).decode()
