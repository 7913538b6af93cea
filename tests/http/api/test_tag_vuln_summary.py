"""DTR's ``vuln_summary`` on the tags API (``/api/v0/repositories/{ns}/{repo}/tags`` and
``.../tags/{reference}``): each manifest's counts, status, completion, staleness and foreign
layers, read in one statement per page whatever its size; an index's platforms combined on the
list and one summary per platform on a single tag; the OpenAPI document names the fields.
Results are seeded in the result tables (``tests/http/scan_results``)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx

from moorage.db import scan_tables as st
from tests.auth.creds_helpers import app_services
from tests.http import scan_results as seed
from tests.http.scan_results import Pkg, Vuln
from tests.http.scan_world import PACKAGES, build, error_of
from tests.http.test_request_cost import counted
from tests.http.ui import content
from tests.inprocess import InProcessApp

TAGS = "/api/v0/repositories"
NEVER = "0001-01-01T00:00:00.000Z"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SUMMARY = {
    "namespace", "reponame", "tag", "critical", "major", "minor", "last_scan_status",
    "check_completed_at", "should_rescan", "has_foreign_layers", "status", "manifestDigest",
    "platform",
}  # fmt: skip
_IMAGE_SCANS = re.compile(r"\bimage_scans\b")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
CRITICAL = Vuln("CVE-2024-9999", "critical", 9.8)


async def _tags(c: httpx.AsyncClient, repo: str, **params: Any) -> dict[str, dict[str, Any]]:
    r = await c.get(f"{TAGS}/{repo}/tags", params=params)
    assert r.status_code == 200, r.text
    return {entry["name"]: entry["vuln_summary"] for entry in r.json()}


async def _one(c: httpx.AsyncClient, repo: str, reference: str) -> list[dict[str, Any]]:
    r = await c.get(f"{TAGS}/{repo}/tags/{reference}")
    assert r.status_code == 200, r.text
    return [entry["vuln_summary"] for entry in r.json()]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = doc
    for part in schema.get("$ref", "").removeprefix("#/").split("/") if "$ref" in schema else []:
        found = found[part]
    return found if "$ref" in schema else schema


async def _set_generation(inproc: InProcessApp, generation: int) -> None:
    """The vulnerability database in force (as an import leaves it)."""
    async with app_services(inproc).db.write() as conn:
        status = st.vuln_db_status
        await conn.execute(status.update().where(status.c.id == 1).values(generation=generation))


async def test_each_tag_says_what_its_scan_found(inproc: InProcessApp) -> None:
    w = await build(inproc)  # alice/app:v1 scanned: 1 critical, 1 major, 1 minor
    async with inproc.client(auth=w.alice) as c:
        await seed.image(c, "alice/app", "v2")
        broken, broken_layers = await seed.image(c, "alice/app", "v3")
        old, old_layers = await seed.image(c, "alice/app", "v4")
    await seed.scan(inproc, broken, broken_layers, PACKAGES, status="failed", reason="bad tar")
    await seed.scan(inproc, w.app.digest, w.app.layers, PACKAGES, generation=2)
    await seed.scan(inproc, old, old_layers, PACKAGES[:1], generation=1)
    await _set_generation(inproc, 2)
    async with inproc.client(auth=w.alice) as c:
        listed = await _tags(c, "alice/app")
        full = await _tags(c, "alice/app", includeManifests="true")
        (single,) = await _one(c, "alice/app", "v1")
        (by_digest,) = await _one(c, "alice/app", w.app.digest)

    v1 = listed["v1"]
    assert set(v1) == SUMMARY and "layer_details" not in v1 and "reason" not in v1
    assert (v1["namespace"], v1["reponame"], v1["tag"]) == ("alice", "app", "v1")
    assert (v1["critical"], v1["major"], v1["minor"]) == (1, 1, 1)
    assert v1["status"] == "scanned" and v1["last_scan_status"] == 6
    assert RFC3339.match(v1["check_completed_at"]) and v1["check_completed_at"] != NEVER
    assert v1["should_rescan"] is False and v1["has_foreign_layers"] is False
    assert v1["manifestDigest"] == w.app.digest
    # without includeManifests (DTR's default) no config is read: the platform is unknown
    assert v1["platform"] == "" and full["v1"]["platform"] == "linux/amd64"
    assert full["v1"] == {**v1, "platform": "linux/amd64"}
    assert single == full["v1"]
    assert by_digest["tag"] == "v1" and by_digest["critical"] == 1  # the tag naming the digest

    never = listed["v2"]
    assert never["status"] == "not_scanned" and never["last_scan_status"] == 1
    assert (never["critical"], never["major"], never["minor"]) == (0, 0, 0)
    assert never["check_completed_at"] == NEVER and never["should_rescan"] is False

    failed = listed["v3"]
    assert failed["status"] == "failed" and failed["last_scan_status"] == 0
    assert failed["reason"] == "bad tar" and failed["should_rescan"] is True
    # A failed scan counts nothing, whatever rows a previous attempt left: never "0 found".
    assert (failed["critical"], failed["major"], failed["minor"]) == (0, 0, 0)

    stale = listed["v4"]  # matched against generation 1 while 2 is in force
    assert stale["status"] == "scanned" and stale["critical"] == 1
    assert stale["should_rescan"] is True


async def test_an_index_combines_its_platforms_and_a_tag_shows_each(
    inproc: InProcessApp,
) -> None:
    async with inproc.client() as admin:
        amd, amd_layers = await seed.image(admin, "admin/multi", "amd", arch="amd64")
        arm, arm_layers = await seed.image(admin, "admin/multi", "arm", arch="arm64")
        index = await content.index(
            admin, "admin/multi", "latest", [(amd, "amd64"), (arm, "arm64")]
        )
        await seed.scan(inproc, amd, amd_layers, PACKAGES)  # 1, 1, 1
        partly = (await _tags(admin, "admin/multi"))["latest"]
        arm_pkg = Pkg("libssl3", "3.0.0", 0, vulns=(CRITICAL, Vuln("CVE-2024-8888", "critical")))
        await seed.scan(inproc, arm, arm_layers, [arm_pkg])  # 2, 0, 0
        both = (await _tags(admin, "admin/multi"))["latest"]
        platforms = await _one(admin, "admin/multi", "latest")
        await seed.scan(inproc, arm, arm_layers, [], status="failed", reason="layer 1 unreadable")
        failing = (await _tags(admin, "admin/multi"))["latest"]

    assert partly["status"] == "partly_scanned" and partly["manifestDigest"] == index
    assert (partly["critical"], partly["major"], partly["minor"]) == (1, 1, 1)
    assert partly["last_scan_status"] == 1 and partly["platform"] == ""
    # The worst platform per level: arm's criticals, amd's major and minor.
    assert both["status"] == "scanned" and both["last_scan_status"] == 6
    assert (both["critical"], both["major"], both["minor"]) == (2, 1, 1)
    assert [(p["platform"], p["manifestDigest"], p["critical"]) for p in platforms] == [
        ("linux/amd64", amd, 1),
        ("linux/arm64", arm, 2),
    ]
    assert all(p["tag"] == "latest" and p["status"] == "scanned" for p in platforms)
    assert failing["status"] == "failed" and failing["should_rescan"] is True
    assert failing["reason"] == "linux/arm64: layer 1 unreadable"
    assert (failing["critical"], failing["major"], failing["minor"]) == (0, 0, 0)


async def test_foreign_layers_are_flagged_before_any_scan(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        layer = uuid.uuid4().bytes * 8
        layer_digest = await content.blob(admin, "admin/win", layer)
        config = json.dumps({"architecture": "amd64", "os": "windows"}).encode()
        config_digest = await content.blob(admin, "admin/win", config)
        foreign = "sha256:" + uuid.uuid4().hex * 2  # lives elsewhere: never pushed here
        await content.put_manifest(
            admin,
            "admin/win",
            "ltsc",
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": DOCKER_CONFIG,
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": DOCKER_FOREIGN,
                        "digest": foreign,
                        "size": 1024,
                        "urls": ["https://example.invalid/base-layer"],
                    },
                    {"mediaType": DOCKER_LAYER, "digest": layer_digest, "size": len(layer)},
                ],
            },
        )
        await seed.image(admin, "admin/win", "plain")
        listed = await _tags(admin, "admin/win")
    assert listed["ltsc"]["has_foreign_layers"] is True
    assert listed["ltsc"]["status"] == "not_scanned"
    assert listed["plain"]["has_foreign_layers"] is False


async def test_one_statement_per_page_whatever_its_size(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        pushed = [await seed.image(admin, "admin/many", f"t{i}", layers=1) for i in range(7)]
        for digest, layers in pushed[::2]:
            await seed.scan(inproc, digest, layers, PACKAGES[:1])
        amd, arm = pushed[0][0], pushed[1][0]
        await content.index(admin, "admin/many", "t9", [(amd, "amd64"), (arm, "arm64")])
        await _tags(admin, "admin/many")  # the caller's credentials verified and cached
        costs = {}
        for size, manifests in ((2, "false"), (8, "false"), (8, "true")):
            with counted(inproc) as cost:
                found = await _tags(admin, "admin/many", pageSize=size, includeManifests=manifests)
            assert len(found) == size
            costs[(size, manifests)] = cost
        with counted(inproc) as one_tag:
            assert len(await _one(admin, "admin/many", "t9")) == 2
    assert found["t0"]["status"] == "scanned" and found["t1"]["status"] == "not_scanned"
    assert found["t9"]["status"] == "partly_scanned"
    for key, cost in costs.items():
        assert len(cost.reading(_IMAGE_SCANS)) == 1, (key, cost.statements)
    # Eight tags cost what two do: nothing is read per tag.
    assert len(costs[(8, "false")].statements) == len(costs[(2, "false")].statements)
    assert len(one_tag.reading(_IMAGE_SCANS)) == 1, one_tag.statements


async def test_only_callers_who_may_see_the_repository_see_its_summaries(
    inproc: InProcessApp,
) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        hidden = await c.get(f"{TAGS}/bob/secret/tags")
        one = await c.get(f"{TAGS}/bob/secret/tags/v1")
        missing = await c.get(f"{TAGS}/bob/nothing/tags")
    for r in (hidden, one, missing):
        error_of(r, 404, "NO_SUCH_REPOSITORY")
        assert "critical" not in r.text and w.secret.digest not in r.text
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.get(f"{TAGS}/alice/app/tags"), 404, "NO_SUCH_REPOSITORY")
        public = await _tags(anonymous, "admin/public")
    assert public["latest"]["critical"] == 1 and public["latest"]["status"] == "scanned"


async def test_the_openapi_document_names_the_summary_fields(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        api = (await c.get("/api/v0/openapi.json")).json()
    for path in (
        "/repositories/{namespace}/{repo}/tags",
        "/repositories/{namespace}/{repo}/tags/{reference}",
    ):
        answer = api["paths"][path]["get"]["responses"]["200"]
        page = _resolve(api, answer["content"]["application/json"]["schema"])
        entry = _resolve(api, page["items"])
        assert "vuln_summary" in entry["required"], path
        summary = _resolve(api, entry["properties"]["vuln_summary"])
        assert set(summary["properties"]) >= SUMMARY, path
        assert SUMMARY - {"reason"} <= set(summary["required"]), path
        assert summary["properties"]["check_completed_at"]["format"] == "date-time"
        assert summary["properties"]["critical"]["type"] == "integer"
        assert summary["properties"]["should_rescan"]["type"] == "boolean"
