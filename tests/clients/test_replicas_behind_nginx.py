"""Three ``moorage serve`` replicas on one PostgreSQL and one store, behind deploy/nginx.conf as
shipped (TLS, every replica an upstream), with skopeo pushing and pulling through nginx: one
replica is killed with SIGKILL and the clients do not notice. ``cluster_status`` marks it down
within a few heartbeats, and ``moorage replica remove`` forgets it.

The multi-replica configuration is PostgreSQL's (DESIGN.md §6), so this runs on ``postgres``
only (tests/registry/test_multiprocess.py shows two processes sharing SQLite's file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def test_a_killed_replica_goes_unnoticed_by_clients(cluster: Cluster) -> None:
    _push(cluster, "before")
    victim = cluster.replicas[1]
    victim_id = cluster.replica_id(victim)
    victim.kill()  # SIGKILL to the whole process group, as a crash

    # Pushes and pulls through nginx keep working: nginx passes over the dead upstream.
    manifest = _pull_matches(cluster, "before")
    for _ in range(3):
        assert _pull_matches(cluster, "before") == manifest
    _push(cluster, "after")

    # The survivors mark it down within a few heartbeats; the others stay up.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = cluster.status()
        if status.get(victim_id, "").startswith("down"):
            break
        time.sleep(0.2)
    assert status[victim_id].startswith("down"), status
    for survivor in (cluster.replicas[0], cluster.replicas[2]):
        assert status[cluster.replica_id(survivor)] == "OK", status

    # The operator forgets it; a live one is refused without --force.
    db = ["--database", cluster.replicas[0].database_url]
    cli = [sys.executable, "-m", "moorage.cli.main", "replica"]
    env = {**os.environ, "MOORAGE_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    live = subprocess.run(
        [*cli, "remove", cluster.replica_id(cluster.replicas[0]), *db],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert live.returncode == 1 and "still sending heartbeats" in live.stderr, live
    removed = subprocess.run(
        [*cli, "remove", victim_id, *db],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert removed.returncode == 0, removed.stderr
    assert victim_id not in cluster.status()
