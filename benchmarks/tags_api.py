"""How fast the DTR tags and events APIs answer with 100,000 tags in one repository (issue 4).

    /work/venv/bin/python benchmarks/tags_api.py [--tags 100000] [--rounds 20]

Starts ``moorage serve`` (embedded SQLite, temporary data folder, loopback port), creates a
repository and pushes ``--images`` real images (distinct configs and layers) through the API,
then adds the other tags straight into SQLite (each pointing at one of those images, in turn, so
a page of 50 tags names 50 different configs) with an event for each, and times: the first page
of tags, a page from the middle (``pageStart``), a page with ``includeManifests=true``, one tag,
the repository's events and the global events; then signs in to the web UI (login form, CSRF,
session cookie) and times the repository page (tags), a page of it from the middle, the image
page and the activity tab. Prints the median and the worst of each in ms.
Stops the server by its PID whatever happens. Not part of the test run.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import http.cookies
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ADMIN = ("bench", "bench-password-123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the caller reads the 303 (and its cookies) itself


_OPENER = urllib.request.build_opener(_NoRedirect)


def request(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str | None = None,
    *,
    cookie: str | None = None,
) -> tuple[int, bytes]:
    status, _, data = exchange(base, method, path, body, ctype, cookie=cookie)
    return status, data


def exchange(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    ctype: str | None = None,
    *,
    cookie: str | None = None,
) -> tuple[int, list[str], bytes]:
    """One request: Basic credentials, or (``cookie``) a browser's session instead."""
    req = urllib.request.Request(base + path, data=body, method=method)
    if cookie is None:
        token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    else:
        req.add_header("Cookie", cookie)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with _OPENER.open(req, timeout=60) as r:
            return r.status, r.headers.get_all("Set-Cookie") or [], r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_all("Set-Cookie") or [], exc.read()


def _cookies(headers: list[str]) -> dict[str, str]:
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    for header in headers:
        jar.load(header)
    return {k: v.value for k, v in jar.items()}


def sign_in(base: str) -> str:
    """The web UI's login form, as a browser fills it; returns the session's Cookie header."""
    status, headers, page = exchange(base, "GET", "/login", cookie="")
    assert status == 200, status
    login_cookie = _cookies(headers)["moorage_login_csrf"]
    found = re.search(rb'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    form = urllib.parse.urlencode(
        {"csrf": found.group(1).decode(), "username": ADMIN[0], "password": ADMIN[1], "next": "/"}
    ).encode()
    status, headers, _ = exchange(
        base,
        "POST",
        "/login",
        form,
        "application/x-www-form-urlencoded",
        cookie=f"moorage_login_csrf={login_cookie}",
    )
    assert status == 303, status
    return f"moorage_session={_cookies(headers)['moorage_session']}"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(base: str, repo: str, number: int) -> None:
    layer = os.urandom(4096)
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {"Labels": {"build": str(number)}},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
            "history": [{"created_by": f"COPY . /app # {number}"}],
        }
    ).encode()
    for blob in (layer, config):
        status, _ = request(base, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(blob)}", blob)
        assert status == 201, status
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    status, _ = request(
        base,
        "PUT",
        f"/v2/{repo}/manifests/tag-{number:07d}",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert status == 201, status


def seed(db_path: Path, repo: str, count: int, images: int) -> None:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        (repo_id,) = conn.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
        manifest_ids = [
            row[0]
            for row in conn.execute(
                "SELECT manifest_id FROM tags WHERE repository_id = ? ORDER BY name", (repo_id,)
            )
        ]
        now = dt.datetime.now(dt.UTC).isoformat(sep=" ")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO tags (repository_id, name, manifest_id, updated_at, pushed_by)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (repo_id, f"tag-{i:07d}", manifest_ids[i % len(manifest_ids)], now, ADMIN[0])
                for i in range(images, count)
            ),
        )
        conn.executemany(
            "INSERT INTO events (type, repository_id, repository, object_type, object_id, actor,"
            " published_at, details) VALUES ('TAG_PUSH', ?, ?, 'TAG', ?, ?, ?, '{}')",
            ((repo_id, repo, f"tag-{i:07d}", ADMIN[0], now) for i in range(images, count)),
        )
        conn.commit()
    finally:
        conn.close()


def timed(base: str, path: str, rounds: int, cookie: str | None = None) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        status, body = request(base, "GET", path, cookie=cookie)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (path, status, body[:300])
    return {
        "path": path,
        "as": "ui session" if cookie else "basic auth",
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--images", type=int, default=64, help="distinct images the tags name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moorage-tags-bench-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        env = {
            **os.environ,
            "MOORAGE_ADMIN_NAME": ADMIN[0],
            "MOORAGE_ADMIN_PASSWORD": ADMIN[1],
            "MOORAGE_LOG_LEVEL": "warning",
            "MOORAGE_WORKERS": "1",
        }
        cmd = [sys.executable, "-m", "moorage.cli.main", "serve"]
        cmd += ["--listen", f"127.0.0.1:{port}", "--data", str(data)]
        with open(Path(tmp) / "server.log", "wb") as log:
            proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        print(f"moorage pid {proc.pid}", file=sys.stderr)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if request(base, "GET", "/_ping")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("moorage did not start")
            ns, name = ADMIN[0], f"big-{uuid.uuid4().hex[:6]}"
            repo = f"{ns}/{name}"
            status, body = request(
                base,
                "POST",
                f"/api/v0/repositories/{ns}",
                json.dumps({"name": name, "visibility": "private"}).encode(),
                "application/json",
            )
            assert status == 201, (status, body)
            for number in range(args.images):
                push(base, repo, number)
            started = time.perf_counter()
            seed(data / "moorage.db", repo, args.tags, args.images)
            print(
                f"seeded {args.tags} tags in {time.perf_counter() - started:.1f}s", file=sys.stderr
            )
            api = f"/api/v0/repositories/{repo}"
            middle = f"tag-{args.tags // 2:07d}"
            results = [
                timed(base, f"{api}/tags?pageSize=100", args.rounds),
                timed(base, f"{api}/tags?pageSize=100&pageStart={middle}", args.rounds),
                timed(base, f"{api}/tags?pageSize=100&includeManifests=true", args.rounds),
                timed(base, f"{api}/tags/{middle}", args.rounds),
                timed(base, f"{api}/events?pageSize=100", args.rounds),
                timed(base, f"{api}/manifests?pageSize=100", args.rounds),
                timed(base, "/api/v0/events?pageSize=100", args.rounds),
            ]
            session = sign_in(base)
            ui = f"/repositories/{repo}"
            for path in (ui, f"{ui}?start={middle}", f"{ui}/tags/{middle}", f"{ui}/activity"):
                results.append(timed(base, path, args.rounds, session))
            summary = {"tags": args.tags, "images": args.images, "rounds": args.rounds}
            print(json.dumps({**summary, "results": results}, indent=2))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
