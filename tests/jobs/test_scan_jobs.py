"""The scanner's jobs in the in-process app, run by its own job runner: scan on push (and what a
push without it costs: nothing), an index scanned per platform, a failed scan that says why,
re-matching after a database update (no layer read: the blobs are gone by then), the first import
turning "no database yet" into results, ``scanall`` with and without a layer scan; the webhook
events (DTR's SCAN_COMPLETED, SCAN_FAILED, SCANNER_UPDATE_COMPLETED payloads)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from moorage.db import job_tables as jt
from moorage.db import tables as t
from moorage.db.engine import Database
from moorage.events import store as events
from moorage.oci.digest import Digest
from moorage.queue import jobs
from moorage.registry.layout import blob_key
from moorage.scanning.engine_results import NO_DATABASE
from moorage.webhooks.payloads import payload
from tests.auth.creds_helpers import app_services, statements
from tests.events.receiver import receiving
from tests.http.v2.inproc_push import create_repository
from tests.inprocess import InProcessApp
from tests.scanning import engine_images as ei
from tests.scanning.scan_results import counts, findings, state

NEW_CVE = "DEBIAN-CVE-2023-45853"


async def _settled(db: Database, within: float = 60.0) -> list[jobs.Job]:
    """Every scanner job, once none is waiting or running."""
    deadline = time.monotonic() + within
    while True:
        async with db.read() as conn:
            rows = list(
                await conn.execute(
                    select(jt.jobs).where(jt.jobs.c.action.in_(["scan", "scanall", "rematch"]))
                )
            )
        found = [jobs.from_row(r) for r in rows]
        if all(j.status not in ("waiting", "running") for j in found):
            return found
        assert time.monotonic() < deadline, [(j.action, j.status) for j in found]
        await asyncio.sleep(0.1)


async def _events(db: Database, kind: str) -> list[events.Event]:
    async with db.read() as conn:
        rows = await conn.execute(select(t.events).where(t.events.c.type == kind))
        return [events._event(r) for r in rows]


async def _scanning(c: httpx.AsyncClient, name: str) -> str:
    repo = await create_repository(c, "admin", name)
    r = await c.patch(f"/api/v0/repositories/{repo}", json={"scanOnPush": True})
    assert r.status_code == 200 and r.json()["scanOnPush"] is True, r.text
    return repo


async def _import(app: InProcessApp, folder: Path, *skip: str, name: str = "a.zip") -> None:
    db = app_services(app).db
    await ei.import_records(db, folder, ei.engine_records(*skip), name=name)


async def _drop_blobs(app: InProcessApp, digests: list[str]) -> None:
    storage = app_services(app).registry.storage
    for digest in digests:
        await storage.delete(blob_key(Digest.parse(digest)))
        assert await storage.stat(blob_key(Digest.parse(digest))) is None


async def test_scan_on_push_costs_nothing_where_it_is_off(
    inproc: InProcessApp, tmp_path: Path
) -> None:
    db = app_services(inproc).db
    await _import(inproc, tmp_path / "v1", NEW_CVE)
    layers = [ei.debian_base(), ei.application(), ei.without_setuptools()]
    async with inproc.client() as c:
        plain = await create_repository(c, "admin", "plain")
        scanned = await _scanning(c, "scanned")
        body, _ = await ei.image_manifest(c, plain, layers)
        with statements(inproc) as seen:
            assert (await ei.put_manifest(c, plain, "v1", body)).status_code == 201
        await ei.image_manifest(c, scanned, layers)
        with statements(inproc) as more:
            r = await ei.put_manifest(c, scanned, "v1", body)
        assert r.status_code == 201, r.text
    digest = r.headers["Docker-Content-Digest"]
    # Scanning on push is two statements of the push's own transaction, and no others: the
    # flag comes with the repository row the request reads anyway.
    extra = [s for s in more if s.startswith(("INSERT INTO jobs", "INSERT INTO image_scans"))]
    assert len(extra) == 2, more
    assert [s for s in more if s not in extra] == seen
    assert not [s for s in seen if "image_scans" in s or s.startswith("INSERT INTO jobs")]

    done = await _settled(db)
    (scan,) = [j for j in done if j.action == "scan"]
    assert scan.status == "done", scan
    assert scan.parameters == {"digest": digest, "repository": scanned, "tag": "v1"}
    row = await state(db, digest)
    assert (row.status, row.job_id) == ("scanned", scan.id)
    assert await counts(db, digest) == (2, 3, 0)

    (event,) = await _events(db, events.SCAN_COMPLETED)
    body_sent = payload(event)
    assert body_sent["type"] == "SCAN_COMPLETED"
    contents = body_sent["contents"]
    assert (contents["namespace"], contents["repository"], contents["tag"]) == (
        "admin",
        "scanned",
        "v1",
    )
    assert contents["imageName"] == f"{scanned}:v1"
    summary = contents["scanSummary"]
    assert {k: summary[k] for k in ("namespace", "repository", "tag")} == {
        "namespace": "admin",
        "repository": "scanned",
        "tag": "v1",
    }
    assert (summary["critical"], summary["major"], summary["minor"]) == (2, 3, 0)
    assert summary["last_scan_status"] == 6 and summary["check_completed_at"].endswith("Z")


async def test_an_index_push_scans_each_platform(inproc: InProcessApp, tmp_path: Path) -> None:
    db = app_services(inproc).db
    await _import(inproc, tmp_path / "v1")
    async with inproc.client() as c:
        repo = await _scanning(c, "multi")
        amd = await ei.push_image(c, repo, "amd", [ei.debian_base()])
        arm = await ei.push_image(c, repo, "arm", [ei.alpine_base()], architecture="arm64")
        await ei.push_index(c, repo, "v1", [(amd, "linux", "amd64"), (arm, "linux", "arm64")])
    done = await _settled(db)
    assert {j.status for j in done if j.action == "scan"} == {"done"}
    assert (await state(db, amd.digest)).status == "scanned"
    assert (await state(db, arm.digest)).status == "scanned"
    assert {f.component for f in await findings(db, arm.digest)} == {
        "busybox",
        "ssl_client",
        "libcrypto3",
        "libssl3",
    }


async def test_a_failed_scan_job_says_why(inproc: InProcessApp, tmp_path: Path) -> None:
    db = app_services(inproc).db
    await _import(inproc, tmp_path / "v1")
    async with inproc.client() as c:
        repo = await _scanning(c, "broken")
        pushed = await ei.push_image(c, repo, "v1", [b"not a tar, not compressed either" * 40])
        done = await _settled(db)
        (scan,) = [j for j in done if j.action == "scan"]
        assert scan.status == "errored", scan
        assert scan.error is not None and "not a readable tar" in scan.error, scan.error
        r = await c.get(f"/api/v0/jobs/{scan.id}/logs")
        assert any("not a readable tar" in line["data"] for line in r.json()), r.text
    row = await state(db, pushed.digest)
    assert row.status == "failed" and "not a readable tar" in row.reason
    (event,) = await _events(db, events.SCAN_FAILED)
    contents = payload(event)["contents"]
    assert contents["tag"] == "v1" and "not a readable tar" in contents["error"]
    assert not await _events(db, events.SCAN_COMPLETED)


async def test_an_update_rematches_stored_inventories_without_reading_a_layer(
    inproc: InProcessApp, tmp_path: Path
) -> None:
    db = app_services(inproc).db
    await _import(inproc, tmp_path / "v1", NEW_CVE)
    async with inproc.client() as c:
        repo = await _scanning(c, "rematched")
        debian = await ei.push_image(
            c, repo, "debian", [ei.debian_base(), ei.application(), ei.without_setuptools()]
        )
        alpine = await ei.push_image(c, repo, "alpine", [ei.alpine_base()])
    await _settled(db)
    before = await findings(db, debian.digest)
    alpine_before = await findings(db, alpine.digest)
    assert await counts(db, debian.digest) == (2, 3, 0)
    # The layers go: a re-match that read one would fail.
    await _drop_blobs(inproc, [*debian.layers, *alpine.layers])

    await _import(inproc, tmp_path / "v2", name="b.zip")  # adds DEBIAN-CVE-2023-45853
    (update, *_) = sorted(await _events(db, events.SCANNER_UPDATE_COMPLETED), key=lambda e: -e.id)
    contents = payload(update)["contents"]
    assert (contents["db_version"], contents["success"]) == (2, True)
    assert contents["replicas"]["database"]["version"] == "2"
    done = await _settled(db)
    rematches = [j for j in done if j.action == "rematch"]
    assert [j.status for j in rematches] == ["done", "done"], rematches  # one per update

    after = await findings(db, debian.digest)
    (new,) = after - before
    assert (new.component, new.vuln_id, new.ids) == (
        "zlib1g",
        "CVE-2023-45853",
        ("CVE-2023-45853", "DEBIAN-CVE-2023-45853"),
    )
    # No fix, and Debian's tracker says it is ignored: "will not fix"; CVSS 3.1 9.8.
    assert (new.severity, new.cvss, new.fixed, new.status) == (
        "critical",
        9.8,
        None,
        "will not fix",
    )
    assert before <= after
    assert await counts(db, debian.digest) == (3, 3, 0)
    assert (await state(db, debian.digest)).vulndb_generation == 2
    # The Alpine image holds nothing the update changed: the same findings, now current.
    assert await findings(db, alpine.digest) == alpine_before
    assert (await state(db, alpine.digest)).vulndb_generation == 2
    log = await _log(inproc, rematches[-1].id)
    assert any("re-matched 1 images against vulnerability database version 2" in x for x in log)


async def _log(app: InProcessApp, job_id: str) -> list[str]:
    async with app.client() as c:
        return [line["data"] for line in (await c.get(f"/api/v0/jobs/{job_id}/logs")).json()]


async def test_the_first_import_turns_a_waiting_inventory_into_a_result(
    inproc: InProcessApp, tmp_path: Path
) -> None:
    db = app_services(inproc).db
    async with inproc.client() as c:
        repo = await _scanning(c, "early")
        pushed = await ei.push_image(c, repo, "v1", [ei.debian_base(), ei.application()])
    done = await _settled(db)
    assert [j.status for j in done] == ["errored"]  # no database: the scan failed, and says so
    row = await state(db, pushed.digest)
    assert (row.status, row.reason) == ("failed", NO_DATABASE)
    await _drop_blobs(inproc, pushed.layers)
    await _import(inproc, tmp_path / "v1", NEW_CVE)
    await _settled(db)
    row = await state(db, pushed.digest)
    assert (row.status, row.reason, row.vulndb_generation) == ("scanned", None, 1)
    assert {f.component for f in await findings(db, pushed.digest)} == {
        "zlib1g",
        "zipp",
        "setuptools",
        "debug",
        "minimist",
        "qs",
    }
    assert await counts(db, pushed.digest) == (2, 3, 0)


async def test_scan_all(inproc: InProcessApp, tmp_path: Path) -> None:
    db = app_services(inproc).db
    await _import(inproc, tmp_path / "v1")
    async with inproc.client() as c:
        one = await ei.push_image(c, "admin/one", "v1", [ei.debian_base()])
        two = await ei.push_image(c, "admin/two", "v1", [ei.alpine_base()])
        await ei.push_image(c, "admin/two", "v2", [ei.alpine_base()])  # the same digest again
    await _settled(db)
    assert await state(db, one.digest) is None  # no scan on push there
    await jobs.submit(db, "scanall", {})
    app_services(inproc).poke_jobs()
    done = await _settled(db)
    scans = [j for j in done if j.action == "scan"]
    assert sorted(j.parameters["digest"] for j in scans) == sorted([one.digest, two.digest])
    assert {j.status for j in done} == {"done"}
    assert (await state(db, one.digest)).status == "scanned"
    before = await findings(db, two.digest)

    # Without a layer scan: every stored inventory is matched again, no blob needed.
    await _drop_blobs(inproc, [*one.layers, *two.layers])
    job = await jobs.submit(db, "scanall", {"scan": False, "check": True})
    app_services(inproc).poke_jobs()
    await _settled(db)
    finished = await jobs.get(db, job.id)
    assert finished.status == "done", finished
    assert any("re-matched 2 images" in line for line in await _log(inproc, job.id))
    assert await findings(db, two.digest) == before


async def test_bad_scan_parameters_are_refused(inproc: InProcessApp) -> None:
    db = app_services(inproc).db
    job = await jobs.submit(db, "scan", {"digest": "../../etc/passwd"})
    app_services(inproc).poke_jobs()
    await _settled(db)
    finished = await jobs.get(db, job.id)
    assert finished.status == "errored" and "not a digest" in (finished.error or ""), finished
    async with db.read() as conn:
        assert (
            list(await conn.execute(select(t.events.c.id).where(t.events.c.type.like("SCAN%"))))
            == []
        )


async def test_webhooks_receive_the_scanner_events(inproc: InProcessApp, tmp_path: Path) -> None:
    """Delivered through the outbox to a real receiver: the database update to global hooks
    only (a namespace may not subscribe to it), a scan's outcome to its repository's hooks."""
    with receiving() as receiver:
        async with inproc.client() as c:
            allowed = {"webhookAllowedNetworks": ["127.0.0.1/32"]}
            assert (await c.post("/api/v0/meta/settings", json=allowed)).status_code == 202
            repo = await _scanning(c, "hooked")
            other = await _scanning(c, "unhooked")
            hooks = [
                ("SCANNER_UPDATE_COMPLETED", "", "/update"),
                ("SCAN_COMPLETED", repo, "/completed"),
                ("SCAN_COMPLETED", "admin/elsewhere", "/elsewhere"),
                ("SCAN_FAILED", repo, "/failed"),
            ]
            await create_repository(c, "admin", "elsewhere")
            for kind, key, path in hooks:
                body = {"type": kind, "key": key, "endpoint": receiver.url(path)}
                r = await c.post("/api/v0/webhooks", json=body)
                assert r.status_code == 201, r.text
            scoped = {
                "type": "SCANNER_UPDATE_COMPLETED",
                "key": "admin",
                "endpoint": receiver.url("/ns"),
            }
            r = await c.post("/api/v0/webhooks", json=scoped)
            assert r.status_code == 400 and "global event" in r.text, r.text

            await _import(inproc, tmp_path / "v1")
            (update,) = await receiver.arrived("/update")
            assert update.json()["type"] == "SCANNER_UPDATE_COMPLETED"
            assert update.json()["contents"]["db_version"] == 1

            await ei.push_image(c, repo, "v1", [ei.alpine_base()])
            await ei.push_image(c, other, "v1", [ei.alpine_base()])
            (completed,) = await receiver.arrived("/completed")
        await _settled(app_services(inproc).db)
    sent = completed.json()
    assert sent["type"] == "SCAN_COMPLETED"
    assert sent["contents"]["imageName"] == f"{repo}:v1"
    assert sent["contents"]["scanSummary"]["last_scan_status"] == 6
    assert receiver.at("/elsewhere") == [] and receiver.at("/failed") == []
    assert receiver.at("/ns") == []
