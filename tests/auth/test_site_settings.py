"""/api/v0/meta/settings: createRepositoryOnPush and readOnlyRegistry, as DTR users use them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

import httpx
import pytest

from tests.auth.world import PASSWORD, World, push_image
from tests.conftest import RunningRegistry


@pytest.fixture(scope="module")
def fresh(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    """A registry left at its defaults (createRepositoryOnPush off)."""
    return registry_factory(site_settings={})


def test_defaults_and_admin_only(fresh: RunningRegistry) -> None:
    with fresh.client(auth=None) as c:
        r = c.get("/api/v0/meta/settings", auth=fresh.admin)
        assert r.status_code == 200
        assert r.json()["createRepositoryOnPush"] is False
        assert r.json()["readOnlyRegistry"] is False
        assert c.get("/api/v0/meta/settings").status_code == 401
        world = World(c, fresh.admin).build()
        r = c.post(
            "/api/v0/meta/settings",
            json={"readOnlyRegistry": True},
            auth=world.creds("bob"),
        )
        assert r.status_code == 403
        assert r.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
        r = c.post("/api/v0/meta/settings", json={"noSuchSetting": 1}, auth=fresh.admin)
        assert r.status_code == 400


def test_push_to_missing_repository_refused_then_allowed(fresh: RunningRegistry) -> None:
    with fresh.client(auth=None) as c:
        world = World(c, fresh.admin).build()
        alice = httpx.BasicAuth(world.name("alice"), PASSWORD)
        bob = httpx.BasicAuth(world.name("bob"), PASSWORD)
        repo = f"{world.name('alice')}/new-repo"
        r = c.post(f"/v2/{repo}/blobs/uploads/", auth=alice)
        assert r.status_code == 404
        error = r.json()["errors"][0]
        assert error["code"] == "NAME_UNKNOWN"
        assert "createRepositoryOnPush" in error["message"]
        # The seed's own example, exactly as written.
        if shutil.which("curl"):
            out = subprocess.run(
                [
                    "curl", "--silent", "--user", f"{fresh.admin[0]}:{fresh.admin[1]}",
                    "--request", "POST", f"{fresh.url}/api/v0/meta/settings",
                    "--header", "accept: application/json",
                    "--header", "content-type: application/json",
                    "--data", '{ "createRepositoryOnPush": true}',
                ],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            assert out.stdout == ""  # DTR answers 202 with no body
        else:
            r = c.post(
                "/api/v0/meta/settings", json={"createRepositoryOnPush": True}, auth=fresh.admin
            )
            assert r.status_code == 202
        r = c.get("/api/v0/meta/settings", auth=fresh.admin)
        assert json.loads(r.text)["createRepositoryOnPush"] is True
        # Now the pusher's namespace rights decide: alice may create in her namespace ...
        status, _ = push_image(c, repo, "v1", alice)
        assert status == 201
        details = c.get(f"/api/v0/repositories/{repo}", auth=alice).json()
        assert details["visibility"] == "private"  # created on push: private
        # ... bob may not, and no repository appears for him.
        other = f"{world.name('alice')}/bobs-attempt"
        status, _ = push_image(c, other, "v1", bob)
        assert status == 403
        assert c.get(f"/api/v0/repositories/{other}", auth=fresh.admin).status_code == 404
        # A namespace that is no account: only system administrators may create there.
        status, _ = push_image(c, f"nobody{world.suffix}/x", "v1", alice)
        assert status in (401, 403)
        c.post("/api/v0/meta/settings", json={"createRepositoryOnPush": False}, auth=fresh.admin)


def test_read_only_registry(fresh: RunningRegistry) -> None:
    with fresh.client(auth=None) as c:
        world = World(c, fresh.admin).build()
        admin = httpx.BasicAuth(*fresh.admin)
        repo = f"{world.org}/public-repo"
        status, digest = push_image(c, repo, "before", admin)
        assert status == 201
        r = c.post("/api/v0/meta/settings", json={"readOnlyRegistry": True}, auth=fresh.admin)
        assert r.status_code == 202 and r.content == b""
        assert c.get("/api/v0/meta/settings", auth=fresh.admin).json()["readOnlyRegistry"] is True
        try:
            status, _ = push_image(c, repo, "during", admin)
            assert status == 405
            r = c.post(f"/v2/{repo}/blobs/uploads/", auth=admin)
            assert r.status_code == 405
            assert r.json()["errors"][0]["code"] == "UNSUPPORTED"
            assert c.delete(f"/v2/{repo}/manifests/before", auth=admin).status_code == 405
            # a bearer token issued for push cannot get around it either
            tok = c.get(
                "/auth/token",
                params={"service": "moorage", "scope": f"repository:{repo}:pull,push"},
                auth=fresh.admin,
            ).json()["token"]
            r = c.post(f"/v2/{repo}/blobs/uploads/", headers={"Authorization": f"Bearer {tok}"})
            assert r.status_code in (401, 405)
            # pulls still work, for signed-in and anonymous callers
            assert c.get(f"/v2/{repo}/manifests/{digest}", auth=admin).status_code == 200
            assert c.get(f"/v2/{repo}/manifests/before").status_code == 200
        finally:
            c.post("/api/v0/meta/settings", json={"readOnlyRegistry": False}, auth=fresh.admin)
        status, _ = push_image(c, repo, "after", admin)
        assert status == 201
