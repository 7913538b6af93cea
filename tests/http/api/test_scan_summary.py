"""DTR's scan summaries in process: a tag's or digest's summary (counts, status, completion,
per-layer components with their vulnerabilities), the deprecated flat form, the list form, an
index's platforms, the CSV and JSON export, and who may see any of it (a hidden repository
answers as a missing one). Results are seeded in the result tables (``tests/http/scan_results``)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.http import scan_results as seed
from tests.http.scan_results import Pkg
from tests.http.scan_world import BASE, PACKAGES, build, error_of
from tests.http.ui import content
from tests.inprocess import InProcessApp


async def test_a_tags_summary_counts_and_lists_every_layer(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        r = await c.get(f"{BASE}/scansummary/repositories/alice/app/v1")
        assert r.status_code == 200, r.text
        (one,) = r.json()
        by_digest = (
            await c.get(f"{BASE}/scansummary/repositories/alice/app/{w.app.digest}")
        ).json()
    assert (one["critical"], one["major"], one["minor"]) == (1, 1, 1)
    assert one["status"] == "scanned" and one["last_scan_status"] == 6 and one["scanStatus"] == 6
    assert one["check_completed_at"].endswith("Z") and not one["check_completed_at"].startswith(
        "0001"
    )
    assert one["namespace"] == "alice" and one["reponame"] == "app" and one["tag"] == "v1"
    assert one["should_rescan"] is False and one["shouldRescan"] is False
    assert one["has_foreign_layers"] is False and one["manifestDigest"] == w.app.digest
    assert one["platform"] == "linux/amd64"

    layers = one["layer_details"]
    assert [layer["sha256sum"] for layer in layers] == w.app.layers
    first = {c["component"]: c for c in layers[0]["components"]}
    assert set(first) == {"libssl3", "libc6"}
    (openssl,) = first["libssl3"]["vulns"]
    assert openssl["vuln"]["cve"] == "CVE-2023-5678" and openssl["vuln"]["cvss"] == 7.5
    assert openssl["vuln"]["ids"] == ["CVE-2023-5678", "DSA-5532-1"]
    assert openssl["vuln"]["severity"] == "critical"
    assert openssl["vuln"]["fixedVersion"] == "3.0.13-1~deb12u1"
    assert {"type": "fix", "reason": "fixed in 3.0.13-1~deb12u1"} in openssl["notes"]
    (libc,) = first["libc6"]["vulns"]
    assert {"type": "status", "reason": "will not fix"} in libc["notes"]
    second = {c["component"]: c for c in layers[1]["components"]}
    assert second["left-pad"]["vulns"] == [] and second["left-pad"]["licenses"] == ["WTFPL"]
    assert second["requests"]["fullpath"] == [PACKAGES[2].path]

    image = one["scannedImage"]
    assert image["manifestDigest"] == w.app.digest and image["repository"] == "app"
    assert image["totalVulnCount"] == {"critical": 1, "major": 1, "minor": 1}
    assert image["maxCVSSValue"] == 7.5
    assert [layer["digest"] for layer in image["layers"]] == w.app.layers
    assert {lic["name"] for lic in image["licenses"]} == {
        "OpenSSL",
        "LGPL-2.1",
        "Apache-2.0",
        "WTFPL",
    }
    assert sorted(v["cvePK"] for v in image["cves"]) == [
        "CVE-2023-5678",
        "CVE-2024-0001",
        "GHSA-j8r2-6x86-q33q",
    ]
    names = {comp["name"]: comp for comp in image["components"]}
    assert names["requests"]["vulnCount"] == {"critical": 0, "major": 0, "minor": 1}
    assert names["requests"]["source"] == "pypi" and names["requests"]["layer"] == w.app.layers[1]
    # Every component of a layer is listed under it by its componentPK.
    assert set(image["layers"][1]["components"]) == {
        names["requests"]["componentPK"],
        names["left-pad"]["componentPK"],
    }
    # The digest names the same image: the same summary, without a tag.
    assert by_digest[0]["tag"] == "" and by_digest[0]["layer_details"] == layers


async def test_the_deprecated_flat_summary_and_undetailed_answers(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        (old,) = (await c.get(f"{BASE}/repositories/alice/app/v1")).json()
        (bare,) = (
            await c.get(f"{BASE}/repositories/alice/app/v1", params={"detailed": "false"})
        ).json()
        (short,) = (
            await c.get(
                f"{BASE}/scansummary/repositories/alice/app/v1", params={"detailed": "false"}
            )
        ).json()
    assert (old["critical"], old["major"], old["minor"], old["last_scan_status"]) == (1, 1, 1, 6)
    assert "scannedImage" not in old and len(old["layer_details"]) == 2
    assert "layer_details" not in bare and "layer_details" not in short
    assert short["scannedImage"]["totalVulnCount"]["critical"] == 1


async def test_an_image_not_scanned_and_a_failed_scan_say_so(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        _fresh, fresh_layers = await seed.image(c, "alice/app", "v2")
        broken, broken_layers = await seed.image(c, "alice/app", "v3")
    await seed.scan(
        inproc,
        broken,
        broken_layers,
        PACKAGES,
        status="failed",
        reason="layer 2 is not a tar archive",
    )
    async with inproc.client(auth=w.alice) as c:
        (never,) = (await c.get(f"{BASE}/scansummary/repositories/alice/app/v2")).json()
        (failed,) = (await c.get(f"{BASE}/scansummary/repositories/alice/app/v3")).json()
    assert never["status"] == "not_scanned" and never["last_scan_status"] == 1
    assert never["check_completed_at"] == "0001-01-01T00:00:00.000Z"
    assert [layer["sha256sum"] for layer in never["layer_details"]] == fresh_layers
    assert all(layer["components"] == [] for layer in never["layer_details"])
    assert failed["status"] == "failed" and failed["last_scan_status"] == 0
    assert failed["reason"] == "layer 2 is not a tar archive"
    assert failed["should_rescan"] is True
    # A failed scan counts nothing, whatever rows a previous attempt left: never "0 found".
    assert (failed["critical"], failed["major"], failed["minor"]) == (0, 0, 0)


async def test_an_index_answers_per_platform(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        amd, amd_layers = await seed.image(admin, "admin/multi", "amd", arch="amd64")
        arm, _arm_layers = await seed.image(admin, "admin/multi", "arm", arch="arm64")
        await content.index(admin, "admin/multi", "latest", [(amd, "amd64"), (arm, "arm64")])
        await seed.scan(inproc, amd, amd_layers, PACKAGES[:1])
        both = (await admin.get(f"{BASE}/scansummary/repositories/admin/multi/latest")).json()
        arm_only = await admin.get(
            f"{BASE}/scansummary/repositories/admin/multi/latest",
            params={"os": "linux", "arch": "arm64"},
        )
        missing = await admin.get(
            f"{BASE}/scansummary/repositories/admin/multi/latest", params={"arch": "s390x"}
        )
        no_tag = await admin.get(f"{BASE}/scansummary/repositories/admin/multi/nope")
    assert [(s["platform"], s["status"], s["manifestDigest"]) for s in both] == [
        ("linux/amd64", "scanned", amd),
        ("linux/arm64", "not_scanned", arm),
    ]
    assert all(s["tag"] == "latest" for s in both)
    assert [s["manifestDigest"] for s in arm_only.json()] == [arm]
    assert "s390x" in error_of(missing, 404, "NO_SUCH_REF")["message"]  # DTR's code here
    error_of(no_tag, 404, "NO_SUCH_REF")


async def test_hidden_repositories_answer_as_missing(inproc: InProcessApp) -> None:
    w = await build(inproc)
    url = f"{BASE}/scansummary/repositories/bob/secret/v1"
    async with inproc.client(auth=w.alice) as c:
        hidden = await c.get(url)
        missing = await c.get(f"{BASE}/scansummary/repositories/bob/nothing/v1")
        old = await c.get(f"{BASE}/repositories/bob/secret/v1")
        export = await c.get(url + "/export")
    for r in (hidden, missing, old, export):
        error_of(r, 404, "NO_SUCH_REPOSITORY")
    assert hidden.json()["errors"][0]["message"] == missing.json()["errors"][0]["message"]
    async with inproc.client(auth=None) as anonymous:
        error_of(await anonymous.get(url), 404, "NO_SUCH_REPOSITORY")
        public = await anonymous.get(f"{BASE}/scansummary/repositories/admin/public/latest")
        assert public.status_code == 200 and public.json()[0]["critical"] == 1
    async with inproc.client(auth=w.bob) as c:
        assert (await c.get(url)).status_code == 200


async def test_the_list_form_leaves_out_what_the_caller_may_not_see(inproc: InProcessApp) -> None:
    w = await build(inproc)
    body = {
        "images": [
            {"name": "alice/app:v1", "digest": ""},
            {"name": "admin/public", "digest": w.public.digest},
            {"name": "bob/secret:v1", "digest": ""},
            {"name": "alice/app:nope", "digest": ""},
            {"name": "not a name", "digest": "sha256:zz"},
        ]
    }
    async with inproc.client(auth=w.alice) as c:
        r = await c.post(f"{BASE}/scansummary/tags", json=body)
        assert r.status_code == 200, r.text
        bad = await c.post(f"{BASE}/scansummary/tags", json={"images": [{"name": "alice/app"}]})
        too_many = await c.post(
            f"{BASE}/scansummary/tags",
            json={"images": [{"name": f"alice/app:t{i}"} for i in range(101)]},
        )
    assert r.json()["images"] == {
        "alice/app:v1": {"critical": 1, "major": 1, "minor": 1, "status": "scanned"},
        w.public.digest: {"critical": 1, "major": 0, "minor": 0, "status": "scanned"},
    }
    error_of(bad, 400, "INVALID_PARAMETERS")
    error_of(too_many, 400, "INVALID_JSON")
    async with inproc.client(auth=None) as anonymous:
        error_of(
            await anonymous.post(f"{BASE}/scansummary/tags", json=body), 401, "NOT_AUTHENTICATED"
        )


async def test_export_as_csv_and_json(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        # A package name an attacker chose: a spreadsheet must not run it as a formula.
        evil, evil_layers = await seed.image(c, "alice/app", "evil")
        await seed.scan(inproc, evil, evil_layers, [Pkg('=HYPERLINK("http://x")', "1", 0)])
        r = await c.get(f"{BASE}/scansummary/repositories/alice/app/v1/export")
        as_json = await c.get(
            f"{BASE}/scansummary/repositories/alice/app/v1/export",
            headers={"Accept": "application/json"},
        )
        by_param = await c.get(
            f"{BASE}/scansummary/repositories/alice/app/v1/export", params={"format": "json"}
        )
        bad = await c.get(
            f"{BASE}/scansummary/repositories/alice/app/v1/export", params={"format": "xml"}
        )
        injected = await c.get(f"{BASE}/scansummary/repositories/alice/app/evil/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="alice-app-v1-scan.csv"'
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert len(table) == 4  # three findings, and left-pad without one
    assert {row["component"]: row["vulnerability"] for row in table} == {
        "libssl3": "CVE-2023-5678",
        "libc6": "CVE-2024-0001",
        "requests": "GHSA-j8r2-6x86-q33q",
        "left-pad": "",
    }
    ssl = next(row for row in table if row["component"] == "libssl3")
    assert ssl["aliases"] == "DSA-5532-1" and ssl["layer"] == "1" and ssl["cvss"] == "7.5"
    assert ssl["source"] == "openssl" and ssl["layer_digest"] == w.app.layers[0]
    assert (
        ssl["repository"] == "alice/app" and ssl["tag"] == "v1" and ssl["platform"] == "linux/amd64"
    )
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json() == by_param.json()
    assert [row["component"] for row in as_json.json()] == [row["component"] for row in table]
    error_of(bad, 400, "INVALID_PARAMETERS")
    (cell,) = list(csv.DictReader(io.StringIO(injected.text)))
    assert cell["component"] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize("who", ["anonymous", "bob"])
async def test_others_see_nothing_of_a_private_repositorys_export(
    inproc: InProcessApp, who: str
) -> None:
    w = await build(inproc)
    auth = None if who == "anonymous" else w.bob
    async with inproc.client(auth=auth) as c:
        r = await c.get(f"{BASE}/scansummary/repositories/alice/app/v1/export")
    error_of(r, 404, "NO_SUCH_REPOSITORY")
    assert "libssl3" not in r.text
