"""A repository the caller may not see answers exactly as one that does not exist: same status,
same body (with the name swapped), on every /api/v0 route that names a repository."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.ui import content
from tests.inprocess import InProcessApp

HIDDEN = "alice/secret"
MISSING = "alice/nothere"


def _routes(me: str, repo: str) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/api/v0/repositories/{repo}"
    return [
        ("GET", base, {}),
        ("PATCH", base, {"json": {"shortDescription": "x"}}),
        ("DELETE", base, {}),
        ("GET", f"{base}/teamAccess", {}),
        ("PUT", f"{base}/teamAccess/devs", {"json": {"accessLevel": "admin"}}),
        ("DELETE", f"{base}/teamAccess/devs", {}),
        ("GET", f"/api/v0/accounts/{me}/repositoryAccess/{repo}", {}),
        ("GET", f"{base}/tags", {}),
        ("GET", f"{base}/tags", {"params": {"includeManifests": "true"}}),
        ("GET", f"{base}/tags/latest", {}),
        ("GET", f"{base}/tags/latest", {"params": {"pageSize": "1"}}),
        ("DELETE", f"{base}/tags/latest", {}),
        ("GET", f"{base}/manifests", {}),
        ("GET", f"{base}/events", {}),
    ]


def _same(hidden: httpx.Response, missing: httpx.Response) -> None:
    assert hidden.status_code == missing.status_code, (hidden.text, missing.text)
    assert hidden.text.replace(HIDDEN, "X").replace("secret", "X") == missing.text.replace(
        MISSING, "X"
    ).replace("nothere", "X")
    assert "counts" not in hidden.text and "pulls" not in hidden.text


@pytest.fixture()
async def world(inproc: InProcessApp) -> InProcessApp:
    async with inproc.client() as admin:
        alice = await content.user(admin, "alice")
        await content.user(admin, "bob")
        await content.repository(admin, "alice", "secret", "private", auth=alice)
        await admin.patch(
            f"/api/v0/repositories/{HIDDEN}", json={"shortDescription": "the secret plan"}
        )
        await content.image(admin, HIDDEN, "latest")
    return inproc


async def test_repository_access_of_a_hidden_repository_is_a_404(world: InProcessApp) -> None:
    async with world.client(auth=("bob", content.PASSWORD)) as bob:
        hidden = await bob.get(f"/api/v0/accounts/bob/repositoryAccess/{HIDDEN}")
        missing = await bob.get(f"/api/v0/accounts/bob/repositoryAccess/{MISSING}")
    assert hidden.status_code == 404
    assert "the secret plan" not in hidden.text
    _same(hidden, missing)
    async with world.client(auth=("alice", content.PASSWORD)) as alice:
        r = await alice.get(f"/api/v0/accounts/alice/repositoryAccess/{HIDDEN}")
    assert r.status_code == 200
    assert r.json()["accessLevel"] == "admin"


@pytest.mark.parametrize("who", ["bob", "anonymous"])
async def test_every_route_answers_a_hidden_repository_as_a_missing_one(
    world: InProcessApp, who: str
) -> None:
    auth = None if who == "anonymous" else ("bob", content.PASSWORD)
    me = "bob"
    async with world.client(auth=auth) as c:
        for method, path, kwargs in _routes(me, HIDDEN):
            hidden = await c.request(method, path, **kwargs)
            other = path.replace(HIDDEN, MISSING)
            missing = await c.request(method, other, **kwargs)
            # DTR's DELETE of a repository is 204 also when there is none: so for a hidden one
            allowed = (
                (401, 204)
                if (method, path) == ("DELETE", f"/api/v0/repositories/{HIDDEN}")
                else (401, 404)
            )
            assert hidden.status_code in allowed, (method, path, hidden.status_code, hidden.text)
            _same(hidden, missing)
    async with world.client() as admin:  # nothing was changed by the refused requests
        r = await admin.get(f"/api/v0/repositories/{HIDDEN}")
        assert r.json()["shortDescription"] == "the secret plan"
        assert (await admin.get(f"/api/v0/repositories/{HIDDEN}/tags/latest")).status_code == 200


async def test_search_and_listings_leave_out_hidden_repositories(world: InProcessApp) -> None:
    async with world.client(auth=("bob", content.PASSWORD)) as bob:
        r = await bob.get("/api/v0/index/autocomplete", params={"query": "secret"})
        assert r.json()["repositoryResults"] == []
        r = await bob.get("/api/v0/repositories/alice")
        assert r.json()["repositories"] == []
        r = await bob.get("/api/v0/repositories")
        assert r.json()["repositories"] == []
