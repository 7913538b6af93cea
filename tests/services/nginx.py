"""deploy/nginx.conf run as shipped, for the tests that put Moorage behind a real nginx: the
file with this test's ports (one upstream line per replica), a self-signed certificate for
127.0.0.1 and files in the test's folder; nothing else changed. Stopped by its PID."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port
from tests.services.tls import self_signed

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"


@dataclass
class Nginx:
    port: int
    root: Path
    cert: Path
    proc: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""


UPSTREAM = "server 127.0.0.1:5000 max_fails=1 fail_timeout=10s;"


def nginx_config(root: Path, port: int, redirect_port: int, upstreams: list[int]) -> str:
    """deploy/nginx.conf with this test's ports (one upstream line per replica), certificate
    and files; nothing else changed."""
    cert, key = self_signed(root, "tls.crt", "tls.key")
    text = DEPLOY_CONF.read_text()
    swaps = {
        "user www-data;\n": "",
        "pid /run/nginx.pid;": f"pid {root}/nginx.pid;",
        "access_log /var/log/nginx/moorage-access.log;": f"access_log {root}/access.log;",
        "error_log /var/log/nginx/moorage-error.log;": f"error_log {root}/error.log info;",
        UPSTREAM: "\n        ".join(
            UPSTREAM.replace("127.0.0.1:5000", f"127.0.0.1:{p}") for p in upstreams
        ),
        "listen 80;": f"listen 127.0.0.1:{redirect_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/nginx/tls/registry.example.com.crt": str(cert),
        "/etc/nginx/tls/registry.example.com.key": str(key),
        # Temp files in the test's folder (nginx's compiled-in ones are under /var/lib/nginx).
        "    server_tokens off;\n": "    server_tokens off;\n"
        + "".join(
            f"    {kind}_temp_path {root}/{kind}_temp;\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    }
    for old, new in swaps.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@contextlib.contextmanager
def running_nginx(root: Path, upstreams: list[int]) -> Iterator[Nginx]:
    root.mkdir(parents=True, exist_ok=True)
    port, redirect_port = free_port(), free_port()
    conf = root / "nginx.conf"
    conf.write_text(nginx_config(root, port, redirect_port, upstreams))
    argv = [NGINX, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [*argv, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Nginx(port=port, root=root, cert=root / "tls.crt", proc=proc)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, f"nginx exited: {server.error_log()[-3000:]}"
            try:
                with httpx.Client(verify=server.tls(), timeout=2) as probe:
                    if probe.get(f"{server.url}/_ping").status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"nginx did not answer: {server.error_log()}"
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()  # SIGTERM: fast shutdown of the master and its workers
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
