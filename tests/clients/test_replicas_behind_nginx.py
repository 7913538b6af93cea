"""Three ``moorage serve`` replicas on one PostgreSQL and one store, behind deploy/nginx.conf as
shipped (TLS, every replica an upstream), with skopeo and a pushing client going through nginx:
the replica that runs a job and holds a chunked upload is killed with SIGKILL in the middle of
the traffic, and the clients do not notice (issue 13's "must show"). ``cluster_status`` marks it
down within a few heartbeats, ``moorage replica remove`` forgets it, and restarted it rejoins.

The multi-replica configuration is PostgreSQL's (DESIGN.md §6), so this runs on ``postgres``
only (tests/registry/test_multiprocess.py shows two processes sharing SQLite's file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from moorage.config import Settings
from moorage.db import replica_heartbeats
from tests.clients.conftest import (
    ClientEnv,
    build_umoci_image,
    client_environment,
    requires,
)
from tests.conftest import ADMIN, RunningRegistry
from tests.jobs.helpers import all_jobs, submit, wait_status
from tests.registry.pushing import OCI_MANIFEST, patch_chunk, push_image, sha256, start_upload
from tests.services.nginx import NGINX, Nginx, running_nginx

HEARTBEAT = 0.5  # seconds; down after 3 missed beats

pytestmark = [
    pytest.mark.clients,
    requires("skopeo", "umoci"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed"),
]


@dataclass
class Cluster:
    replicas: list[RunningRegistry]
    nginx: Nginx
    cenv: ClientEnv
    certs: str
    killed: RunningRegistry | None = None

    def replica_id(self, replica: RunningRegistry) -> str:
        settings = Settings(data=replica.data, listen=replica.host)
        return replica_heartbeats.own_replica_id(settings)

    def status(self) -> dict[str, str]:
        with httpx.Client(verify=self.nginx.tls(), timeout=30, auth=ADMIN) as c:
            r = c.get(f"{self.nginx.url}/api/v0/meta/cluster_status")
            assert r.status_code == 200, r.text
            health: dict[str, str] = r.json()["replica_health"]
            return health


@pytest.fixture(scope="module")
def cluster(
    db_kind: str,
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    if db_kind != "postgres":
        pytest.skip("replicas share PostgreSQL (the full run's --db postgres)")
    data = tmp_path_factory.mktemp("shared")
    database = database_factory()
    env = {
        "MOORAGE_TRUSTED_PROXIES": "127.0.0.1/32",
        "MOORAGE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "MOORAGE_JOB_LEASE_SECONDS": "2",
        "MOORAGE_JOB_POLL_SECONDS": "0.2",
    }
    replicas = [registry_factory(data=data, database=database, env=env) for _ in range(3)]
    with running_nginx(tmp_path_factory.mktemp("nginx"), [r.port for r in replicas]) as nginx:
        public = RunningRegistry(data=data, database=None, port=nginx.port, scheme="https")
        cenv = client_environment(tmp_path_factory.mktemp("clients"), public)
        certs = cenv.root / "containers-certs.d" / nginx.host
        certs.mkdir(parents=True)
        shutil.copy(nginx.cert, certs / "ca.crt")
        yield Cluster(replicas, nginx, cenv, str(certs))


def _push(cluster: Cluster, name: str) -> None:
    layout = cluster.cenv.tmpdir(f"{name}-src") / "layout"
    image = build_umoci_image(cluster.cenv, layout, label=name)
    ref = f"docker://{cluster.nginx.host}/admin/{name}:v1"
    creds = f"--dest-creds={ADMIN[0]}:{ADMIN[1]}"
    cluster.cenv.skopeo(
        "copy", "--quiet", creds, "--dest-cert-dir", cluster.certs, image.oci_ref, ref
    )
    _pull_matches(cluster, name, image.manifest)


def _pull_matches(cluster: Cluster, name: str, manifest: bytes | None = None) -> bytes:
    out = cluster.cenv.tmpdir(f"{name}-pulled-{time.monotonic_ns()}")
    ref = f"docker://{cluster.nginx.host}/admin/{name}:v1"
    creds = f"--src-creds={ADMIN[0]}:{ADMIN[1]}"
    cluster.cenv.skopeo(
        "copy", "--quiet", creds, "--src-cert-dir", cluster.certs, ref, f"dir:{out}"
    )
    pulled = (out / "manifest.json").read_bytes()
    if manifest is not None:
        assert pulled == manifest
    return pulled


def test_every_replica_registers_and_reports_the_others(cluster: Cluster) -> None:
    ids = {cluster.replica_id(r) for r in cluster.replicas}
    assert len(ids) == 3
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = cluster.status()
        if ids <= set(status) and all(status[i] == "OK" for i in ids):
            break
        time.sleep(0.2)
    assert ids <= set(status) and all(status[i] == "OK" for i in ids), status


class Pusher(threading.Thread):
    """Pushes small images through nginx one after another until stopped, as a CI system
    would: a push that fails is retried (up to 5 times) from its start, and every push that got
    its 201 for the manifest is remembered with the bytes it pushed."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop = threading.Event()
        self.acknowledged: list[tuple[str, str, bytes, list[bytes]]] = []
        self.retried = 0
        self.failures: list[str] = []

    def run(self) -> None:
        n = 0
        with httpx.Client(
            base_url=self.cluster.nginx.url, verify=self.cluster.nginx.tls(), auth=ADMIN, timeout=30
        ) as c:
            while not self.stop.is_set() and n < 200:
                n += 1
                config, layer = f'{{"n": {n}}}'.encode(), os.urandom(64 * 1024)
                for attempt in range(5):
                    try:
                        digest, _ = push_image(c, "admin/ci", f"b{n}", config, [layer])
                    except (AssertionError, httpx.HTTPError) as exc:
                        self.retried += 1
                        last = f"b{n} attempt {attempt}: {exc!r}"[:300]
                        time.sleep(0.2)
                        continue
                    self.acknowledged.append((f"b{n}", digest, config, [layer]))
                    break
                else:
                    self.failures.append(last)


def _intact(c: httpx.Client, tag: str, digest: str, config: bytes, layers: list[bytes]) -> None:
    r = c.get(f"/v2/admin/ci/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == digest, (tag, r.text)
    for blob in (config, *layers):
        got = c.get(f"/v2/admin/ci/blobs/{sha256(blob)}")
        assert got.status_code == 200 and got.content == blob, (tag, got.status_code)


def _victim_of(cluster: Cluster, job: dict[str, object]) -> RunningRegistry:
    """The replica whose process group runs ``job`` (its workerID ends in the PID)."""
    group = os.getpgid(int(str(job["workerID"]).rsplit(":", 1)[1]))
    (victim,) = [r for r in cluster.replicas if r.proc is not None and r.proc.pid == group]
    return victim


def test_a_killed_replica_goes_unnoticed_by_clients(cluster: Cluster) -> None:
    """Mid-traffic SIGKILL of the replica that runs a job and holds a chunked upload: every
    acknowledged push stays intact, retries succeed through the others, the upload finishes on
    another replica, the job runs again elsewhere exactly once, and online GC keeps it all."""
    _push(cluster, "before")
    with httpx.Client(
        base_url=cluster.nginx.url, verify=cluster.nginx.tls(), auth=ADMIN, timeout=30
    ) as c:
        queued = submit(c, "sleep", parameters={"seconds": 3})
        running = wait_status(c, queued["id"], ("running",), timeout=30)
        victim = _victim_of(cluster, running)
        survivors = [r for r in cluster.replicas if r is not victim]
        cluster.killed = victim

        # A chunked upload begun on the victim itself.
        first, second = os.urandom(300_000), os.urandom(200_000)
        with victim.client() as direct:
            location = start_upload(direct, "admin/chunked")
            assert patch_chunk(direct, location, first, 0).status_code == 202

        pusher = Pusher(cluster)
        pusher.start()
        time.sleep(1.0)
        victim.kill()  # SIGKILL to the whole process group, as a crash
        time.sleep(2.0)
        pusher.stop.set()
        pusher.join(timeout=120)
        assert not pusher.is_alive() and not pusher.failures, pusher.failures
        assert len(pusher.acknowledged) >= 3

        # The upload goes on through nginx (another replica), from the offset the database holds.
        status = c.get(location)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{len(first) - 1}"
        r = patch_chunk(c, location, second, len(first))
        assert r.status_code == 202, r.text
        blob = first + second
        done = c.put(r.headers["Location"], params={"digest": sha256(blob)})
        assert done.status_code == 201, done.text
        assert c.get(f"/v2/admin/chunked/blobs/{sha256(blob)}").content == blob

        # The job it held: marked dead, run again on a survivor, once.
        dead = wait_status(c, queued["id"], ("worker_dead",), timeout=30)
        deadline = time.monotonic() + 40
        retries: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            retries = [j for j in all_jobs(c, action="sleep") if j["retryFromID"] == dead["id"]]
            if retries and retries[0]["status"] == "done":
                break
            time.sleep(0.2)
        assert len(retries) == 1 and retries[0]["status"] == "done", retries
        assert _victim_of(cluster, retries[0]) in survivors

        # Online GC on the survivors keeps every acknowledged image whole.
        gc = submit(c, "onlinegc")
        assert wait_status(c, gc["id"], ("done",), timeout=60)["status"] == "done"
        for tag, digest, config, layers in pusher.acknowledged:
            _intact(c, tag, digest, config, layers)
        _pull_matches(cluster, "before")

    # The survivors mark it down within a few heartbeats; the others stay up.
    victim_id = cluster.replica_id(victim)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = cluster.status()
        if health.get(victim_id, "").startswith("down"):
            break
        time.sleep(0.2)
    assert health[victim_id].startswith("down"), health
    for survivor in survivors:
        assert health[cluster.replica_id(survivor)] == "OK", health

    # A live replica is not removed without --force; the dead one is forgotten.
    db = ["--database", survivors[0].database_url]
    cli = [sys.executable, "-m", "moorage.cli.main", "replica"]
    env = {**os.environ, "MOORAGE_HEARTBEAT_SECONDS": str(HEARTBEAT)}

    def replica_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args, *db], capture_output=True, text=True, timeout=60, check=False, env=env
        )

    live = replica_cli("remove", cluster.replica_id(survivors[0]))
    assert live.returncode == 1 and "still sending heartbeats" in live.stderr, live
    removed = replica_cli("remove", victim_id)
    assert removed.returncode == 0, removed.stderr
    assert victim_id not in cluster.status()


def test_the_killed_replica_restarted_rejoins(cluster: Cluster) -> None:
    victim = cluster.killed
    assert victim is not None, "runs after the kill test"
    victim.start()
    victim_id = cluster.replica_id(victim)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if cluster.status().get(victim_id) == "OK":
            break
        time.sleep(0.2)
    assert cluster.status().get(victim_id) == "OK"
    with victim.client() as direct:  # it serves what the others took while it was gone
        assert "b1" in direct.get("/v2/admin/ci/tags/list").json()["tags"]
