"""DTR 2.7's ``/api/v0/imagescan/*`` and a single tag's scan inventory, checked against DTR's own
definitions (``dtr_definitions/imagescan.json`` and ``tags.json``): every answer's fields and
types, DTR's error codes (``NO_SUCH_REF``, ``NO_SUCH_TAG``, ``NO_SUCH_LAYER``,
``SCANNING_NOT_ENABLED``), ``count=true``, and what a caller who may not read a private
repository learns of it through each route (nothing). Results are seeded in the result tables
(``tests/http/scan_results``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorage.db import job_tables as jt
from tests.http import scan_results as seed
from tests.http.api.dtr_schema import assert_matches
from tests.http.scan_world import BASE, LIBC_CVE, OPENSSL_CVE, build, error_of
from tests.http.test_request_cost import counted
from tests.http.ui import content
from tests.inprocess import InProcessApp, running_app

TAGS = "/api/v0/repositories"
# vuln_summary is DTR's flat summary on a tag: layer_details only on the scan summary routes.
SUMMARY_LEFT_OUT = {"vuln_summary.layer_details"}
# responses.Account's membersCount / teamsCount: an organization's figures, not a user's.
ACCOUNT_COUNTS = {"accountResults.membersCount", "accountResults.teamsCount"}


def _ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:500])
    return r.json()


@pytest.fixture()
async def quiet(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    """The app without a job runner: what a request queued stays queued for the test to see."""
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as app:
        yield app


async def test_every_imagescan_answer_is_dtrs_definition(inproc: InProcessApp) -> None:
    w = await build(inproc)
    layer = w.app.layers[0]
    async with inproc.client(auth=w.alice) as c:
        for s in _ok(await c.get(f"{BASE}/scansummary/repositories/alice/app/v1")):
            assert_matches(s, "responses.ScanSummary")
        for s in _ok(await c.get(f"{BASE}/scansummary/repositories/alice/app/{w.app.digest}")):
            assert_matches(s, "responses.ScanSummary")
        (flat,) = _ok(await c.get(f"{BASE}/repositories/alice/app/v1"))
        assert_matches(flat, "responses.OldScanSummary")
        assert flat["layer_details"] and (flat["critical"], flat["major"]) == (1, 1)
        for path in (
            f"scansummary/cve/{OPENSSL_CVE.vuln_id}",
            "scansummary/component/libssl3",
            f"scansummary/layer/{layer}",
            "scansummary/license/OpenSSL",
        ):
            r = await c.get(f"{BASE}/{path}", params={"count": "true"})
            page = _ok(r)
            assert page and r.headers["X-Resource-Count"] == str(len(page)), path
            for s in page:
                assert_matches(s, "responses.ScanSummary")
        thin = _ok(
            await c.post(
                f"{BASE}/scansummary/tags",
                json={"images": [{"name": "alice/app:v1", "digest": ""}]},
            )
        )
        assert_matches(thin, "responses.ThinScanSummaries")
        assert (
            thin["images"]["alice/app:v1"]["critical"],
            thin["images"]["alice/app:v1"]["major"],
        ) == (1, 1)
        assert_matches(_ok(await c.get(f"{BASE}/status")), "responses.NautilusStatus")
        found = _ok(await c.get("/api/v0/index/autocomplete", params={"query": "a"}))
        assert_matches(found, "responses.Autocomplete", leave_out=ACCOUNT_COUNTS)
    async with inproc.client() as admin:
        body = {
            "component": "libssl3",
            "componentVersion": "3.0.11-1~deb12u2",
            "cve": OPENSSL_CVE.vuln_id,
            "notes": "not reachable",
        }
        made = _ok(await admin.post(f"{BASE}/layeroverride/{layer}", json=body))
        assert_matches(made, "responses.LayerVulnOverride")
        assert (made["digest"], made["cve"], made["notes"]) == (
            layer,
            OPENSSL_CVE.vuln_id,
            "not reachable",
        )
        for o in _ok(await admin.get(f"{BASE}/layeroverride")):
            assert_matches(o, "responses.LayerVulnOverride")
        (gone,) = _ok(await admin.delete(f"{BASE}/layeroverride/{made['pk']}"))
        assert_matches(gone, "responses.LayerVulnOverride")
        assert _ok(await admin.get(f"{BASE}/layeroverride")) == []


async def test_a_scanned_tag_carries_dtrs_components_and_licenses(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        with counted(inproc) as cost:
            (tag,) = _ok(await c.get(f"{TAGS}/alice/app/tags/v1"))
        (summary,) = _ok(await c.get(f"{BASE}/scansummary/repositories/alice/app/v1"))
        listed = _ok(await c.get(f"{TAGS}/alice/app/tags", params={"includeManifests": "true"}))
    assert_matches(tag, "responses.Tag", leave_out=SUMMARY_LEFT_OUT)
    by_name = {component["name"]: component for component in tag["components"]}
    assert set(by_name) == {"libssl3", "libc6", "requests", "left-pad"}
    ssl = by_name["libssl3"]
    assert ssl["cves"] == [OPENSSL_CVE.vuln_id] and ssl["vulnCount"] == {
        "critical": 1,
        "major": 0,
        "minor": 0,
    }
    assert (ssl["version"], ssl["source"], ssl["licenses"]) == (
        "3.0.11-1~deb12u2",
        "deb",
        ["OpenSSL"],
    )
    assert by_name["libc6"]["cves"] == [LIBC_CVE.vuln_id]
    assert by_name["left-pad"]["cves"] == [] and by_name["left-pad"]["filepaths"] == [
        "app/node_modules/left-pad/package.json"
    ]
    assert [lic["name"] for lic in tag["licenses"]] == [
        "Apache-2.0",
        "LGPL-2.1",
        "OpenSSL",
        "WTFPL",
    ]
    # the same components, by the same keys, as the scan summary's
    scanned = {c["componentPK"]: c["name"] for c in summary["scannedImage"]["components"]}
    assert {c["componentPK"]: c["name"] for c in tag["components"]} == scanned
    # counts per component add up to the tag's
    total = {
        level: sum(c["vulnCount"][level] for c in tag["components"])
        for level in ("critical", "major", "minor")
    }
    assert total == {level: tag["vuln_summary"][level] for level in total}
    # the inventory is two statements, whatever the number of components
    components = cost.reading(re.compile(r"\bimage_scan_components\b"))
    assert len(components) == 1, cost.statements
    # the list is DTR's ListTag: no inventory
    assert "components" not in listed[0] and "licenses" not in listed[0]
    # an override takes the finding out of the tag's component at once
    async with inproc.client() as admin:
        _ok(
            await admin.post(
                f"{BASE}/layeroverride/{w.app.layers[0]}",
                json={
                    "component": "libssl3",
                    "componentVersion": "",
                    "cve": OPENSSL_CVE.vuln_id,
                    "notes": "n/a",
                },
            )
        )
    async with inproc.client(auth=w.alice) as c:
        (again,) = _ok(await c.get(f"{TAGS}/alice/app/tags/v1"))
    ssl = next(x for x in again["components"] if x["name"] == "libssl3")
    assert ssl["cves"] == [] and ssl["vulnCount"]["critical"] == 0
    assert again["vuln_summary"]["critical"] == 0


async def test_a_tag_of_an_index_filters_by_platform(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        await content.repository(admin, "admin", "multi", "public")
        amd, amd_layers = await seed.image(admin, "admin/multi", "amd")
        arm, _ = await seed.image(admin, "admin/multi", "arm", arch="arm64")
        await content.index(admin, "admin/multi", "both", [(amd, "amd64"), (arm, "arm64")])
    await seed.scan(inproc, amd, amd_layers, [seed.Pkg("zlib1g", "1.2.13", 0, licenses=("Zlib",))])
    async with inproc.client() as admin:
        both = _ok(
            await admin.get(f"{TAGS}/admin/multi/tags/both", params={"domain": "dtr.example.com"})
        )
        arm_only = _ok(await admin.get(f"{TAGS}/admin/multi/tags/both", params={"arch": "arm64"}))
        amd_only = _ok(
            await admin.get(
                f"{TAGS}/admin/multi/tags/both", params={"os": "linux", "arch": "amd64"}
            )
        )
        none = _ok(await admin.get(f"{TAGS}/admin/multi/tags/both", params={"os": "windows"}))
    assert [t["manifest"]["digest"] for t in both] == [amd, arm]
    for t in both:
        assert_matches(t, "responses.Tag", leave_out=SUMMARY_LEFT_OUT)
    assert [t["manifest"]["digest"] for t in arm_only] == [arm] and arm_only[0]["components"] == []
    (amd_tag,) = amd_only
    assert [c["name"] for c in amd_tag["components"]] == ["zlib1g"]
    assert amd_tag["licenses"] == [{"name": "Zlib", "type": "declared", "url": ""}]
    assert none == []


async def test_dtrs_error_codes_for_what_is_not_there(inproc: InProcessApp) -> None:
    w = await build(inproc)
    missing = "sha256:" + "0" * 64
    async with inproc.client(auth=w.alice) as c:
        error_of(await c.get(f"{TAGS}/alice/app/tags/nope"), 404, "NO_SUCH_REF")
        error_of(await c.get(f"{TAGS}/alice/app/tags/{missing}"), 404, "NO_SUCH_REF")
        error_of(await c.get(f"{BASE}/scansummary/repositories/alice/app/nope"), 404, "NO_SUCH_REF")
        error_of(
            await c.get(f"{BASE}/scansummary/repositories/alice/app/{missing}"), 404, "NO_SUCH_REF"
        )
        error_of(await c.get(f"{BASE}/repositories/alice/app/nope"), 404, "NO_SUCH_TAG")
        error_of(
            await c.get(f"{BASE}/scansummary/repositories/alice/app/nope/export"),
            404,
            "NO_SUCH_TAG",
        )
        error_of(await c.post(f"{BASE}/scan/alice/app/nope/linux/amd64"), 404, "NO_SUCH_TAG")
        error_of(await c.get(f"{BASE}/scansummary/layer/{missing}"), 404, "NO_SUCH_LAYER")
        error_of(await c.delete(f"{TAGS}/alice/app/tags/nope"), 404, "NO_SUCH_TAG")
        error_of(await c.delete(f"{TAGS}/alice/app/manifests/{missing}"), 404, "NO_SUCH_REF")
        error_of(await c.delete(f"{TAGS}/alice/app/manifests/v1"), 400, "INVALID_DIGEST")
        for path in (f"{TAGS}/alice/nothing/tags", f"{TAGS}/alice/nothing/manifests"):
            error_of(await c.get(path), 404, "NO_SUCH_REPOSITORY")
    async with inproc.client() as admin:
        error_of(await admin.delete(f"{BASE}/layeroverride/CVE-1999-0001"), 404, "NO_SUCH_LAYER")
        error_of(
            await admin.post(
                f"{BASE}/layeroverride/{missing}",
                json={"component": "x", "componentVersion": "", "cve": "CVE-1", "notes": ""},
            ),
            404,
            "NO_SUCH_LAYER",
        )


async def test_a_private_repository_leaks_through_no_route(inproc: InProcessApp) -> None:
    """bob and anonymous callers ask about alice's private image every way DTR offers."""
    w = await build(inproc)
    app, layer = w.app.digest, w.app.layers[0]
    async with inproc.client(auth=w.bob) as bob:
        for path in (
            f"{TAGS}/alice/app/tags",
            f"{TAGS}/alice/app/tags/v1",
            f"{TAGS}/alice/app/tags/{app}",
            f"{TAGS}/alice/app/manifests",
            f"{BASE}/scansummary/repositories/alice/app/v1",
            f"{BASE}/repositories/alice/app/v1",
            f"{BASE}/scansummary/repositories/alice/app/v1/export",
        ):
            r = await bob.get(path)
            error_of(r, 404, "NO_SUCH_REPOSITORY")
            assert app not in r.text and "libssl3" not in r.text, path
        error_of(await bob.post(f"{BASE}/scan/alice/app/v1/linux/amd64"), 404, "NO_SUCH_REPOSITORY")
        error_of(await bob.delete(f"{TAGS}/alice/app/tags/v1"), 404, "NO_SUCH_REPOSITORY")
        error_of(await bob.delete(f"{TAGS}/alice/app/manifests/{app}"), 404, "NO_SUCH_REPOSITORY")
        # searches: alice's image is never among bob's results, nor in their count
        r = await bob.get(f"{BASE}/scansummary/cve/{OPENSSL_CVE.vuln_id}", params={"count": "true"})
        repos = {(s["namespace"], s["reponame"]) for s in _ok(r)}
        assert repos == {("admin", "public"), ("bob", "secret")}
        assert r.headers["X-Resource-Count"] == "2"
        for path in ("scansummary/component/libc6", "scansummary/license/WTFPL"):
            r = await bob.get(f"{BASE}/{path}", params={"count": "true"})
            assert _ok(r) == [] and r.headers["X-Resource-Count"] == "0", path
        error_of(await bob.get(f"{BASE}/scansummary/layer/{layer}"), 404, "NO_SUCH_LAYER")
        thin = _ok(
            await bob.post(
                f"{BASE}/scansummary/tags",
                json={
                    "images": [
                        {"name": "alice/app:v1", "digest": ""},
                        {"name": "alice/app", "digest": app},
                    ]
                },
            )
        )
        assert thin == {"images": {}}
        # layer overrides are for system administrators only
        error_of(await bob.get(f"{BASE}/layeroverride"), 403, "NOT_AUTHORIZED")
        body = {
            "component": "libssl3",
            "componentVersion": "",
            "cve": OPENSSL_CVE.vuln_id,
            "notes": "",
        }
        error_of(await bob.post(f"{BASE}/layeroverride/{layer}", json=body), 403, "NOT_AUTHORIZED")
        error_of(
            await bob.delete(f"{BASE}/layeroverride/{OPENSSL_CVE.vuln_id}"), 403, "NOT_AUTHORIZED"
        )
        error_of(
            await bob.put(f"{BASE}/scan/update", params={"online": "true"}), 403, "NOT_AUTHORIZED"
        )
    async with inproc.client(auth=None) as anonymous:
        for path in (
            f"{TAGS}/alice/app/tags/v1",
            f"{BASE}/scansummary/repositories/alice/app/v1",
            f"{BASE}/repositories/alice/app/v1",
        ):
            r = await anonymous.get(path)
            assert r.status_code in {401, 404} and app not in r.text, path
        for path in (
            f"cve/{OPENSSL_CVE.vuln_id}",
            "component/libssl3",
            f"layer/{layer}",
            "license/OpenSSL",
        ):
            error_of(await anonymous.get(f"{BASE}/scansummary/{path}"), 401, "NOT_AUTHENTICATED")
        error_of(await anonymous.get(f"{BASE}/status"), 401, "NOT_AUTHENTICATED")
        error_of(await anonymous.get(f"{BASE}/layeroverride"), 401, "NOT_AUTHENTICATED")
        error_of(
            await anonymous.post(f"{BASE}/scansummary/tags", json={"images": []}),
            401,
            "NOT_AUTHENTICATED",
        )


async def _jobs(app: InProcessApp, action: str) -> list[Any]:
    return await seed.rows(app, jt.jobs, action=action)


async def test_scanning_disabled_refuses_scans_as_dtr_and_keeps_results(
    quiet: InProcessApp,
) -> None:
    w = await build(quiet)
    async with quiet.client() as admin:
        r = await admin.post("/api/v0/meta/settings", json={"scanningEnabled": False})
        assert r.status_code == 202, r.text
        error_of(
            await admin.post(f"{BASE}/scan", json={"scan": True, "check": True}),
            400,
            "SCANNING_NOT_ENABLED",
        )
    async with quiet.client(auth=w.alice) as c:
        error_of(await c.post(f"{BASE}/scan/alice/app/v1/linux/amd64"), 400, "SCANNING_NOT_ENABLED")
        # results stay readable
        (s,) = _ok(await c.get(f"{BASE}/scansummary/repositories/alice/app/v1"))
        assert s["critical"] == 1
        (tag,) = _ok(await c.get(f"{TAGS}/alice/app/tags/v1"))
        assert tag["components"]
        # so do the searches and the scanner's status (DTR: 400 SCANNING_NOT_ENABLED)
        assert _ok(await c.get(f"{BASE}/scansummary/component/libssl3"))
        assert_matches(_ok(await c.get(f"{BASE}/status")), "responses.NautilusStatus")
    async with quiet.client(auth=w.bob) as bob:
        # access is decided first: bob learns nothing of alice's repository
        error_of(await bob.post(f"{BASE}/scan/alice/app/v1/linux/amd64"), 404, "NO_SUCH_REPOSITORY")
        error_of(
            await bob.post(f"{BASE}/scan", json={"scan": True, "check": True}),
            403,
            "NOT_AUTHORIZED",
        )
    assert await _jobs(quiet, "scan") == [] and await _jobs(quiet, "scanall") == []


async def test_bad_parameters_are_dtrs_invalid_parameters(inproc: InProcessApp) -> None:
    """DTR's 400s: a query or path parameter it cannot parse is INVALID_PARAMETERS, a body
    that is not the form INVALID_JSON, a layer override's bad value INVALID_SETTINGS; DTR's
    own flags (``scanstatus``, ``detailed``) are taken."""
    w = await build(inproc)
    layer = w.app.layers[0]
    async with inproc.client(auth=w.alice) as c:
        for path in (
            f"scansummary/cve/{OPENSSL_CVE.vuln_id}",
            "scansummary/component/libssl3",
            f"scansummary/layer/{layer}",
            "scansummary/license/OpenSSL",
        ):
            for bad in ({"pageSize": "0"}, {"pageSize": "ten"}, {"count": "maybe"}):
                error_of(await c.get(f"{BASE}/{path}", params=bad), 400, "INVALID_PARAMETERS")
            error_of(
                await c.get(f"{BASE}/{path}", params={"pageStart": "!!"}),
                400,
                "INVALID_PARAMETERS",
            )
            assert _ok(await c.get(f"{BASE}/{path}", params={"scanstatus": "false"})), path
        export = f"{BASE}/scansummary/repositories/alice/app/v1/export"
        error_of(await c.get(export, params={"format": "xml"}), 400, "INVALID_PARAMETERS")
        thin = f"{BASE}/scansummary/tags"
        error_of(
            await c.post(thin, json={"images": [{"name": "alice/app"}]}), 400, "INVALID_PARAMETERS"
        )
        error_of(await c.post(thin, json={"images": "alice/app:v1"}), 400, "INVALID_JSON")
        (flat,) = _ok(await c.get(f"{BASE}/repositories/alice/app/v1", params={"detailed": "0"}))
        assert_matches(flat, "responses.OldScanSummary", leave_out={"layer_details"})
        assert "layer_details" not in flat and flat["critical"] == 1  # the counts, not the layers
    body = {"component": "libssl3", "componentVersion": "", "cve": OPENSSL_CVE.vuln_id}
    async with inproc.client() as admin:
        error_of(
            await admin.put(f"{BASE}/scan/update", params={"online": "maybe"}),
            400,
            "INVALID_PARAMETERS",
        )
        override = f"{BASE}/layeroverride/{layer}"
        error_of(await admin.post(override, json={**body, "cve": " "}), 400, "INVALID_SETTINGS")
        error_of(await admin.post(override, json={"notes": "x"}), 400, "INVALID_JSON")
        error_of(
            await admin.post(override, content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "INVALID_JSON",
        )
        assert _ok(await admin.get(f"{BASE}/layeroverride")) == []  # nothing was stored
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.post(override, json=body), 401, "NOT_AUTHENTICATED")
        error_of(
            await anonymous.delete(f"{BASE}/layeroverride/{OPENSSL_CVE.vuln_id}"),
            401,
            "NOT_AUTHENTICATED",
        )
