"""The API docs render with no network but the registry itself (Swagger UI from the package).

In real headless Chromium, every request to another origin is aborted and recorded: the docs of
/api/v0 and /enzi/v0 must still show their operations, and nothing may have been aborted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import RunningRegistry
from tests.inprocess import InProcessApp
from tests.services.chromium import launched

pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


DOCS = {
    "/api/v0/docs": ("Moorage API (DTR /api/v0)", "/repositories"),
    "/enzi/v0/docs": ("Moorage accounts (enzi /enzi/v0)", "/accounts"),
}


@pytest.fixture(scope="module")
def registry(shared_registry: RunningRegistry) -> RunningRegistry:
    """The session's shared server: this module only talks to it (Chromium loads its pages)."""
    return shared_registry


async def test_docs_pages_reference_only_their_own_assets(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        for path in DOCS:
            mount = path.removesuffix("/docs")
            r = await c.get(path)
            assert r.status_code == 200, r.text
            urls = re.findall(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""", r.text)
            found = [a or b for a, b in urls]
            assert sorted(found) == sorted(
                [
                    f"{mount}/docs/assets/swagger-ui.css",
                    f"{mount}/docs/assets/favicon-32x32.png",
                    f"{mount}/docs/assets/swagger-ui-bundle.js",
                    f"{mount}/openapi.json",
                ]
            ), found
            assert "://" not in r.text.replace("window.location", "")
            assert '"validatorUrl": null' in r.text
            js = await c.get(f"{mount}/docs/assets/swagger-ui-bundle.js")
            assert js.status_code == 200
            assert js.headers["content-type"].startswith("text/javascript")
            assert b"SwaggerUIBundle" in js.content
            css = await c.get(f"{mount}/docs/assets/swagger-ui.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            # Only the files the page needs: nothing else of the package, no path tricks.
            for name in ("swagger-editor-bundle.js", "..%2F..%2F__init__.py", "LICENSE"):
                assert (await c.get(f"{mount}/docs/assets/{name}")).status_code == 404


# ---- in Chromium, with the network cut -------------------------------------------------------


@pytest.fixture()
def chromium() -> Iterator[Any]:
    # Per test, not per module: sync Playwright keeps an event loop running in this thread
    # while it is open, and the async tests of this module need the thread's loop free.
    with launched() as browser:
        yield browser


@pytest.mark.parametrize("path", sorted(DOCS))
def test_docs_render_offline_in_chromium(
    chromium: Any, registry: RunningRegistry, path: str
) -> None:
    title, operation = DOCS[path]
    origin = urlsplit(registry.url)
    aborted: list[str] = []
    served: list[str] = []

    def only_the_registry(route: Any) -> None:
        url = urlsplit(route.request.url)
        if (url.scheme, url.netloc) == (origin.scheme, origin.netloc):
            served.append(url.path)
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(20000)
        page.route("**/*", only_the_registry)
        page.goto(f"{registry.url}{path}")
        page.wait_for_selector(".opblock", state="visible")
        assert page.locator(".opblock").count() > 3
        assert title in page.locator(".info .title").inner_text()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any(p.replace("\u200b", "").startswith(operation) for p in paths), paths
        # Expanding an operation works too (Swagger UI's own code, no further downloads).
        page.locator(".opblock-summary").first.click()
        page.wait_for_selector(".opblock-body", state="visible")
    finally:
        context.close()
    assert aborted == []
    mount = path.removesuffix("/docs")
    assert f"{mount}/docs/assets/swagger-ui-bundle.js" in served
    assert f"{mount}/openapi.json" in served
