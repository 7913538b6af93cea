"""Prometheus metrics at /metrics (moorage.http.metrics, docs/metrics.md).

In process: the request counters and byte totals move by what pushes and pulls did, every path
falls in one of a fixed set of families, the database gauges say what the tables hold, and only
an administrator, a listed network, or anyone when ``metrics_access`` is ``public`` reads them.
One real ``moorage serve --workers 2`` shows the counts of both processes added up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import stat
import string
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, insert, select

from moorage.cli.serve import fresh_metrics_dir
from moorage.config import Settings
from moorage.db import job_tables as jt
from moorage.db import replica_heartbeats
from moorage.db.engine import Database, utcnow
from moorage.db.tables import uploads
from moorage.errors import DatabaseUnavailable
from moorage.http.metrics import FAMILIES, forget_dead_processes, route_family
from moorage.http.metrics_collect import gc_result
from tests.auth.creds_helpers import access_token, bearer_token, from_address, new_user
from tests.conftest import RunningRegistry
from tests.inprocess import ThreadedApp, running_app, threaded_app
from tests.registry.pushing import manifest_for, push_blob, put_manifest, sha256

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels (the official parser: it must parse)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def scrape_sync(client: httpx.Client) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedApp]:
    with threaded_app(tmp_path_factory.mktemp("metrics")) as running:
        yield running


# ---- route families --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/v2/", "v2_base"),
        ("/v2", "v2_base"),
        ("/v2/_catalog", "v2_catalog"),
        ("/v2/a/b/c/blobs/sha256:abc", "v2_blob"),
        ("/v2/a/blobs/uploads/", "v2_upload"),
        ("/v2/a/blobs/uploads/0f3e-11", "v2_upload"),
        ("/v2/blobs/blobs/uploads/x", "v2_upload"),
        ("/v2/a/b/manifests/latest", "v2_manifest"),
        ("/v2/manifests/manifests/v1", "v2_manifest"),
        ("/v2/a/tags/list", "v2_tags"),
        ("/v2/a/referrers/sha256:abc", "v2_referrers"),
        ("/v2/a/b/_trust/tuf/root.json", "v2_trust"),
        ("/v2/a/nothing", "other"),
        ("/v2x", "other"),
        ("/auth/token", "token"),
        ("/.well-known/jwks.json", "token"),
        ("/api/v0/repositories", "api"),
        ("/v1/search", "api"),
        ("/enzi/v0/accounts", "enzi"),
        ("/_ping", "ping"),
        ("/metrics", "metrics"),
        ("/", "ui"),
        ("/repositories/a/b", "ui"),
        ("/static/ui.css", "ui"),
        ("/no/such/page", "other"),
        ("/metricsx", "other"),
    ],
)
def test_route_family(path: str, family: str) -> None:
    assert route_family(path) == family


def test_gc_result_from_the_last_log_line() -> None:
    assert gc_result('finished: freed 3 blobs; result {"blobsDeleted": 3}') == {"blobsDeleted": 3}
    assert gc_result("finished: nothing") == {}
    assert gc_result("result {not json") == {}
    assert gc_result(None) == {}


# ---- requests and bytes ----------------------------------------------------------------------


def test_pushes_and_pulls_move_the_counters_and_byte_totals(app: ThreadedApp) -> None:
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(50_000)
    body = manifest_for(config, [layer])
    with app.client() as c:
        before = scrape_sync(c)
        for blob in (config, layer):
            push_blob(c, "metrics/push", blob)
        put_manifest(c, "metrics/push", "v1", body)
        assert c.get("/v2/metrics/push/manifests/v1").content == body
        for blob in (config, layer):
            assert c.get(f"/v2/metrics/push/blobs/{sha256(blob)}").content == blob
        assert c.head("/v2/metrics/push/manifests/v1").status_code == 200
        assert c.get("/v2/metrics/push/manifests/nope").status_code == 404
        after = scrape_sync(c)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    requests = "moorage_http_requests_total"
    assert moved(requests, family="v2_upload", method="POST", status="201") == 2
    assert moved(requests, family="v2_manifest", method="PUT", status="201") == 1
    assert moved(requests, family="v2_manifest", method="GET", status="200") == 1
    assert moved(requests, family="v2_manifest", method="HEAD", status="200") == 1
    assert moved(requests, family="v2_manifest", method="GET", status="404") == 1
    assert moved(requests, family="v2_blob", method="GET", status="200") == 2
    assert moved(requests, family="v2_blob") == 2
    # The scrape before this one was counted once it had been answered.
    assert moved(requests, family="metrics", method="GET", status="200") == 1
    received = "moorage_http_received_bytes_total"
    sent = "moorage_http_sent_bytes_total"
    assert moved(received, family="v2_upload") == len(config) + len(layer)
    assert moved(received, family="v2_manifest") == len(body)
    assert moved(sent, family="v2_blob") == len(config) + len(layer)
    # The manifest once (HEAD sends no body) and the 404's error envelope.
    assert moved(sent, family="v2_manifest") > len(body)
    latency = "moorage_http_request_duration_seconds"
    assert moved(latency + "_count", family="v2_blob") == 2
    assert moved(latency + "_count", family="v2_manifest") == 4
    assert moved(latency + "_bucket", family="v2_blob", le="+Inf") == 2
    assert moved(latency + "_sum", family="v2_blob") > 0


def test_label_cardinality_stays_bounded_whatever_the_paths(app: ThreadedApp) -> None:
    rng = random.Random(13)
    alphabet = string.ascii_letters + string.digits + "-._~%"
    paths = []
    for _ in range(100):
        parts = ["".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(4)]
        prefix = rng.choice(["", "/v2", "/api/v0", "/enzi/v0", "/auth", "/v2/_trust"])
        paths.append(prefix + "/" + "/".join(parts))
    with app.client(auth=None) as anonymous:
        for path in paths:
            anonymous.request(rng.choice(["GET", "HEAD", "BREW", "DELETE"]), path)
    with app.client() as c:
        text = c.get("/metrics").text
    samples = parse(text)
    families = {dict(ls).get("family") for (n, ls) in samples if n.startswith("moorage_http_")}
    assert families <= set(FAMILIES)
    methods = {dict(ls).get("method") for (n, ls) in samples if n == "moorage_http_requests_total"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "BREW" not in methods
    series = [ls for (n, ls) in samples if n == "moorage_http_requests_total"]
    assert len(series) < 100
    assert not any(path in text for path in paths)  # never a path in a label


# ---- database figures ------------------------------------------------------------------------


async def _seed_jobs(db: Database) -> None:
    now = utcnow()
    started = now - dt.timedelta(seconds=42)
    base = {"scheduled_at": now, "run_after": now, "updated_at": now}
    rows = [
        {"id": "job-wait-1", "action": "tagprune", "status": "waiting", **base},
        {"id": "job-wait-2", "action": "tagprune", "status": "waiting", **base},
        {"id": "job-wait-3", "action": "scan", "status": "waiting", **base},
        {"id": "job-err-1", "action": "webhook", "status": "errored", **base},
        {"id": "job-dead-1", "action": "webhook", "status": "worker_dead", **base},
        {
            "id": "job-gc-old",
            "action": "onlinegc",
            "status": "errored",
            **base,
            "started_at": started - dt.timedelta(hours=1),
            "ended_at": started - dt.timedelta(hours=1),
        },
        {
            "id": "job-gc-1",
            "action": "onlinegc",
            "status": "done",
            **base,
            "started_at": started,
            "ended_at": now,
        },
    ]
    result = {"blobsDeleted": 4, "blobBytesDeleted": 4096, "manifestsDeleted": 2, "dryRun": False}
    async with db.write() as conn:
        for row in rows:
            await conn.execute(insert(jt.jobs).values(**row))
        for line, data in enumerate(
            ["online GC grace 0s", f"finished: x; result {json.dumps(result)}"]
        ):
            await conn.execute(
                insert(jt.job_logs).values(job_id="job-gc-1", line=line, created_at=now, data=data)
            )


async def test_job_upload_gc_and_replica_gauges_match_the_database(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data", job_workers=0) as app, app.client() as c:
        db = Database(app.settings.database_url)
        try:
            await _seed_jobs(db)
            for name in ("metrics/up-a", "metrics/up-b"):
                r = await c.post(f"/v2/{name}/blobs/uploads/")
                assert r.status_code == 202, r.text
            r = await c.patch(
                r.headers["Location"],
                content=b"x" * 1000,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 202, r.text
            samples = await scrape(c)
            async with db.read() as conn:
                open_uploads = (
                    await conn.execute(select(func.count()).select_from(uploads))
                ).scalar()
                by_status = select(
                    jt.jobs.c.action, jt.jobs.c.status, func.count().label("n")
                ).group_by(jt.jobs.c.action, jt.jobs.c.status)
                grouped = [(r.action, r.status, r.n) for r in await conn.execute(by_status)]
            replicas = await replica_heartbeats.list_all(db)
        finally:
            await db.close()
    assert total(samples, "moorage_uploads_open") == open_uploads == 2
    assert total(samples, "moorage_uploads_open_bytes") == 1000
    for action, status, count in grouped:
        assert total(samples, "moorage_jobs", action=action, status=status) == count
    assert total(samples, "moorage_jobs") == sum(row[2] for row in grouped)
    waiting = sum(row[2] for row in grouped if row[1] == "waiting")
    assert total(samples, "moorage_jobs_queue_depth") == waiting == 3
    assert total(samples, "moorage_jobs_waiting", action="tagprune") == 2
    assert total(samples, "moorage_jobs_failed", action="webhook") == 2
    assert total(samples, "moorage_gc_last_run_success") == 1
    assert 41 <= total(samples, "moorage_gc_last_run_duration_seconds") <= 60
    assert total(samples, "moorage_gc_last_run_timestamp_seconds") > 0
    assert total(samples, "moorage_gc_last_run_deleted", kind="blobs") == 4
    assert total(samples, "moorage_gc_last_run_deleted", kind="manifests") == 2
    assert total(samples, "moorage_gc_last_run_deleted_bytes", kind="blobs") == 4096
    assert total(samples, "moorage_gc_last_run_dry_run") == 0
    assert replicas and total(samples, "moorage_replicas", kind="serve", health="healthy") == len(
        replicas
    )
    assert total(samples, "moorage_replica_heartbeat_age_seconds", replica=replicas[0].id) >= 0
    assert total(samples, "moorage_db_pool_size") >= 1
    assert ("moorage_db_pool_checked_out", frozenset()) in samples
    assert total(samples, "moorage_info") == 1


# ---- access ------------------------------------------------------------------------------------


def _dtr_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["code"] == code, response.text
    assert "moorage_http_requests" not in response.text


async def test_admin_default_refuses_anonymous_and_non_admins(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data") as app:
        user = await new_user(app, "metrics-reader")
        async with app.client() as admin:
            r = await admin.get("/metrics")
            assert r.status_code == 200
            parse(r.text)
        async with app.client(auth=None) as anonymous:
            r = await anonymous.get("/metrics")
            _dtr_error(r, 401, "NOT_AUTHENTICATED")
            assert r.headers["www-authenticate"].startswith("Basic")
            r = await anonymous.get("/metrics", auth=("admin", "wrong password"))
            assert r.status_code == 401
            assert "moorage_http" not in r.text
        # An administrator's access token, as Prometheus' basic_auth password, is let in.
        token = (await access_token(app, app.admin, "prometheus"))["token"]
        async with app.client(auth=("admin", token)) as prometheus:
            assert (await prometheus.get("/metrics")).status_code == 200
        async with app.client(auth=user) as reader:
            _dtr_error(await reader.get("/metrics"), 403, "NOT_AUTHORIZED")
        # A registry bearer token is for /v2 only, an administrator's too.
        token = await bearer_token(app, app.admin, "registry:catalog:*")
        async with app.client(auth=None, headers={"Authorization": f"Bearer {token}"}) as bearer:
            r = await bearer.get("/metrics")
            assert r.status_code == 401
            assert "moorage_http" not in r.text


async def test_public_lets_anyone_read(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path / "data", metrics_access="public") as app,
        app.client(auth=None) as anonymous,
    ):
        r = await anonymous.get("/metrics")
        assert r.status_code == 200
        assert total(parse(r.text), "moorage_info") == 1


async def test_off_is_not_found(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path / "data", metrics_access="off") as app,
        app.client() as admin,
    ):
        r = await admin.get("/metrics")
        assert r.status_code == 404
        assert "moorage_http" not in r.text


async def test_listed_network_reads_without_credentials_and_spoofing_does_not(
    tmp_path: Path,
) -> None:
    settings: dict[str, Any] = {
        "metrics_networks": ["10.9.0.0/16", "2001:db8::/32"],
        "trusted_proxies": ["192.0.2.1"],
    }
    async with running_app(tmp_path / "data", **settings) as app:

        async def status(peer: str, headers: dict[str, str] | None = None) -> int:
            async with from_address(app, peer, headers=headers or {}) as c:
                r = await c.get("/metrics")
                if r.status_code == 200:
                    parse(r.text)
                else:
                    assert "moorage_http" not in r.text
                return r.status_code

        assert await status("10.9.4.5") == 200
        assert await status("2001:db8::7") == 200
        assert await status("::ffff:10.9.4.5") == 200
        assert await status("10.8.4.5") == 401
        # An untrusted peer's forwarded headers are dropped: no network access from them.
        spoofed = {
            "X-Forwarded-For": "10.9.4.5",
            "Forwarded": "for=10.9.4.5",
            "X-Real-IP": "10.9.4.5",
        }
        assert await status("203.0.113.9", spoofed) == 401
        assert await status("203.0.113.9", {"X-Forwarded-For": "10.9.4.5"}) == 401
        # A trusted proxy speaks for the client: its forwarded address counts, either way.
        assert await status("192.0.2.1", {"X-Forwarded-For": "10.9.4.5"}) == 200
        assert await status("192.0.2.1", {"X-Forwarded-For": "203.0.113.9"}) == 401
        # The proxy's own address is not in the list: without a forwarded client, refused.
        assert await status("192.0.2.1") == 401


# ---- several serving processes ---------------------------------------------------------------


def test_counts_add_up_across_worker_processes(
    registry_factory: Callable[..., RunningRegistry],
) -> None:
    reg = registry_factory(workers=2)
    folders = list((reg.data / "metrics").iterdir())
    assert len(folders) == 1
    folder = folders[0]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    with reg.client() as c:
        before = scrape_sync(c)
    pings = 0

    def ping_once(_: int) -> int:
        # "Connection: close": each request on a new connection, which either worker may accept.
        with httpx.Client(base_url=reg.url, timeout=30.0, headers={"Connection": "close"}) as c:
            return c.get("/_ping").status_code

    # Which worker accepts a connection is the kernel's choice: send batches side by side until
    # both have served some (bounded), so the sum below really is over two processes.
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(25):
            assert set(pool.map(ping_once, range(16))) == {200}
            pings += 16
            if len({f.name for f in folder.glob("counter_*.db")}) == 2:
                break
    counted = []
    with reg.client(headers={"Connection": "close"}) as c:
        for _ in range(6):  # each scrape on a new connection: whichever worker answers
            counted.append(scrape_sync(c))
    ping = "moorage_http_requests_total"
    for after in counted:
        assert total(after, ping, family="ping") - total(before, ping, family="ping") == pings
        # One set of database figures, not one per process.
        assert total(after, "moorage_info") == 1
    # Both workers served some of them: each wrote its counters to a file of its own.
    pids = {f.name.rsplit("_", 1)[-1] for f in folder.glob("counter_*.db")}
    assert len(pids) == 2, sorted(f.name for f in folder.iterdir())
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in folder.iterdir())
    assert total(counted[-1], "moorage_db_pool_size") >= 2  # the two pools, summed


def test_serve_empties_the_files_of_a_previous_run(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path, listen="[::1]:5000")
    folder = fresh_metrics_dir(settings)
    assert folder.parent == tmp_path.resolve() / "metrics"
    assert folder.name == "___1__5000"
    (folder / "counter_999999.db").write_bytes(b"stale")
    folder.parent.chmod(0o755)
    assert fresh_metrics_dir(settings) == folder
    assert list(folder.iterdir()) == []
    assert (
        stat.S_IMODE(folder.stat().st_mode) == stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    )
    other = fresh_metrics_dir(settings.model_copy(update={"listen": "127.0.0.1:5001"}))
    assert other != folder and folder.is_dir()


async def test_a_database_failure_still_answers_with_the_request_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(db: Database, *, heartbeat_interval: float) -> None:
        raise DatabaseUnavailable()

    async with running_app(tmp_path / "data") as app, app.client() as c:
        assert total(await scrape(c), "moorage_metrics_database_up") == 1
        monkeypatch.setattr("moorage.http.metrics.read_figures", unavailable)
        samples = await scrape(c)
    assert total(samples, "moorage_metrics_database_up") == 0
    assert total(samples, "moorage_http_requests_total", family="metrics") == 1
    assert total(samples, "moorage_jobs_queue_depth") == 0  # not reported at all


def test_live_gauges_of_dead_processes_are_forgotten(tmp_path: Path) -> None:
    dead, alive = (
        tmp_path / "gauge_livesum_4194999.db",
        tmp_path / f"gauge_livesum_{os.getpid()}.db",
    )
    counter = tmp_path / "counter_4194999.db"
    for path in (dead, alive, counter):
        path.write_bytes(b"")
    forget_dead_processes(tmp_path)
    assert not dead.exists()
    assert alive.exists() and counter.exists()
