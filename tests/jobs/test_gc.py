"""Online garbage collection (action ``onlinegc``) through DTR's jobs API, on a live registry:
it frees the bytes of deleted images and nothing else, dry runs free nothing, untagged manifests
go only when the setting says so (indexes keep their children, referrers go with their subject),
abandoned uploads go, a time budget stops it cleanly; and GC in a loop while clients push, pull
and delete images that share layers never loses an image whose push got its 201."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningRegistry
from tests.inprocess import InProcessApp
from tests.jobs.helpers import logs, submit, wait_status
from tests.registry.pushing import (
    OCI_MANIFEST,
    manifest_for,
    patch_chunk,
    push_blob,
    push_image,
    put_manifest,
    sha256,
    start_upload,
)

KiB = 1024
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(scope="module")
def registry(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(env={"MOORAGE_JOB_POLL_SECONDS": "0.2", "MOORAGE_WORKERS": "2"})


def run_gc(c: httpx.Client, timeout: float = 60.0, **parameters: Any) -> dict[str, Any]:
    queued = submit(c, "onlinegc", parameters=parameters)
    done = wait_status(c, queued["id"], ("done", "errored", "canceled"), timeout=timeout)
    lines = logs(c, queued["id"])
    assert done["status"] == "done", (done, lines)
    final = [line for line in lines if "result {" in line]
    assert final, lines
    result: dict[str, Any] = json.loads(final[-1].split("result ", 1)[1])
    result["_lines"] = lines
    return result


def blob_file(reg: RunningRegistry, digest: str) -> Path:
    hexpart = digest.split(":", 1)[1]
    return reg.data / "storage" / "blobs" / "sha256" / hexpart[:2] / hexpart / "data"


def pull_ok(c: httpx.Client, name: str, tag: str, body: bytes, blobs: dict[str, bytes]) -> None:
    r = c.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, (name, tag, r.status_code, r.text[:200])
    assert r.content == body
    for digest, data in blobs.items():
        got = c.get(f"/v2/{name}/blobs/{digest}")
        assert got.status_code == 200, (name, tag, digest, got.status_code)
        assert got.content == data, (name, tag, digest)


def test_gc_frees_bytes_of_deleted_images_only(registry: RunningRegistry) -> None:
    with registry.client() as c:
        shared = os.urandom(200 * KiB)
        gone_layer, gone_config = (
            os.urandom(300 * KiB),
            b'{"gc":"gone","r":"%s"}' % os.urandom(4).hex().encode(),
        )
        kept_layer, kept_config = os.urandom(100 * KiB), b'{"gc":"kept"}'
        gone_digest, gone_body = push_image(c, "gc/gone", "v1", gone_config, [shared, gone_layer])
        kept_digest, kept_body = push_image(c, "gc/kept", "v1", kept_config, [shared, kept_layer])
        r = c.delete(f"/v2/gc/gone/manifests/{gone_digest}")
        assert r.status_code == 202, r.text
        unique = [sha256(gone_layer), sha256(gone_config), gone_digest]
        for digest in unique:
            assert blob_file(registry, digest).exists()

        dry = run_gc(c, dryRun=True, gracePeriodSeconds=0, uploadMaxAgeSeconds=3600)
        assert dry["dryRun"] is True
        assert dry["blobBytesDeleted"] >= len(gone_layer) + len(gone_config)
        assert any("would free" in line for line in dry["_lines"])
        for digest in unique:
            assert blob_file(registry, digest).exists(), "a dry run deleted bytes"
        assert c.get(f"/v2/gc/gone/blobs/{sha256(gone_layer)}").status_code == 200

        real = run_gc(c, gracePeriodSeconds=0, uploadMaxAgeSeconds=3600)
        assert real["bytesFreed"] >= len(gone_layer) + len(gone_config) + len(gone_body)
        assert real["filesDeleted"] >= 3
        for digest in unique:
            assert not blob_file(registry, digest).exists(), digest
            assert not blob_file(registry, digest).parent.exists()
        assert c.get(f"/v2/gc/gone/blobs/{sha256(gone_layer)}").status_code == 404
        assert blob_file(registry, sha256(shared)).exists()
        pull_ok(
            c,
            "gc/kept",
            "v1",
            kept_body,
            {
                sha256(shared): shared,
                sha256(kept_layer): kept_layer,
                sha256(kept_config): kept_config,
            },
        )
        assert kept_digest

        # The registry takes the same content again after its bytes were freed.
        again, body = push_image(c, "gc/gone", "v2", gone_config, [shared, gone_layer])
        assert again == gone_digest
        pull_ok(
            c,
            "gc/gone",
            "v2",
            body,
            {sha256(shared): shared, sha256(gone_layer): gone_layer},
        )


def test_grace_period_keeps_young_content(registry: RunningRegistry) -> None:
    with registry.client() as c:
        layer = os.urandom(50 * KiB)
        digest = push_blob(c, "gc/young", layer)  # linked, no manifest yet
        run_gc(c, gracePeriodSeconds=3600)
        assert blob_file(registry, digest).exists()
        assert c.get(f"/v2/gc/young/blobs/{digest}").content == layer


def _set(c: httpx.Client, **settings: Any) -> None:
    r = c.post("/api/v0/meta/settings", json=settings)
    assert r.status_code == 202, r.text


def test_untagged_manifests_indexes_and_referrers(registry: RunningRegistry) -> None:
    name = "gc/untagged"
    with registry.client() as c:
        config = b'{"untagged":1}'
        layer = os.urandom(10 * KiB)
        push_blob(c, name, config)
        push_blob(c, name, layer)
        loose = manifest_for(config, [layer], annotations={"n": "loose"})
        loose_digest = put_manifest(c, name, sha256(loose), loose)
        # An index (tagged) whose children were pushed by digest.
        kids = [manifest_for(config, [layer], annotations={"n": f"kid{i}"}) for i in range(2)]
        kid_digests = [put_manifest(c, name, sha256(k), k) for k in kids]
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": d,
                        "size": len(k),
                        "platform": {"os": "linux", "architecture": a},
                    }
                    for d, k, a in zip(kid_digests, kids, ("amd64", "arm64"), strict=True)
                ],
            }
        ).encode()
        r = c.put(f"/v2/{name}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
        assert r.status_code == 201, r.text
        # A tagged image with a referrer (a signature-like artifact).
        subject_body = manifest_for(config, [layer], annotations={"n": "subject"})
        subject = put_manifest(c, name, "signed", subject_body)
        referrer = manifest_for(
            config,
            [layer],
            subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
            artifactType="application/vnd.example.sig",
        )
        referrer_digest = put_manifest(c, name, sha256(referrer), referrer)

        def present(digest: str) -> bool:
            return c.head(f"/v2/{name}/manifests/{digest}").status_code == 200

        run_gc(c, gracePeriodSeconds=0, uploadMaxAgeSeconds=3600)
        assert present(loose_digest), "untagged manifests are kept unless the setting says so"
        _set(c, gcCollectUntaggedManifests=True)
        try:
            result = run_gc(c, gracePeriodSeconds=0, uploadMaxAgeSeconds=3600)
            assert result["manifestsDeleted"] >= 1
            assert not present(loose_digest)
            assert all(present(d) for d in kid_digests), "an index keeps its children"
            assert present(referrer_digest), "a referrer of a tagged manifest stays"
            assert c.delete(f"/v2/{name}/manifests/signed").status_code == 202  # untag
            run_gc(c, gracePeriodSeconds=0, uploadMaxAgeSeconds=3600)
            assert not present(subject)
            assert not present(referrer_digest), "a referrer goes with its subject"
            assert all(present(d) for d in kid_digests)
        finally:
            _set(c, gcCollectUntaggedManifests=False)


def test_abandoned_uploads(registry: RunningRegistry) -> None:
    with registry.client() as c:
        location = start_upload(c, "gc/uploads")
        assert patch_chunk(c, location, os.urandom(20 * KiB), 0).status_code == 202
        upload_id = location.rstrip("/").rsplit("/", 1)[1].split("?")[0]
        folder = registry.data / "storage" / "uploads" / upload_id
        assert folder.exists()
        stray = registry.data / "storage" / "uploads" / str(uuid.uuid4())
        stray.mkdir(parents=True)
        (stray / "data").write_bytes(b"x" * 1000)
        old = time.time() - 7200
        os.utime(stray / "data", (old, old))
        young = registry.data / "storage" / "uploads" / str(uuid.uuid4())
        young.mkdir(parents=True)
        (young / "data").write_bytes(b"y")

        kept = run_gc(c, gracePeriodSeconds=3600, uploadMaxAgeSeconds=3600)
        assert folder.exists() and young.exists()
        assert not stray.exists(), "an old upload folder without a row goes"
        assert kept["uploadsDeleted"] >= 1

        time.sleep(1.1)
        os.utime(young / "data")  # written to just now
        result = run_gc(c, gracePeriodSeconds=3600, uploadMaxAgeSeconds=1)
        assert result["uploadsDeleted"] >= 1
        assert not folder.exists()
        assert c.get(location).status_code == 404
        assert young.exists(), "a young folder without a row may be a push in flight"
        stale_young = run_gc(c, gracePeriodSeconds=3600, uploadMaxAgeSeconds=3600)
        assert young.exists() and stale_young["uploadsDeleted"] == 0


def test_time_budget_stops_cleanly(registry: RunningRegistry) -> None:
    with registry.client() as c:
        result = run_gc(c, gracePeriodSeconds=0, budgetSeconds=0.000001)
        assert result["stopped"] is True
        assert any(line.startswith("stopped") for line in result["_lines"])
        bad = c.post(
            "/api/v0/jobs", json={"action": "onlinegc", "parameters": {"budgetSeconds": -1}}
        )
        assert bad.status_code == 400


# ---- the race --------------------------------------------------------------------------------

RACE_SECONDS = 20.0
PUSHERS = 4
GRACE = 2


@dataclass
class Image:
    name: str
    tag: str
    digest: str
    body: bytes
    blobs: dict[str, bytes]
    keep: bool


@dataclass
class RaceLedger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: list[Image] = field(default_factory=list)
    deleted: int = 0
    push_failures: list[str] = field(default_factory=list)
    pull_failures: list[str] = field(default_factory=list)
    pulls: int = 0
    gc_runs: int = 0
    gc_errors: list[str] = field(default_factory=list)
    freed_files: int = 0
    churn_gone: set[str] = field(default_factory=set)  # churn layers whose bytes GC deleted


def _pusher(
    reg: RunningRegistry,
    n: int,
    pool: list[bytes],
    churn: list[bytes],
    ledger: RaceLedger,
    stop: threading.Event,
) -> None:
    rng = random.Random(n)
    mine: list[Image] = []
    with reg.client(timeout=30.0) as c:
        i = 0
        while not stop.is_set() and i < 500:
            i += 1
            name = f"race/r{rng.randrange(2)}"
            keep = i % 3 != 0
            # Kept images share the pool; the others share churn layers, which become garbage
            # (rows and bytes deleted) and are pushed again while GC runs.
            shared = rng.sample(pool, 2) if keep else [rng.choice(churn)]
            layers = [*shared, os.urandom(rng.randrange(1, 64) * KiB)]
            config = json.dumps({"pusher": n, "i": i, "r": os.urandom(4).hex()}).encode()
            tag = f"p{n}-{i}"
            try:
                digest, body = push_image(c, name, tag, config, layers)
            except (AssertionError, httpx.HTTPError) as exc:
                with ledger.lock:
                    ledger.push_failures.append(f"{name}:{tag}: {str(exc)[:200]}")
                continue
            image = Image(
                name,
                tag,
                digest,
                body,
                {sha256(b): b for b in (config, *layers)},
                keep=keep,
            )
            with ledger.lock:
                ledger.live.append(image)
            mine.append(image)
            # Delete an older image of ours now and then: its layers become garbage, while the
            # shared ones stay referenced elsewhere and get pushed again.
            deletable = [m for m in mine if not m.keep]
            if deletable and rng.random() < 0.7:
                victim = deletable[0]
                try:
                    pull_ok(c, victim.name, victim.tag, victim.body, victim.blobs)
                except (AssertionError, httpx.HTTPError) as exc:
                    with ledger.lock:
                        ledger.pull_failures.append(str(exc)[:300])
                with ledger.lock:
                    ledger.live.remove(victim)
                mine.remove(victim)
                r = c.delete(f"/v2/{victim.name}/manifests/{victim.digest}")
                if r.status_code == 202:
                    with ledger.lock:
                        ledger.deleted += 1


def _puller(reg: RunningRegistry, ledger: RaceLedger, stop: threading.Event) -> None:
    rng = random.Random(99)
    with reg.client(timeout=30.0) as c:
        while not stop.is_set():
            with ledger.lock:
                keepers = [m for m in ledger.live if m.keep]
            if not keepers:
                time.sleep(0.05)
                continue
            image = rng.choice(keepers)
            try:
                pull_ok(c, image.name, image.tag, image.body, image.blobs)
                with ledger.lock:
                    ledger.pulls += 1
            except (AssertionError, httpx.HTTPError) as exc:
                with ledger.lock:
                    ledger.pull_failures.append(str(exc)[:300])


def _collector(
    reg: RunningRegistry, churn: list[str], ledger: RaceLedger, stop: threading.Event
) -> None:
    with reg.client(timeout=30.0) as c:
        while not stop.is_set():
            try:
                result = run_gc(c, timeout=120, gracePeriodSeconds=GRACE, uploadMaxAgeSeconds=60)
            except AssertionError as exc:
                with ledger.lock:
                    ledger.gc_errors.append(str(exc)[:500])
                continue
            with ledger.lock:
                ledger.gc_runs += 1
                ledger.freed_files += int(result["filesDeleted"])
                ledger.churn_gone.update(d for d in churn if not blob_file(reg, d).exists())


@pytest.mark.slow
def test_gc_loop_never_loses_an_acknowledged_image(registry: RunningRegistry) -> None:
    pool = [os.urandom(size * KiB) for size in (64, 96, 128, 160, 192, 256)]
    churn = [os.urandom(size * KiB) for size in range(32, 32 + 8 * 16, 16)]
    churn_digests = [sha256(b) for b in churn]
    ledger = RaceLedger()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_pusher, args=(registry, n, pool, churn, ledger, stop), daemon=True)
        for n in range(PUSHERS)
    ]
    threads.append(threading.Thread(target=_puller, args=(registry, ledger, stop), daemon=True))
    threads.append(
        threading.Thread(
            target=_collector, args=(registry, churn_digests, ledger, stop), daemon=True
        )
    )
    for th in threads:
        th.start()
    time.sleep(RACE_SECONDS)
    stop.set()
    for th in threads:
        th.join(timeout=150)
        assert not th.is_alive()

    # Let every tombstone age past the grace period and collect again, then check everything.
    with registry.client(timeout=60.0) as c:
        for _ in range(2):
            time.sleep(GRACE + 0.5)
            ledger.freed_files += int(
                run_gc(c, gracePeriodSeconds=GRACE, uploadMaxAgeSeconds=60)["filesDeleted"]
            )
        assert not ledger.gc_errors, ledger.gc_errors
        assert not ledger.pull_failures, ledger.pull_failures[:5]
        assert ledger.gc_runs >= 3, ledger.gc_runs
        assert len(ledger.live) >= 20, (len(ledger.live), ledger.push_failures[:5])
        assert ledger.deleted >= 5
        assert ledger.freed_files > 0, "GC freed nothing: the test did not exercise it"
        assert ledger.churn_gone, "no shared layer was ever collected and pushed again"
        # Pushes may be refused in the race (and the client retries), never acknowledged and lost.
        assert len(ledger.push_failures) <= len(ledger.live) // 4, ledger.push_failures[:5]
        for image in ledger.live:
            pull_ok(c, image.name, image.tag, image.body, image.blobs)
    print(
        f"race: {len(ledger.live)} images kept, {ledger.deleted} deleted, {ledger.pulls} pulls, "
        f"{ledger.gc_runs} GC runs, {ledger.freed_files} files freed, "
        f"{len(ledger.push_failures)} pushes refused, "
        f"{len(ledger.churn_gone)} of {len(churn)} churn layers collected at some point"
    )


# ---- the summary: what was freed, what was kept and why ---------------------------------------


def _summary(result: dict[str, Any]) -> str:
    last = [line for line in result["_lines"] if "; result {" in line][-1]  # GC's last line
    assert last.startswith("finished: "), last
    summary = last.removeprefix("finished: ").split("; result {", 1)[0]
    assert summary == result["summary"]
    return summary


def test_summary_explains_a_run_that_frees_nothing(registry: RunningRegistry) -> None:
    """Right after an image is deleted GC frees nothing: the summary says what it kept and why
    (the grace period), and when its bytes go (one grace period after their rows)."""
    with registry.client() as c:
        layer = os.urandom(1024 * KiB)
        config = b'{"gc":"summary","r":"%s"}' % os.urandom(4).hex().encode()
        digest, _ = push_image(c, "gc/summary", "v1", config, [layer])
        assert c.delete(f"/v2/gc/summary/manifests/{digest}").status_code == 202
        first = run_gc(c, gracePeriodSeconds=2)
        text = _summary(first)
        assert text.startswith("freed 0 B"), text
        assert "younger than the 2 s grace period" in text and first["blobsYoung"] >= 3, text
        time.sleep(2.5)
        second = run_gc(c, gracePeriodSeconds=2)
        text = _summary(second)
        assert second["blobsDeleted"] >= 3 and second["bytesPending"] >= 3, second
        assert "keep their bytes for the 2 s grace period: a run after " in text, text
        assert blob_file(registry, sha256(layer)).exists()
        time.sleep(2.5)
        third = run_gc(c, gracePeriodSeconds=2)
        text = _summary(third)
        assert third["filesDeleted"] >= 3, third
        assert text.startswith("freed 1 MiB") or text.startswith("freed 1.1 MiB"), text
        assert not blob_file(registry, sha256(layer)).exists()


async def test_gc_form_shows_the_grace_period_and_the_job_page_the_summary(
    inproc: InProcessApp,
) -> None:
    from tests.gc_inproc import csrf_of, push_and_delete, ui_client

    async with inproc.client() as c:
        await push_and_delete(c, "gc/ui", 512 * KiB)
    ui = await ui_client(inproc, *inproc.admin)
    try:
        page = await ui.get("/jobs")
        assert page.status_code == 200
        form = page.text.split('id="run-gc"', 1)[1].split("</form>", 1)[0]
        assert "Grace period: <strong>1 h</strong>" in form
        r = await ui.post("/jobs", data={"csrf": csrf_of(page)})
        assert r.status_code == 303
        job_url = r.headers["location"]
        deadline = time.monotonic() + 30
        while True:
            job_page = await ui.get(job_url)
            if 'id="job-status">done' in job_page.text:
                break
            assert time.monotonic() < deadline, job_page.text[-2000:]
            await asyncio.sleep(0.2)
        log = job_page.text.split('id="job-log">', 1)[1]
        assert "finished: freed 0 B" in log
        assert "kept 3 blobs (512.5 KiB) younger than the 1 h grace period" in log, log[-3000:]
    finally:
        await ui.aclose()
