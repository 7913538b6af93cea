"""DTR 2.7's jobrunner API (tags ``jobs``, ``crons``, ``workers``, ``action_configs``): answers
checked against DTR's own definitions (``dtr_definitions/jobs.json``), DTR's action names (its 21
jobs: mapped to Moorage's or refused saying what Moorage has), DTR's paging, ``scheduledAt``,
log streaming, worker capacity the runner honours, per-action defaults; system admins only."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest

from moorage.jobs.actions import DTR_NAMES, NOT_IN_MOORAGE
from tests.auth.world import World
from tests.http.api.dtr_schema import assert_matches

# DTR 2.7's job actions, as its docs list them (ee/dtr/admin/manage-jobs/job-queue.md).
DTR_ACTIONS = {
    "gc", "onlinegc", "onlinegc_metadata", "onlinegc_joblogs", "metadatastoremigration", "sleep",
    "false", "tagmigration", "bloblinkmigration", "license_update", "scan_check",
    "scan_check_single", "scan_check_all", "update_vuln_db", "scannedlayermigration",
    "push_mirror_tag", "poll_mirror", "webhook", "nautilus_update_db", "ro_registry",
    "tag_pruning",
}  # fmt: skip
# What Moorage adds to DTR's objects (allowed: DTR's definitions do not forbid more); nothing
# of DTR's is left out, so every assert_matches below runs without leave_out.
FAR = "2099-01-01T00:00:00Z"
DIGEST = "sha256:" + "a" * 64
ROUTES = [
    ("GET", "/api/v0/jobs"),
    ("POST", "/api/v0/jobs"),
    ("GET", "/api/v0/jobs/nope"),
    ("DELETE", "/api/v0/jobs/nope"),
    ("POST", "/api/v0/jobs/nope/cancel"),
    ("GET", "/api/v0/jobs/nope/logs"),
    ("GET", "/api/v0/crons"),
    ("POST", "/api/v0/crons"),
    ("GET", "/api/v0/crons/sleep"),
    ("DELETE", "/api/v0/crons/sleep"),
    ("GET", "/api/v0/workers"),
    ("POST", "/api/v0/workers/nope/capacity"),
    ("GET", "/api/v0/action_configs"),
    ("POST", "/api/v0/action_configs"),
    ("GET", "/api/v0/action_configs/sleep"),
    ("DELETE", "/api/v0/action_configs/sleep"),
]


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text)
    return r.json() if r.content else None


def refused(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.request.url, r.status_code, r.text)
    errors = r.json()["errors"]
    assert len(errors) == 1 and errors[0]["code"] == code, r.text
    error: dict[str, Any] = errors[0]
    return error


def submit(world: World, action: str, **body: Any) -> dict[str, Any]:
    job: dict[str, Any] = ok(
        world.api("POST", "/api/v0/jobs", json={"action": action, **body}), 202
    )
    return job


def wait_status(world: World, job_id: str, statuses: tuple[str, ...], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = ok(world.api("GET", f"/api/v0/jobs/{job_id}"))
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def lines(world: World, job_id: str, **params: Any) -> list[str]:
    found = ok(world.api("GET", f"/api/v0/jobs/{job_id}/logs", params=params))
    return [line["data"] for line in found]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_system_admins_only(world: World, api: httpx.Client, method: str, path: str) -> None:
    body = {"json": {}} if method == "POST" else {}
    refused(api.request(method, path, **body), 401, "NOT_AUTHENTICATED")  # type: ignore[arg-type]
    for user in ("bob", "frank"):  # nobody special; an organization's owner
        r = world.api(method, path, auth=world.creds(user), **body)
        refused(r, 403, "NOT_AUTHORIZED")


def test_shapes_are_dtrs(world: World, api: httpx.Client) -> None:
    form = {
        "action": "sleep",
        "parameters": {"seconds": "0"},  # DTR's parameters are strings
        "retries": 1,
        "capacityMap": {"sleep": 1},
        "deadline": "1m",
        "stopTimeout": "",
        "scheduledAt": "",
    }
    job = ok(world.api("POST", "/api/v0/jobs", json=form), 202)
    assert_matches(job, "tmpresponses.Job")
    assert job["capacityMap"] == {"sleep": 1} and job["retriesTotal"] == 1
    done = wait_status(world, job["id"], ("done",))
    assert_matches(done, "tmpresponses.Job")
    assert_matches(ok(world.api("GET", "/api/v0/jobs")), "tmpresponses.Jobs")
    log = ok(world.api("GET", f"/api/v0/jobs/{job['id']}/logs"))
    assert log and all(assert_matches(line, "tmpresponses.JobLog") is None for line in log)
    cron_form = {k: v for k, v in form.items() if k != "scheduledAt"} | {"schedule": "0 3 * * *"}
    cron = ok(world.api("POST", "/api/v0/crons", json=cron_form), 202)
    assert_matches(cron, "tmpresponses.Cron")
    crons = ok(world.api("GET", "/api/v0/crons"))
    # Differs from DTR on purpose: Moorage's parameters keep their JSON types (the default
    # uploadpurge cron's maxAgeSeconds is a number; DTR's parameters are strings). Checked
    # without those, and that difference asserted.
    assert_matches(
        {"crons": [c for c in crons["crons"] if c["action"] != "uploadpurge"]},
        "tmpresponses.Crons",
    )
    purge = [c for c in crons["crons"] if c["action"] == "uploadpurge"]
    assert purge and purge[0]["parameters"] == {"maxAgeSeconds": 86400}
    assert_matches(ok(world.api("GET", "/api/v0/crons/sleep")), "tmpresponses.Cron")
    workers = ok(world.api("GET", "/api/v0/workers"))
    assert_matches(workers, "tmpresponses.Workers")
    worker = workers["workers"][0]
    assert worker["status"] == "running" and worker["capacityMap"]["sleep"] >= 1
    expires = dt.datetime.fromisoformat(worker["heartbeatExpiration"])
    assert expires > dt.datetime.fromisoformat(worker["heartbeat"])
    config = ok(
        world.api(
            "POST",
            "/api/v0/action_configs",
            json={"action": "sleep", "parameters": {"seconds": "0"}},
        ),
        202,
    )
    assert_matches(config, "tmpresponses.ActionConfig")
    assert_matches(ok(world.api("GET", "/api/v0/action_configs")), "tmpresponses.ActionConfigs")
    ok(world.api("DELETE", "/api/v0/action_configs/sleep"), 204)
    ok(world.api("DELETE", "/api/v0/crons/sleep"), 204)


def test_every_dtr_action_is_mapped_or_refused(world: World, api: httpx.Client) -> None:
    assert set(DTR_NAMES) | set(NOT_IN_MOORAGE) >= DTR_ACTIONS
    assert not set(DTR_NAMES) & set(NOT_IN_MOORAGE)
    for name, moorage in sorted(DTR_NAMES.items()):
        params = {"digest": DIGEST} if moorage == "scan" else {}
        # Far in the future: queued, never run here.
        job = submit(world, name, parameters=params, scheduledAt=FAR)
        assert job["action"] == name and job["status"] == "waiting", job
        assert job["capacityMap"] == {moorage: 1}
        assert job["id"] in {j["id"] for j in filtered(world, action=name)}
        # DTR's name and Moorage's list the same jobs.
        assert job["id"] in {j["id"] for j in filtered(world, action=moorage)}
        assert ok(world.api("GET", f"/api/v0/jobs/{job['id']}"))["action"] == name
        ok(world.api("DELETE", f"/api/v0/jobs/{job['id']}"), 204)
    before = filtered(world, action="any")
    for name, instead in sorted(NOT_IN_MOORAGE.items()):
        for path in ("/api/v0/jobs", "/api/v0/crons", "/api/v0/action_configs"):
            body = {"action": name, "schedule": "0 3 * * *", "parameters": {}}
            error = refused(world.api("POST", path, json=body), 400, "ACTION_NOT_SUPPORTED")
            assert error["message"] == f"Moorage has no {name} job: {instead}"
            assert error["detail"] == {"action": name}
        refused(world.api("GET", f"/api/v0/crons/{name}"), 400, "ACTION_NOT_SUPPORTED")
    error = refused(
        world.api("POST", "/api/v0/jobs", json={"action": "no-such"}), 400, "UNKNOWN_ACTION"
    )
    assert "gc" in error["detail"]["known"] and "onlinegc" in error["detail"]["known"]
    refused(world.api("POST", "/api/v0/jobs", json={"action": 7}), 400, "UNKNOWN_ACTION")
    assert filtered(world, action="any") == before  # nothing was queued
    assert filtered(world, action="no-such") == []


def filtered(world: World, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(
        world.api("GET", "/api/v0/jobs", params={"limit": 1000, **params})
    )["jobs"]
    return found


def test_false_fails_at_once(world: World, api: httpx.Client) -> None:
    job = wait_status(world, submit(world, "false")["id"], ("errored",))
    assert job["error"] == "RuntimeError: false: exit status 1"
    assert "false: exit status 1" in lines(world, job["id"])


def test_dtr_paging_and_moorages(world: World, api: httpx.Client) -> None:
    ids = [submit(world, "sleep", scheduledAt=FAR)["id"] for _ in range(12)]
    try:
        newest = list(reversed(ids))
        page = lambda **p: [j["id"] for j in filtered(world, action="sleep", **p)]  # noqa: E731
        r = world.api("GET", "/api/v0/jobs", params={"action": "sleep"})
        assert len(ok(r)["jobs"]) == 10 and "X-Next-Page-Start" not in r.headers  # DTR's 10
        assert page(start=0, limit=5) == newest[:5]
        assert page(start=5, limit=5) == newest[5:10]
        assert page(start=10, limit=5)[:2] == newest[10:12]
        # Moorage's keyset paging still works.
        r = world.api("GET", "/api/v0/jobs", params={"action": "sleep", "pageSize": 5})
        assert [j["id"] for j in ok(r)["jobs"]] == newest[:5]
        nxt = r.headers["X-Next-Page-Start"]
        assert nxt == newest[5]
        r = world.api(
            "GET", "/api/v0/jobs", params={"action": "sleep", "pageSize": 5, "pageStart": nxt}
        )
        assert [j["id"] for j in ok(r)["jobs"]] == newest[5:10]
        refused(
            world.api("GET", "/api/v0/jobs", params={"start": 1, "pageStart": nxt}),
            400,
            "INVALID_INPUT",
        )
        for bad in ({"start": -1}, {"limit": 0}, {"limit": "ten"}):
            refused(world.api("GET", "/api/v0/jobs", params=bad), 400, "INVALID_PARAMETERS")
        refused(world.api("GET", "/api/v0/jobs", params={"running": "maybe"}), 400, "INVALID_INPUT")
        running = filtered(world, running="true", worker="any")
        assert all(j["status"] == "running" for j in running)
    finally:
        for job_id in ids:
            ok(world.api("DELETE", f"/api/v0/jobs/{job_id}"), 204)


def test_scheduled_at(world: World, api: httpx.Client) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    job = submit(world, "sleep", parameters={"seconds": "0"}, scheduledAt=soon.isoformat())
    assert dt.datetime.fromisoformat(job["scheduledAt"]) == soon.replace(
        microsecond=soon.microsecond // 1000 * 1000
    )
    time.sleep(0.5)
    assert ok(world.api("GET", f"/api/v0/jobs/{job['id']}"))["status"] == "waiting"
    done = wait_status(world, job["id"], ("done",), timeout=30)
    assert dt.datetime.fromisoformat(done["startedAt"]) >= soon - dt.timedelta(milliseconds=1)
    before = filtered(world, action="any")
    for bad in ("tomorrow", "2099-01-01T00:00:00", 5, ["2099-01-01T00:00:00Z"]):
        error = refused(
            world.api("POST", "/api/v0/jobs", json={"action": "sleep", "scheduledAt": bad}),
            400,
            "INVALID_INPUT",
        )
        assert error["message"].startswith("scheduledAt must be an RFC 3339 time")
    for field, bad in (
        ("capacityMap", {"scan": 1}),
        ("capacityMap", {"sleep": 2}),
        ("capacityMap", "sleep"),
        ("stopTimeout", "30s"),
    ):
        error = refused(
            world.api("POST", "/api/v0/jobs", json={"action": "sleep", field: bad}),
            400,
            "INVALID_INPUT",
        )
        assert field in error["message"]
    assert filtered(world, action="any") == before


def test_cancel_delete_and_logs(world: World, api: httpx.Client) -> None:
    job = submit(world, "sleep", parameters={"seconds": "30"})
    wait_status(world, job["id"], ("running",))
    r = world.api("POST", f"/api/v0/jobs/{job['id']}/cancel")
    assert r.status_code == 204 and not r.content, r.text
    wait_status(world, job["id"], ("canceled",), timeout=20)
    # A running job is deleted at once; its worker stops it.
    running = submit(world, "sleep", parameters={"seconds": "30"})
    wait_status(world, running["id"], ("running",))
    ok(world.api("DELETE", f"/api/v0/jobs/{running['id']}"), 204)
    refused(world.api("GET", f"/api/v0/jobs/{running['id']}"), 404, "NO_SUCH_JOB")
    refused(world.api("GET", f"/api/v0/jobs/{running['id']}/logs"), 404, "NO_SUCH_JOB")
    refused(world.api("POST", "/api/v0/jobs/nope/cancel"), 404, "NO_SUCH_JOB")
    refused(world.api("DELETE", "/api/v0/jobs/nope"), 404, "NO_SUCH_JOB")

    slow = submit(world, "sleep", parameters={"seconds": "2"})
    with world.client.stream(
        "GET", f"/api/v0/jobs/{slow['id']}/logs", params={"stream": "true"}, auth=world.admin
    ) as r:
        assert r.status_code == 200
        streamed = [json.loads(text) for text in r.iter_lines() if text]
    assert [e["lineNum"] for e in streamed] == list(range(1, len(streamed) + 1))
    data = [e["data"] for e in streamed]
    assert data[0].startswith("started sleep") and "slept 1 of 2s" in data
    assert data[-1] == "done"  # the stream ended with the job
    assert lines(world, slow["id"]) == data
    assert lines(world, slow["id"], offset=2, limit=2) == data[1:3]
    assert lines(world, slow["id"], offset=2) == data[1:]
    assert lines(world, slow["id"], start=3) == data[2:]  # Moorage's old name of offset
    refused(
        world.api("GET", "/api/v0/jobs/nope/logs", params={"stream": "true"}), 404, "NO_SUCH_JOB"
    )
    refused(
        world.api("GET", f"/api/v0/jobs/{slow['id']}/logs", params={"offset": -1}),
        400,
        "INVALID_PARAMETERS",
    )


def test_crons_as_dtr(world: World, api: httpx.Client) -> None:
    first = ok(
        world.api("POST", "/api/v0/crons", json={"action": "tag_pruning", "schedule": "0 4 * * *"}),
        202,
    )
    assert first["action"] == "tag_pruning" and first["id"]
    # One cron an action: DTR's name and Moorage's are the same cron, and it keeps its id.
    again = ok(
        world.api("POST", "/api/v0/crons", json={"action": "tagprune", "schedule": "0 5 * * *"}),
        202,
    )
    assert again["id"] == first["id"] and again["action"] == "tagprune"
    assert ok(world.api("GET", "/api/v0/crons/tag_pruning"))["schedule"] == "0 5 * * *"
    ok(world.api("DELETE", "/api/v0/crons/tag_pruning"), 204)
    refused(world.api("GET", "/api/v0/crons/tagprune"), 404, "NO_SUCH_CRON")
    crons = ok(world.api("GET", "/api/v0/crons"))["crons"]
    assert all(c["id"] for c in crons)  # the default crons got theirs from the migration
    refused(
        world.api(
            "POST",
            "/api/v0/crons",
            json={"action": "sleep", "schedule": "0 3 * * *", "stopTimeout": "1m"},
        ),
        400,
        "INVALID_INPUT",
    )


def test_worker_capacity_is_honoured(world: World, api: httpx.Client) -> None:
    worker = ok(world.api("GET", "/api/v0/workers"))["workers"][0]
    path = f"/api/v0/workers/{worker['id']}/capacity"
    try:
        r = world.api("POST", path, json={"capacityMap": {"sleep": 0, "tag_pruning": 1}})
        assert r.status_code == 202 and not r.content, r.text
        shown = ok(world.api("GET", "/api/v0/workers"))["workers"][0]["capacityMap"]
        assert shown["sleep"] == 0 and shown["tagprune"] == 1
        time.sleep(6)  # the worker's next heartbeat reads it
        held = submit(world, "sleep", parameters={"seconds": "0"})
        time.sleep(3)
        assert ok(world.api("GET", f"/api/v0/jobs/{held['id']}"))["status"] == "waiting"
        ok(world.api("POST", path, json={"capacityMap": {}}), 202)
        wait_status(world, held["id"], ("done",), timeout=20)
    finally:
        world.api("POST", path, json={"capacityMap": {}})
    refused(
        world.api("POST", "/api/v0/workers/nope/capacity", json={"capacityMap": {}}),
        404,
        "NO_SUCH_WORKER",
    )
    for bad in (
        {},
        {"capacityMap": 3},
        {"capacityMap": {"sleep": -1}},
        {"capacityMap": {"sleep": True}},
    ):
        refused(world.api("POST", path, json=bad), 400, "INVALID_INPUT")
    refused(
        world.api("POST", path, json={"capacityMap": {"poll_mirror": 1}}),
        400,
        "ACTION_NOT_SUPPORTED",
    )


def test_action_configs(world: World, api: httpx.Client) -> None:
    refused(world.api("GET", "/api/v0/action_configs/sleep"), 404, "NO_SUCH_ACTION_CONFIG")
    config = ok(
        world.api(
            "POST",
            "/api/v0/action_configs",
            json={"action": "sleep", "parameters": {"seconds": "2"}},
        ),
        202,
    )
    assert config["action"] == "sleep" and config["parameters"] == {"seconds": "2"}
    try:
        # The job's own parameters win; the config fills in the rest.
        own = wait_status(
            world, submit(world, "sleep", parameters={"seconds": "0"})["id"], ("done",)
        )
        assert not [line for line in lines(world, own["id"]) if line.startswith("slept")]
        plain = wait_status(world, submit(world, "sleep")["id"], ("done",))
        assert "slept 2 of 2s" in lines(world, plain["id"])
        assert plain["parameters"] == {}  # the job shows what it was submitted with
        again = ok(
            world.api("POST", "/api/v0/action_configs", json={"action": "sleep", "parameters": {}}),
            202,
        )
        assert again["id"] == config["id"]
        listed = ok(world.api("GET", "/api/v0/action_configs"))["actionConfigs"]
        assert [c["action"] for c in listed] == ["sleep"]
        gc = ok(
            world.api("POST", "/api/v0/action_configs", json={"action": "gc", "parameters": {}}),
            202,
        )
        assert gc["action"] == "gc"
        assert ok(world.api("GET", "/api/v0/action_configs/onlinegc"))["id"] == gc["id"]
        ok(world.api("DELETE", "/api/v0/action_configs/gc"), 204)
        for bad in ({"action": "sleep"}, {"action": "sleep", "parameters": "x"}):
            refused(world.api("POST", "/api/v0/action_configs", json=bad), 400, "INVALID_INPUT")
        bad_gc = {"action": "onlinegc", "parameters": {"budgetSeconds": -1}}
        refused(world.api("POST", "/api/v0/action_configs", json=bad_gc), 400, "INVALID_INPUT")
        refused(
            world.api("POST", "/api/v0/action_configs", json={"action": "nope", "parameters": {}}),
            400,
            "UNKNOWN_ACTION",
        )
    finally:
        ok(world.api("DELETE", "/api/v0/action_configs/sleep"), 204)
    refused(world.api("DELETE", "/api/v0/action_configs/sleep"), 404, "NO_SUCH_ACTION_CONFIG")
