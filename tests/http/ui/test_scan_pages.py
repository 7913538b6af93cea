"""The web UI's scanning, in process: each tag's vulnerability summary in the tags list (counts,
"not scanned", "scan failed: why"), the image page's components layer by layer with their
vulnerabilities and advisory links, the search across the repositories the viewer may see, and
the administrators' vulnerability database page (status, update online, upload a file; CSRF
checked, everyone else refused)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from moorage.db import job_tables as jt
from tests.http import scan_results as seed
from tests.http.scan_results import Pkg
from tests.http.scan_world import OPENSSL_CVE, build
from tests.http.ui import content
from tests.inprocess import InProcessApp, running_app
from tests.scanning.vulndb.archives import fixture_records, osv_layout, zip_bytes


def section(page: httpx.Response, marker: str, end: str = "</section>") -> str:
    """What follows the tag holding ``marker``, up to ``end``."""
    text = page.text
    start = text.index(">", text.index(marker)) + 1
    return text[start : text.index(end, start)]


def cell(page: httpx.Response, element_id: str) -> str:
    found = re.search(
        rf'id="{re.escape(element_id)}"[^>]*>(.*?)</span>\s*(?:</td>|$)', page.text, re.S
    )
    assert found, element_id
    return re.sub(r"<[^>]+>", " ", found.group(1))


async def test_the_tags_list_says_what_each_scan_found(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        await seed.image(c, "alice/app", "fresh")
        broken, broken_layers = await seed.image(c, "alice/app", "broken")
        await seed.scan(
            inproc, broken, broken_layers, [], status="failed", reason="blob sha256:ab is missing"
        )
        clean, clean_layers = await seed.image(c, "alice/app", "clean")
        await seed.scan(inproc, clean, clean_layers, [Pkg("tzdata", "2024a", 0)])
    async with content.signed_in(inproc, *w.alice) as browser:
        page = await content.ok(await browser.get("/repositories/alice/app"))
    tags = section(page, 'id="tags"', "</table>")
    assert "<th>Vulnerabilities</th>" in tags
    v1 = " ".join(cell(page, "scan-v1").split())
    assert v1 == "1 critical 1 major 1 minor"
    assert "not scanned" in cell(page, "scan-fresh")
    failed = page.text[page.text.index('id="scan-broken"') :]
    assert failed.split("</span>")[0].endswith("scan failed: blob sha256:ab is missing")
    assert "no known vulnerabilities" in cell(page, "scan-clean")
    async with content.signed_in(inproc, *w.alice) as browser:
        image = await content.ok(await browser.get("/repositories/alice/app/tags/broken"))
        fresh = await content.ok(await browser.get("/repositories/alice/app/tags/fresh"))
    report = section(image, 'id="vulnerabilities"')
    assert "scan failed: blob sha256:ab is missing" in report and "Layer 1" not in report
    assert "has not been scanned yet" in section(fresh, 'id="vulnerabilities"')


async def test_an_index_tag_sums_up_its_platforms(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        amd, amd_layers = await seed.image(admin, "admin/multi", "amd", arch="amd64")
        arm, arm_layers = await seed.image(admin, "admin/multi", "arm", arch="arm64")
        await content.index(admin, "admin/multi", "latest", [(amd, "amd64"), (arm, "arm64")])
        await seed.scan(
            inproc, amd, amd_layers, [Pkg("libssl3", "3.0.11", 0, vulns=(OPENSSL_CVE,))]
        )
    async with content.signed_in(inproc, *inproc.admin) as browser:
        tags = await content.ok(await browser.get("/repositories/admin/multi"))
        assert "1 of 2 platforms scanned" in cell(tags, "scan-latest")
        await seed.scan(inproc, arm, arm_layers, [])
        tags = await content.ok(await browser.get("/repositories/admin/multi"))
        image = await content.ok(await browser.get("/repositories/admin/multi/tags/latest"))
    assert " ".join(cell(tags, "scan-latest").split()) == "1 critical 0 major 0 minor"
    platforms = section(image, 'id="platforms"', "</table>")
    assert "1 critical" in platforms and "no known vulnerabilities" in platforms


async def test_the_image_page_lists_components_layer_by_layer(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client() as admin:
        r = await admin.post(
            f"/api/v0/imagescan/layeroverride/{w.app.layers[1]}",
            json={"component": "requests", "cve": "CVE-2023-32681", "notes": "we pin urllib3"},
        )
        assert r.status_code == 200, r.text
    async with content.signed_in(inproc, *w.alice) as browser:
        page = await content.ok(await browser.get("/repositories/alice/app/tags/v1"))
        never = await content.ok(await browser.get(f"/repositories/alice/app/tags/{w.app.digest}"))
    report = section(page, 'id="vulnerabilities"')
    assert " ".join(
        re.sub(r"<[^>]+>", " ", section(page, 'id="scan-summary"', "</p>")).split()
    ).startswith("1 critical 1 major 0 minor")
    first = report[report.index('id="components-1"') : report.index('id="scan-layer-2"')]
    second = report[report.index('id="components-2"') :]
    assert "libssl3" in first and "libc6" in first and "requests" not in first
    assert "requests" in second and "left-pad" in second
    # Severity, CVSS, every ID linked to its advisory, the fixed version.
    assert "critical 7.5" in first
    assert 'href="https://nvd.nist.gov/vuln/detail/CVE-2023-5678"' in first
    assert 'href="https://osv.dev/vulnerability/DSA-5532-1"' in first
    assert "fixed in <code>3.0.13-1~deb12u1</code>" in first
    assert "will not fix" in first
    assert 'href="https://github.com/advisories/GHSA-j8r2-6x86-q33q"' in second
    # The overridden finding is shown, marked, with the administrator's reason.
    assert 'class="finding suppressed"' in second and "does not apply: we pin urllib3" in second
    assert "WTFPL" in second
    # By digest: the same image, the same report.
    assert "libssl3" in section(never, 'id="vulnerabilities"')


async def test_html_in_scan_results_is_text(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        digest, layers = await seed.image(admin, "admin/evil", "v1")
        await seed.scan(
            inproc,
            digest,
            layers,
            [
                Pkg(
                    "<script>alert(1)</script>",
                    "1",
                    0,
                    vulns=(seed.Vuln('"><img src=x>', "major"),),
                )
            ],
        )
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get("/repositories/admin/evil/tags/v1"))
    assert "<script>alert(1)</script>" not in page.text and "<img src=x>" not in page.text
    assert html.escape("<script>alert(1)</script>") in page.text
    assert 'href="https://osv.dev/vulnerability/%22%3E%3Cimg%20src%3Dx%3E"' in page.text


async def test_search_finds_only_what_the_viewer_may_see(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with content.signed_in(inproc, *w.alice) as browser:
        page = await content.ok(await browser.get("/scanning", params={"q": "DSA-5532-1"}))
        component = await content.ok(
            await browser.get("/scanning", params={"q": "libssl3", "by": "component"})
        )
        empty = await content.ok(await browser.get("/scanning"))
    results = section(page, 'id="results"', "</table>")
    assert "alice/app" in results and "admin/public" in results and "bob/secret" not in results
    assert "libssl3 3.0.11-1~deb12u2 (fixed in 3.0.13-1~deb12u1)" in results
    assert 'id="result-count">2 images' in page.text
    assert 'href="/repositories/alice/app/tags/v1"' in results
    assert "alice/app" in section(component, 'id="results"', "</table>")
    assert "bob/secret" not in component.text
    assert 'id="results"' not in empty.text and 'id="scan-search"' in empty.text
    assert 'id="database-link"' not in empty.text  # for administrators
    async with content.signed_in(inproc, *w.bob) as browser:
        page = await content.ok(await browser.get("/scanning", params={"q": "CVE-2023-5678"}))
    results = section(page, 'id="results"', "</table>")
    assert "bob/secret" in results and "alice/app" not in results
    async with inproc.client(auth=None, follow_redirects=False) as anonymous:
        r = await anonymous.get("/scanning", params={"q": "CVE-2023-5678"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.fixture()
async def quiet(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    """The app without a job runner: what a request queued stays queued for the test to see."""
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as app:
        yield app


async def test_the_database_page_is_for_administrators(quiet: InProcessApp) -> None:
    inproc = quiet
    w = await build(inproc)
    async with content.signed_in(inproc, *w.alice) as browser:
        r = await browser.get("/scanning/database")
        assert r.status_code == 403
        token = content.csrf_of(await browser.get("/scanning"))
        r = await browser.post("/scanning/database", data={"csrf": token, "action": "update"})
        assert r.status_code == 403
        r = await browser.post(
            "/scanning/database/upload",
            data={"csrf": token},
            files={
                "file": ("all.zip", zip_bytes(osv_layout(fixture_records())), "application/zip")
            },
        )
        assert r.status_code == 403
    async with inproc.client(auth=None, follow_redirects=False) as anonymous:
        r = await anonymous.post("/scanning/database/upload", files={"file": ("a.zip", b"PK")})
        assert r.status_code == 403
    assert await seed.rows(inproc, jt.jobs, action="vulndbupdate") == []
    async with inproc.client() as admin:
        assert (await admin.get("/api/v0/imagescan/status")).json()["db_version"] == 0


async def test_an_administrator_updates_online_and_uploads_a_file(quiet: InProcessApp) -> None:
    inproc = quiet
    records = fixture_records()
    archive = zip_bytes(osv_layout(records))
    async with content.signed_in(inproc, *inproc.admin) as browser:
        page = await content.ok(await browser.get("/scanning/database"))
        assert "none imported yet" in section(page, 'id="db-generation"', "</dd>")
        token = content.csrf_of(page)
        # No token, a wrong token: refused, nothing queued or imported.
        assert (
            await browser.post("/scanning/database", data={"action": "update"})
        ).status_code == 403
        r = await browser.post(
            "/scanning/database/upload",
            data={"csrf": "wrong"},
            files={"file": ("all.zip", archive, "application/zip")},
        )
        assert r.status_code == 403 and "CSRF" in r.text
        # The token after the file does not count: it is checked before the file is written.
        late = await browser.post(
            "/scanning/database/upload",
            content=_multipart([("file", "all.zip", archive), ("csrf", None, token.encode())]),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert late.status_code == 403
        r = await browser.post("/scanning/database", data={"csrf": token, "action": "update"})
        assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
        r = await browser.post(
            "/scanning/database/upload",
            data={"csrf": token},
            files={"file": ("all.zip", archive, "application/zip")},
        )
        assert r.status_code == 303, r.text[:2000]
        done = await content.ok(await browser.get(r.headers["location"]))
        bad = await browser.post(
            "/scanning/database/upload",
            data={"csrf": token},
            files={"file": ("bad.zip", b"not a zip", "application/zip")},
        )
    assert "vulnerability" in section(done, 'id="imported"', "</p>")
    assert section(done, 'id="db-generation"', "</dd>") == "1"
    assert f"{len(records)} (" in section(done, 'id="db-records"', "</dd>")
    assert "file all.zip from admin" in section(done, 'id="db-source"', "</dd>")
    assert "succeeded" in section(done, 'id="db-last-update"', "</dd>")
    assert 'id="update-jobs"' in done.text  # the queued online update, linked
    assert bad.status_code == 400 and "not a readable zip" in bad.text
    (job,) = await seed.rows(inproc, jt.jobs, action="vulndbupdate")
    assert job.status == "waiting"
    incoming = inproc.settings.data / "vulndb" / "incoming"
    assert list(incoming.iterdir()) == []


BOUNDARY = "moorage-test-boundary"


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()
