"""Scanned images by CVE (any of a finding's IDs), by component, by layer and by licence, across
the repositories the caller may pull and no others, a page at a time; and the scan requests
(``POST scan/...`` queues ``scan`` for writers of the repository, ``POST scan`` queues
``scanall`` for administrators)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from moorage.db import job_tables as jt
from tests.http import scan_results as seed
from tests.http.scan_results import Pkg, Vuln
from tests.http.scan_world import BASE, build, error_of
from tests.http.ui import content
from tests.inprocess import InProcessApp, running_app


def found(r: httpx.Response) -> list[tuple[str, str, str]]:
    assert r.status_code == 200, r.text
    return [(s["namespace"] + "/" + s["reponame"], s["tag"], s["manifestDigest"]) for s in r.json()]


async def test_by_cve_finds_every_alias_in_visible_repositories_only(inproc: InProcessApp) -> None:
    w = await build(inproc)
    expected_alice = [
        ("admin/public", "latest", w.public.digest),
        ("alice/app", "v1", w.app.digest),
    ]
    async with inproc.client(auth=w.alice) as c:
        by_cve = await c.get(f"{BASE}/scansummary/cve/CVE-2023-5678", params={"count": "true"})
        by_dsa = await c.get(f"{BASE}/scansummary/cve/DSA-5532-1")
        lower = await c.get(f"{BASE}/scansummary/cve/cve-2023-5678")
        by_alias = await c.get(f"{BASE}/scansummary/cve/CVE-2023-32681")
        nothing = await c.get(f"{BASE}/scansummary/cve/CVE-1999-0001")
    assert found(by_cve) == expected_alice
    assert by_cve.headers["X-Resource-Count"] == "2"  # bob's image is not even counted
    assert found(by_dsa) == expected_alice and found(lower) == expected_alice
    assert found(by_alias) == [("alice/app", "v1", w.app.digest)]  # the GHSA's CVE alias
    assert found(nothing) == []
    # A search result is a summary without the layer details.
    first = by_cve.json()[0]
    assert first["critical"] == 1 and "layer_details" not in first
    assert first["scannedImage"]["cves"][0]["cvePK"] == "CVE-2023-5678"
    async with inproc.client(auth=w.bob) as c:
        assert found(await c.get(f"{BASE}/scansummary/cve/CVE-2023-5678")) == [
            ("admin/public", "latest", w.public.digest),
            ("bob/secret", "v1", w.secret.digest),
        ]
    async with inproc.client() as admin:
        assert len(found(await admin.get(f"{BASE}/scansummary/cve/CVE-2023-5678"))) == 3


@pytest.mark.parametrize(
    "path",
    [
        "cve/CVE-2023-5678",
        "component/libssl3",
        "license/OpenSSL",
        "layer/sha256:" + "0" * 64,
    ],
)
async def test_searches_refuse_anonymous_callers(inproc: InProcessApp, path: str) -> None:
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.get(f"{BASE}/scansummary/{path}"), 401, "NOT_AUTHENTICATED")


async def test_by_component_layer_and_licence(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        ssl = await c.get(f"{BASE}/scansummary/component/libssl3")
        versioned = await c.get(
            f"{BASE}/scansummary/component/libssl3", params={"version": "3.0.11-1~deb12u2"}
        )
        wrong_version = await c.get(
            f"{BASE}/scansummary/component/libssl3", params={"version": "1"}
        )
        scoped, scoped_layers = await seed.image(c, "alice/app", "node")
        await seed.scan(
            inproc, scoped, scoped_layers, [Pkg("@types/node", "20.1.0", 0, type="npm")]
        )
        npm = await c.get(f"{BASE}/scansummary/component/@types/node")
        layer = await c.get(f"{BASE}/scansummary/layer/{w.app.layers[1]}")
        hidden_layer = await c.get(f"{BASE}/scansummary/layer/{w.secret.layers[0]}")
        licence = await c.get(f"{BASE}/scansummary/license/apache-2.0")
        wildcard = await c.get(f"{BASE}/scansummary/license/%25")
    app = ("alice/app", "v1", w.app.digest)
    assert found(ssl) == [app] and found(versioned) == [app] and found(wrong_version) == []
    assert found(npm) == [("alice/app", "node", scoped)]
    assert found(layer) == [app]
    # bob's layer is bob's: for alice it does not exist.
    error_of(hidden_layer, 404, "NO_SUCH_LAYER")
    assert found(licence) == [app]
    assert found(wildcard) == []  # % is a character of the licence, not a pattern
    async with inproc.client(auth=w.bob) as c:
        assert found(await c.get(f"{BASE}/scansummary/layer/{w.secret.layers[0]}")) == [
            ("bob/secret", "v1", w.secret.digest)
        ]


async def test_search_pages_and_counts(inproc: InProcessApp) -> None:
    cve = Vuln("CVE-2024-9999", "major", 5.0)
    async with inproc.client() as admin:
        await content.repository(admin, "admin", "many", "private")
        digests = []
        for n in range(5):
            digest, layers = await seed.image(admin, "admin/many", f"t{n}")
            await seed.scan(inproc, digest, layers, [Pkg("zlib1g", "1:1.2.13", 0, vulns=(cve,))])
            digests.append(digest)
        # One image under two tags, and one named by digest only.
        r = await admin.get(f"/v2/admin/many/manifests/{digests[0]}")
        await admin.put(
            "/v2/admin/many/manifests/t9",
            content=r.content,
            headers={"Content-Type": content.OCI_MANIFEST},
        )
        loose, loose_layers = await seed.image(admin, "admin/many", "scratch")
        await seed.scan(inproc, loose, loose_layers, [Pkg("zlib1g", "1:1.2.13", 0, vulns=(cve,))])
        assert (
            await admin.delete("/api/v0/repositories/admin/many/tags/scratch")
        ).status_code == 204

        seen: list[tuple[str, str, str]] = []
        start = None
        for _ in range(10):
            params = {"pageSize": "2", "count": "true", **({"pageStart": start} if start else {})}
            r = await admin.get(f"{BASE}/scansummary/cve/CVE-2024-9999", params=params)
            assert r.headers["X-Resource-Count"] == "7"
            seen += found(r)
            start = r.headers.get("X-Next-Page-Start")
            if not start:
                break
        bad = await admin.get(f"{BASE}/scansummary/cve/CVE-2024-9999", params={"pageStart": "!!"})
        too_big = await admin.get(
            f"{BASE}/scansummary/cve/CVE-2024-9999", params={"pageSize": "101"}
        )
    expected = sorted(
        [("admin/many", f"t{n}", d) for n, d in enumerate(digests)]
        + [("admin/many", "t9", digests[0]), ("admin/many", "", loose)]
    )
    assert seen == expected
    error_of(bad, 400, "INVALID_PARAMETERS")
    error_of(too_big, 400, "INVALID_PARAMETERS")


async def test_an_index_platform_is_found_under_the_index_tag(inproc: InProcessApp) -> None:
    cve = Vuln("CVE-2024-1111", "minor", 2.0)
    async with inproc.client() as admin:
        amd, amd_layers = await seed.image(admin, "admin/multi", "amd64-only", arch="amd64")
        arm, _ = await seed.image(admin, "admin/multi", "arm64-only", arch="arm64")
        await content.index(admin, "admin/multi", "latest", [(amd, "amd64"), (arm, "arm64")])
        await seed.scan(inproc, amd, amd_layers, [Pkg("busybox", "1.36.1", 0, vulns=(cve,))])
        r = await admin.get(f"{BASE}/scansummary/cve/CVE-2024-1111")
    assert found(r) == [("admin/multi", "amd64-only", amd), ("admin/multi", "latest", amd)]
    assert [s["platform"] for s in r.json()] == ["", "linux/amd64"]


# ---- scan requests -------------------------------------------------------------------------


@pytest.fixture()
async def quiet(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    """The app without a job runner: what a request queued stays queued for the test to see."""
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as app:
        yield app


async def _jobs(inproc: InProcessApp, action: str) -> list[dict[str, object]]:
    rows = await seed.rows(inproc, jt.jobs, action=action)
    return [{"status": r.status, "parameters": r.parameters} for r in rows]


async def test_a_writer_queues_a_scan_of_one_platform(quiet: InProcessApp) -> None:
    inproc = quiet
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        r = await c.post(f"{BASE}/scan/alice/app/v1/linux/amd64")
        assert r.status_code == 200, r.text
        (job,) = r.json()["jobs"]
        assert job["action"] == "scan"
        assert job["parameters"] == {"digest": w.app.digest, "repository": "alice/app", "tag": "v1"}
        wrong = await c.post(f"{BASE}/scan/alice/app/v1/linux/arm64")
        error_of(wrong, 404, "NO_SUCH_TAG")
        error_of(await c.post(f"{BASE}/scan/alice/app/nope/linux/amd64"), 404, "NO_SUCH_TAG")
    async with inproc.client() as admin:
        amd, _ = await seed.image(admin, "admin/public", "amd")
        arm, _ = await seed.image(admin, "admin/public", "arm", arch="arm64")
        await content.index(admin, "admin/public", "multi", [(amd, "amd64"), (arm, "arm64")])
    async with inproc.client(auth=w.alice) as c:
        # Public: alice may pull it, not push to it.
        error_of(
            await c.post(f"{BASE}/scan/admin/public/latest/linux/amd64"), 403, "NOT_AUTHORIZED"
        )
        # Private to bob: for alice it does not exist.
        error_of(await c.post(f"{BASE}/scan/bob/secret/v1/linux/amd64"), 404, "NO_SUCH_REPOSITORY")
    async with inproc.client(auth=None) as anonymous:
        error_of(
            await anonymous.post(f"{BASE}/scan/admin/public/latest/linux/amd64"),
            401,
            "NOT_AUTHENTICATED",
        )
    async with inproc.client() as admin:
        r = await admin.post(f"{BASE}/scan/admin/public/multi/linux/arm64")
        assert [j["parameters"]["digest"] for j in r.json()["jobs"]] == [arm]
        assert r.json()["jobs"][0]["parameters"]["tag"] == "multi"
        # Until the job runs, the image reads as queued; a stored result would stay shown.
        r = await admin.get(
            f"{BASE}/scansummary/repositories/admin/public/multi", params={"arch": "arm64"}
        )
        assert [(s["status"], s["last_scan_status"]) for s in r.json()] == [("queued", 3)]
        r = await admin.get(f"{BASE}/scansummary/repositories/alice/app/v1")
        assert r.json()[0]["status"] == "scanned"
    queued = await _jobs(inproc, "scan")
    assert len(queued) == 2 and all(j["status"] == "waiting" for j in queued)


async def test_scan_everything_is_for_administrators(quiet: InProcessApp) -> None:
    inproc = quiet
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        error_of(
            await c.post(f"{BASE}/scan", json={"scan": True, "check": True}), 403, "NOT_AUTHORIZED"
        )
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.post(f"{BASE}/scan", json={}), 401, "NOT_AUTHENTICATED")
    assert await _jobs(inproc, "scanall") == []
    async with inproc.client() as admin:
        r = await admin.post(f"{BASE}/scan", json={"scan": False, "check": True})
        assert r.status_code == 200, r.text
        (job,) = r.json()["jobs"]
        assert job["action"] == "scanall" and job["parameters"]["scan"] is False
    assert len(await _jobs(inproc, "scanall")) == 1
