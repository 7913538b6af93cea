"""How fast the DTR tags and events APIs answer with 100,000 tags in one repository (issue 4).

    /work/venv/bin/python benchmarks/tags_api.py [--tags 100000] [--rounds 20]

Starts ``moorage serve`` (embedded SQLite, temporary data folder, loopback port), creates a
repository and pushes one real image through the API, then adds the other tags straight into
SQLite (pointing at that image) with an event for each, and times: the first page of tags,
a page from the middle (``pageStart``), a page with ``includeManifests=true``, one tag, the
repository's events and the global events. Prints the median and the worst of each in ms.
Stops the server by its PID whatever happens. Not part of the test run.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ADMIN = ("bench", "bench-password-123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    base: str, method: str, path: str, body: bytes | None = None, ctype: str | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(base + path, data=body, method=method)
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(base: str, repo: str) -> None:
    layer = os.urandom(4096)
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
            "history": [{"created_by": "COPY . /app"}],
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
        f"/v2/{repo}/manifests/tag-0000000",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert status == 201, status


def seed(db_path: Path, repo: str, count: int) -> None:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        (repo_id,) = conn.execute("SELECT id FROM repositories WHERE name = ?", (repo,)).fetchone()
        (manifest_id,) = conn.execute(
            "SELECT manifest_id FROM tags WHERE repository_id = ?", (repo_id,)
        ).fetchone()
        now = dt.datetime.now(dt.UTC).isoformat(sep=" ")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO tags (repository_id, name, manifest_id, updated_at, pushed_by)"
            " VALUES (?, ?, ?, ?, ?)",
            ((repo_id, f"tag-{i:07d}", manifest_id, now, ADMIN[0]) for i in range(1, count)),
        )
        conn.executemany(
            "INSERT INTO events (type, repository_id, repository, object_type, object_id, actor,"
            " published_at, details) VALUES ('TAG_PUSH', ?, ?, 'TAG', ?, ?, ?, '{}')",
            ((repo_id, repo, f"tag-{i:07d}", ADMIN[0], now) for i in range(1, count)),
        )
        conn.commit()
    finally:
        conn.close()


def timed(base: str, path: str, rounds: int) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        status, body = request(base, "GET", path)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (path, status, body[:300])
    return {
        "path": path,
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
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
            push(base, repo)
            started = time.perf_counter()
            seed(data / "moorage.db", repo, args.tags)
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
            print(
                json.dumps({"tags": args.tags, "rounds": args.rounds, "results": results}, indent=2)
            )
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
