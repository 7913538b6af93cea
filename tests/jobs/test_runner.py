"""The job runner with two ``moorage serve`` processes on one database (DESIGN.md §6): each job
is claimed exactly once, a worker killed mid-job has its job re-run by the other replica
(``worker_dead``), schedules fire, cancellation stops a running job; DTR's API shapes."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.conftest import RunningRegistry
from tests.jobs.helpers import all_jobs, job, logs, submit, wait_status

# Quick polls; a lease long enough that a process starved of CPU on a busy test machine keeps
# its jobs (the kill test uses a short one, so a dead worker is noticed within seconds).
JOB_ENV = {
    "MOORAGE_JOB_LEASE_SECONDS": "10",
    "MOORAGE_JOB_POLL_SECONDS": "0.2",
    "MOORAGE_WORKERS": "2",
}
SHORT_LEASE = "2"


def _pair(
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
    **env: str,
) -> tuple[RunningRegistry, RunningRegistry]:
    data = tmp_path_factory.mktemp("jobs")
    database = database_factory()
    a = registry_factory(data=data, database=database, env={**JOB_ENV, **env})
    b = registry_factory(data=data, database=database, env={**JOB_ENV, **env})
    return a, b


@pytest.fixture(scope="module")
def pair(
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RunningRegistry, RunningRegistry]:
    return _pair(registry_factory, database_factory, tmp_path_factory)


def _started_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("started ")]


def test_job_api_shapes_and_admin_only(pair: tuple[RunningRegistry, RunningRegistry]) -> None:
    a, _ = pair
    with a.client() as c, a.client(auth=None) as anon:
        assert anon.get("/api/v0/jobs").status_code == 401
        assert anon.post("/api/v0/jobs", json={"action": "sleep"}).status_code == 401
        assert anon.get("/api/v0/workers").status_code == 401
        bad = c.post("/api/v0/jobs", json={"action": "no-such-action"})
        assert bad.status_code == 400, bad.text
        assert bad.json()["errors"][0]["code"] == "UNKNOWN_ACTION"
        assert (
            c.post("/api/v0/jobs", json={"action": "sleep", "deadline": "soon"}).status_code == 400
        )
        assert c.get("/api/v0/jobs/00000000-0000-0000-0000-000000000000").status_code == 404

        queued = submit(c, "sleep", parameters={"seconds": 0.2}, retries=2, deadline="1m")
        for key in ("id", "retryFromID", "workerID", "status", "scheduledAt", "lastUpdated",
                    "action", "retriesLeft", "retriesTotal", "capacityMap", "parameters",
                    "deadline", "stopTimeout"):  # fmt: skip
            assert key in queued
        assert queued["retriesTotal"] == 2 and queued["deadline"] == "60s"
        done = wait_status(c, queued["id"], ("done",))
        assert done["workerID"] and done["startedAt"] and done["endedAt"]
        lines = logs(c, queued["id"])
        assert len(_started_lines(lines)) == 1
        assert "awake" in lines and lines[-1] == "done"

        listed = all_jobs(c, action="sleep")
        assert queued["id"] in {j["id"] for j in listed}
        assert all(j["action"] == "sleep" for j in listed)
        assert queued["id"] in {j["id"] for j in all_jobs(c, worker=done["workerID"])}
        assert queued["id"] not in {j["id"] for j in all_jobs(c, running="true")}

        r = c.get("/api/v0/workers")
        assert r.status_code == 200
        workers = r.json()["workers"]
        assert len({w["id"] for w in workers if w["status"] == "running"}) >= 2

        assert c.delete(f"/api/v0/jobs/{queued['id']}").status_code == 204
        assert c.get(f"/api/v0/jobs/{queued['id']}").status_code == 404


def test_paging(pair: tuple[RunningRegistry, RunningRegistry]) -> None:
    a, _ = pair
    with a.client() as c:
        ids = [submit(c, "sleep", parameters={"seconds": 0})["id"] for _ in range(5)]
        r = c.get("/api/v0/jobs", params={"pageSize": 2, "action": "sleep"})
        assert r.status_code == 200
        assert len(r.json()["jobs"]) == 2
        assert r.headers["X-Next-Page-Start"]
        # Newest first, pages do not overlap.
        seen = [j["id"] for j in all_jobs(c, action="sleep", pageSize=2)]
        assert len(seen) == len(set(seen))
        assert [i for i in seen if i in ids] == list(reversed(ids))


def test_each_job_runs_exactly_once(pair: tuple[RunningRegistry, RunningRegistry]) -> None:
    a, b = pair
    with a.client() as ca, b.client() as cb:
        ids = [
            submit((ca, cb)[i % 2], "sleep", parameters={"seconds": 0.05})["id"] for i in range(40)
        ]
        workers: Counter[str] = Counter()
        for job_id in ids:
            found = wait_status(ca, job_id, ("done", "errored", "worker_dead"), timeout=60)
            lines = logs(cb, job_id)
            assert found["status"] == "done", (found, lines)
            assert found["retryFromID"] == ""
            started = _started_lines(lines)
            assert len(started) == 1, lines
            assert found["workerID"] in started[0]
            workers[found["workerID"]] += 1
        # Both replicas (several processes each) took work.
        assert len(workers) >= 2, workers
        # No retry was ever made of these jobs.
        assert not [j for j in all_jobs(ca, action="sleep") if j["retryFromID"] in ids]


def test_cancel_running_and_waiting(pair: tuple[RunningRegistry, RunningRegistry]) -> None:
    a, b = pair
    with a.client() as c, b.client() as cb:
        running = submit(c, "sleep", parameters={"seconds": 60})
        wait_status(c, running["id"], ("running",))
        r = cb.post(f"/api/v0/jobs/{running['id']}/cancel")
        assert r.status_code == 204, r.text
        ended = wait_status(c, running["id"], ("canceled",), timeout=20)
        assert ended["endedAt"]
        assert logs(c, running["id"])[-1].startswith("canceled")
        # Logs were readable while it ran (one line a second).
        assert any(line.startswith("slept") for line in logs(c, running["id"]))
        assert c.delete(f"/api/v0/jobs/{running['id']}").status_code == 204


def test_cron_fires(pair: tuple[RunningRegistry, RunningRegistry]) -> None:
    a, b = pair
    with a.client() as c, b.client() as cb:
        bad = c.post("/api/v0/crons", json={"action": "sleep", "schedule": "every minute"})
        assert bad.status_code == 400
        r = c.post(
            "/api/v0/crons",
            json={"action": "sleep", "schedule": "*/2 * * * * *", "parameters": {"seconds": 0}},
        )
        assert r.status_code == 202, r.text
        cron = r.json()
        assert cron["action"] == "sleep" and cron["nextRun"]
        assert cb.get("/api/v0/crons").json()["crons"][0]["schedule"] == "*/2 * * * * *"
        try:
            deadline = time.monotonic() + 20
            fired: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                fired = [j for j in all_jobs(c, action="sleep") if j["cron"]]
                if len([j for j in fired if j["status"] == "done"]) >= 3:
                    break
                time.sleep(0.3)
            done = [j for j in fired if j["status"] == "done"]
            assert len(done) >= 3, fired
            # Once per tick: no two jobs of the schedule in the same second.
            ticks = Counter(str(j["scheduledAt"])[:19] for j in fired)
            assert max(ticks.values()) == 1, ticks
        finally:
            assert c.delete("/api/v0/crons/sleep").status_code == 204
        assert c.get("/api/v0/crons/sleep").status_code == 404
        assert c.delete("/api/v0/crons/sleep").status_code == 404


@pytest.mark.one_database
def test_killed_worker_job_runs_again_elsewhere(
    registry_factory: Callable[..., RunningRegistry],
    database_factory: Callable[[], str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    a, b = _pair(
        registry_factory,
        database_factory,
        tmp_path_factory,
        MOORAGE_JOB_LEASE_SECONDS=SHORT_LEASE,
    )
    with a.client() as ca, b.client() as cb:
        queued = submit(ca, "sleep", parameters={"seconds": 4})
        running = wait_status(ca, queued["id"], ("running",))
        pid = int(running["workerID"].rsplit(":", 1)[1])
        group = os.getpgid(pid)
        victim, survivor = (a, b) if a.proc and a.proc.pid == group else (b, a)
        assert survivor.proc and survivor.proc.pid != group
        time.sleep(1.0)  # mid-job
        victim.kill()
        with survivor.client() as c:
            dead = wait_status(c, queued["id"], ("worker_dead",), timeout=30)
            assert dead["endedAt"]
            retries = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                retries = [j for j in all_jobs(c, action="sleep") if j["retryFromID"] == dead["id"]]
                if retries and retries[0]["status"] == "done":
                    break
                time.sleep(0.2)
            assert len(retries) == 1, retries
            again = retries[0]
            assert again["status"] == "done", again
            assert again["attempt"] == 2
            assert os.getpgid(int(again["workerID"].rsplit(":", 1)[1])) == group_of(survivor)
            assert "awake" in logs(c, again["id"])
    del cb


def group_of(reg: RunningRegistry) -> int:
    assert reg.proc is not None
    return reg.proc.pid


def test_job_detail_404_after_delete_of_unknown(
    pair: tuple[RunningRegistry, RunningRegistry],
) -> None:
    a, _ = pair
    with a.client() as c:
        assert c.delete("/api/v0/jobs/nope").status_code == 404
        assert c.post("/api/v0/jobs/nope/cancel").status_code == 404
        assert c.get("/api/v0/jobs/nope/logs").status_code == 404
        assert job is not None
