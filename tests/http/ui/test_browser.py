"""The web UI in real headless Chromium (Debian's ``chromium``, driven by Playwright for Python):
sign in, create a repository, push an image with skopeo, see its tag, layers, Dockerfile lines
and the push in the activity tab, grant a team and change visibility (and see other users' views
change), sign out. Screenshots of the main pages go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth.world import PASSWORD
from tests.clients.conftest import ClientEnv, build_umoci_image, client_environment, requires
from tests.conftest import ADMIN, ARTIFACTS, RunningRegistry
from tests.services.chromium import CHROMIUM, launched

SHOTS = ARTIFACTS / "screenshots"

if not CHROMIUM.exists():
    pytest.skip("Debian chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = requires("skopeo", "umoci")


@pytest.fixture(scope="module")
def cenv(
    tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry
) -> Iterator[ClientEnv]:
    yield client_environment(tmp_path_factory.mktemp("clients"), registry)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launched() as browser:
        yield browser


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signed_in(chromium: Any, registry: RunningRegistry, user: str, password: str) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(f"{registry.url}/tokens")
    page.wait_for_url("**/login?next=*")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url("**/tokens")
    page.goto(f"{registry.url}/repositories")
    return page


def test_browse_push_and_share_a_repository(
    registry: RunningRegistry, cenv: ClientEnv, chromium: Any
) -> None:
    suffix = uuid.uuid4().hex[:6]
    org, viewer, outsider = f"web{suffix}", f"viewer{suffix}", f"outsider{suffix}"
    with httpx.Client(base_url=registry.url, auth=ADMIN, timeout=30.0) as api:
        for body in (
            {"name": org, "isOrg": True},
            {"name": viewer, "password": PASSWORD},
            {"name": outsider, "password": PASSWORD},
        ):
            api.post("/enzi/v0/accounts", json=body).raise_for_status()
        api.post(f"/enzi/v0/accounts/{org}/teams", json={"name": "devs"}).raise_for_status()
        api.put(f"/enzi/v0/accounts/{org}/teams/devs/members/{viewer}").raise_for_status()
    repo = f"{org}/webapp"

    page = signed_in(chromium, registry, *ADMIN)
    shot(page, "login-done-repositories")

    # Create the repository through the form.
    page.click("#new-repository")
    page.fill("#namespace", org)
    page.fill("#name", "webapp")
    page.fill("#description", "The web application")
    page.click("#create")
    page.wait_for_url(f"**/repositories/{repo}")
    assert page.text_content("#visibility") == "private"
    assert f"docker pull {registry.host}/{repo}" in (page.text_content("#pull-command") or "")

    # Push a real image with skopeo; the tags list shows it.
    image = build_umoci_image(cenv, cenv.tmpdir("webapp") / "layout", "v1", label="webapp")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref(f"{repo}:v1"))
    page.reload()
    row = page.locator("#tags tbody tr").first
    assert "v1" in (row.text_content() or "")
    assert "linux/" in (row.text_content() or "")
    assert image.digest[:19] in (row.inner_html() or "")
    shot(page, "repository-tags")

    # The image page: layers and the Dockerfile lines from the config's history.
    page.click("#tags >> text=v1")
    page.wait_for_url(f"**/repositories/{repo}/tags/v1")
    assert page.locator("#layers tbody tr").count() == len(image.layer_digests) == 2
    dockerfile = page.text_content("#dockerfile") or ""
    assert "COPY hello /bin/" in dockerfile
    assert "ADD file:rootfs in /" in dockerfile
    cmd_row = page.locator("#dockerfile tr", has_text='CMD ["/bin/hello"]')
    assert "no layer" in (cmd_row.text_content() or "")
    assert "webapp" in (page.text_content("#labels") or "")
    assert page.text_content("#image-digest") == image.digest
    shot(page, "image")

    # The push shows in the activity tab.
    page.click("#tab-activity")
    page.wait_for_url(f"**/repositories/{repo}/activity")
    activity = page.text_content("#activity") or ""
    assert "TAG_PUSH" in activity
    assert "CREATE_REPO" in activity
    shot(page, "activity")

    # Another user does not see the private repository...
    other = signed_in(chromium, registry, viewer, PASSWORD)
    assert repo not in (other.text_content("#repositories") or "")
    assert other.goto(f"{registry.url}/repositories/{repo}").status == 404

    # ... until their team gets access.
    page.click("#tab-permissions")
    page.select_option("#grant-team", "devs")
    page.select_option("#grant-level", "read-only")
    page.click("#grant")
    page.wait_for_selector(f"#team-access >> text={org}/devs")
    shot(page, "permissions")
    other.goto(f"{registry.url}/repositories")
    assert repo in (other.text_content("#repositories") or "")
    other.goto(f"{registry.url}/repositories/{repo}")
    assert "v1" in (other.text_content("#tags") or "")
    assert other.locator("#tab-settings").count() == 0
    shot(other, "repository-as-read-only-member")

    # Visibility: public makes it visible to everyone signed in.
    outsider_page = signed_in(chromium, registry, outsider, PASSWORD)
    assert repo not in (outsider_page.text_content("#repositories") or "")
    page.click("#tab-settings")
    page.check("#set-public")
    page.click("#save-settings")
    page.wait_for_selector("text=Saved.")
    assert page.text_content("#visibility") == "public"
    shot(page, "settings")
    outsider_page.reload()
    assert repo in (outsider_page.text_content("#repositories") or "")

    # Search, administration and access tokens pages.
    page.goto(f"{registry.url}/repositories?q=webapp")
    assert repo in (page.text_content("#repositories") or "")
    for path, name in (
        ("/admin/users", "admin-users"),
        (f"/admin/users/{outsider}", "admin-user"),
        (f"/admin/orgs/{org}", "admin-org"),
        ("/admin/settings", "admin-settings"),
        ("/jobs", "jobs"),
    ):
        page.goto(f"{registry.url}{path}")
        shot(page, name)
    page.goto(f"{registry.url}/tokens")
    page.fill("#token-label", "laptop")
    page.click("#create-token")
    assert len(page.text_content("#token-value") or "") > 20
    shot(page, "tokens")

    # Sign out: back to the login page, and the pages want a session again.
    page.click("#sign-out")
    page.wait_for_url("**/login")
    page.goto(f"{registry.url}/tokens")
    assert "/login" in page.url
    shot(page, "login")
    # Signed out, the now public repository is still there to browse, read-only.
    page.goto(f"{registry.url}/repositories")
    assert repo in (page.text_content("#repositories") or "")
    assert page.locator("#sign-in-link").count() == 1
    for p in (page, other, outsider_page):
        p.context.close()
