"""Every page of the web UI fits a 390 px wide phone screen (``document.scrollWidth <= 390``, in
real headless Chromium), signed in and anonymous; and deleting a tag by clicking, with the
confirmation. Screenshots at 390 px go to ``test-artifacts/screenshots/narrow-*.png``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth.world import PASSWORD, digest_of
from tests.conftest import ADMIN, RunningRegistry
from tests.http.api.images import OCI_MANIFEST, push_image, push_index
from tests.http.ui.test_browser import shot
from tests.services.chromium import launched

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


WIDTH = 390
LONG_TAG = "release-2026.12.01-build.1234567890-with-a-long-suffix"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched() as browser:
        yield browser


def _artifact(api: httpx.Client, repo: str, subject: str) -> str:
    subject_body = api.get(f"/v2/{repo}/manifests/{subject}").content
    empty = b"{}"
    data = b'{"spdxVersion": "SPDX-2.3"}'
    for blob in (empty, data):
        r = api.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob)
        assert r.status_code == 201, r.text
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": digest_of(empty),
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/spdx+json",
                "digest": digest_of(data),
                "size": len(data),
                "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"},
            }
        ],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(subject_body)},
    }
    raw = json.dumps(doc).encode()
    r = api.put(
        f"/v2/{repo}/manifests/sbom-for-{LONG_TAG[:40]}",
        content=raw,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert r.status_code == 201, r.text
    return digest_of(raw)


@pytest.fixture(scope="module")
def site(registry: RunningRegistry) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    org, user = f"organization-with-a-long-name-{suffix}", f"narrowuser{suffix}"
    repo = f"{org}/a-repository-with-a-rather-long-name"
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30.0) as api:
        for body in (
            {"name": org, "isOrg": True},
            {"name": user, "password": PASSWORD, "email": f"{user}@example.com"},
        ):
            api.post("/enzi/v0/accounts", json=body).raise_for_status()
        api.post(f"/enzi/v0/accounts/{org}/teams", json={"name": "developers"}).raise_for_status()
        api.put(f"/enzi/v0/accounts/{org}/teams/developers/members/{user}").raise_for_status()
        api.post(
            f"/api/v0/repositories/{org}",
            json={
                "name": repo.split("/", 1)[1],
                "visibility": "public",
                "shortDescription": "A public repository whose description is long enough to "
                "wrap on a phone screen, as real ones do",
            },
        ).raise_for_status()
        api.put(
            f"/api/v0/repositories/{repo}/teamAccess/developers", json={"accessLevel": "read-write"}
        ).raise_for_status()
        image = push_image(api, repo, LONG_TAG, ADMIN)
        push_image(api, repo, "to-delete", ADMIN)
        push_index(api, repo, "multi-platform", ADMIN)
        sbom = _artifact(api, repo, image.digest)
    return {"org": org, "user": user, "repo": repo, "image": image.digest, "sbom": sbom}


def _context(chromium: Any, registry: RunningRegistry, who: tuple[str, str] | None) -> Any:
    context = chromium.new_context(viewport={"width": WIDTH, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20000)
    if who is not None:
        page.goto(f"{registry.url}/login")
        page.fill("#username", who[0])
        page.fill("#password", who[1])
        page.click("#sign-in")
        page.wait_for_url("**/repositories")
    return page


def _fits(page: Any, url: str, name: str) -> int:
    response = page.goto(url)
    assert response is not None and response.status < 500, (url, response and response.status)
    shot(page, f"narrow-{name}")
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    return width


def test_every_page_fits_a_390_px_screen(
    registry: RunningRegistry, chromium: Any, site: dict[str, str]
) -> None:
    repo, org, user = site["repo"], site["org"], site["user"]
    base = registry.url
    signed_in_pages = {
        "repositories": "/repositories",
        "search": "/repositories?q=repository",
        "new-repository": "/repositories/new",
        "tags": f"/repositories/{repo}",
        "image": f"/repositories/{repo}/tags/{LONG_TAG}",
        "index": f"/repositories/{repo}/tags/multi-platform",
        "artifact": f"/repositories/{repo}/tags/{site['sbom']}",
        "activity": f"/repositories/{repo}/activity",
        "settings": f"/repositories/{repo}/settings",
        "permissions": f"/repositories/{repo}/permissions",
        "delete-tag": f"/repositories/{repo}/tags/to-delete/delete",
        "admin-users": "/admin/users",
        "admin-user": f"/admin/users/{user}",
        "admin-orgs": "/admin/orgs",
        "admin-org": f"/admin/orgs/{org}",
        "admin-settings": "/admin/settings",
        "tokens": "/tokens",
        "account": "/account",
        "jobs": "/jobs",
        "scanning": "/scanning",
        "signing": "/signing",
        "not-found": "/no/such/page",
        "error": f"/repositories/{org}/missing",
    }
    anonymous_pages = {
        "anonymous-login": "/login",
        "anonymous-repositories": "/repositories",
        "anonymous-tags": f"/repositories/{repo}",
        "anonymous-image": f"/repositories/{repo}/tags/{LONG_TAG}",
        "anonymous-not-found": "/nothing/here",
    }
    too_wide: dict[str, int] = {}
    admin = _context(chromium, registry, ADMIN)
    for name, path in signed_in_pages.items():
        width = _fits(admin, base + path, name)
        if width > WIDTH:
            too_wide[name] = width
    anonymous = _context(chromium, registry, None)
    for name, path in anonymous_pages.items():
        width = _fits(anonymous, base + path, name)
        if width > WIDTH:
            too_wide[name] = width
    assert too_wide == {}, f"pages wider than {WIDTH} px: {too_wide}"
    admin.goto(f"{base}/repositories/{repo}")  # the tag's signature badge, on the screen
    badge = admin.locator(f'[id="sig-{LONG_TAG}"]')
    box = badge.bounding_box()
    assert badge.inner_text() == "Unsigned" and box and box["x"] + box["width"] <= WIDTH, box
    for page in (admin, anonymous):
        page.context.close()


def test_a_writer_deletes_a_tag_by_clicking(
    registry: RunningRegistry, chromium: Any, site: dict[str, str]
) -> None:
    repo = site["repo"]
    page = _context(chromium, registry, (site["user"], PASSWORD))
    page.goto(f"{registry.url}/repositories/{repo}")
    page.click("#delete-to-delete")
    page.wait_for_url("**/tags/to-delete/delete")
    assert "Delete tag to-delete?" in (page.text_content("#confirm-delete-tag") or "")
    page.click("#cancel-delete")  # changing one's mind deletes nothing
    page.wait_for_url("**/tags/to-delete")
    page.click("#delete-tag")
    page.click("#confirm-delete")
    page.wait_for_url("**?deleted=to-delete")
    assert "Tag to-delete deleted." in (page.text_content("#deleted") or "")
    assert page.locator("#tags >> text=to-delete").count() == 0
    shot(page, "narrow-tag-deleted")
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30.0) as api:
        assert api.get(f"/api/v0/repositories/{repo}/tags/to-delete").status_code == 404
        assert api.get(f"/api/v0/repositories/{repo}/tags/{LONG_TAG}").status_code == 200
    page.context.close()
