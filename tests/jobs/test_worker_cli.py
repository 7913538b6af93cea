"""``moorage worker`` runs only jobs: beside a ``moorage serve`` with no job workers, it takes the
jobs queued through the API, registers its heartbeat as a replica, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from moorage.config import Settings
from moorage.db import replica_heartbeats
from tests.conftest import ADMIN, RunningRegistry
from tests.jobs.helpers import submit, wait_status


def test_worker_subcommand_runs_the_jobs(
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
) -> None:
    env = {"MOORAGE_JOB_WORKERS": "0", "MOORAGE_JOB_POLL_SECONDS": "0.2", "MOORAGE_WORKERS": "1"}
    server = registry_factory(env=env)
    cmd = [sys.executable, "-m", "moorage.cli.main", "worker", "--data", str(server.data)]
    if server.database:
        cmd += ["--database", server.database]
    log_path = server.data.parent / f"{server.data.name}-worker.log"
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "MOORAGE_ADMIN_PASSWORD": ADMIN[1],
                "MOORAGE_JOB_POLL_SECONDS": "0.2",
                "MOORAGE_JOB_WORKERS": "2",
            },
        )
    try:
        with server.client() as c:
            queued = submit(c, "sleep", parameters={"seconds": 0.1})
            done = wait_status(c, queued["id"], ("done",), timeout=30)
            assert done["workerID"].endswith(f":{worker.pid}"), done
            workers = {w["id"]: w for w in c.get("/api/v0/workers").json()["workers"]}
            # Two jobs at once of every action (DTR's capacityMap, per action).
            assert workers[done["workerID"]]["capacityMap"]["sleep"] == 2
            # It registers as a replica of its own kind, beside the serve of the same folder.
            status = c.get("/api/v0/meta/cluster_status").json()["replica_health"]
            worker_id = replica_heartbeats.own_replica_id(Settings(data=server.data), "worker")
            assert status.get(worker_id) == "OK" and len(status) == 2, status
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0, log_path.read_text()[-2000:]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                workers = {w["id"]: w for w in c.get("/api/v0/workers").json()["workers"]}
                if workers[done["workerID"]]["status"] == "stopped":
                    break
                time.sleep(0.1)
            assert workers[done["workerID"]]["status"] == "stopped"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
