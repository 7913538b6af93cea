"""Cross-repository mount under token auth: the 401 challenge for ``POST …?mount=&from=`` names
the source's pull scope beside the target's, as distribution does, so the token a client
fetches for what the challenge names lets the mount happen (201) instead of a new upload."""

from __future__ import annotations

import re

import httpx

from tests.http.v2.helpers import digest_of
from tests.http.v2.inproc_push import create_user, push_blob
from tests.inprocess import InProcessApp


def _challenge(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 401, response.text
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer "), header
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


async def _token(c: httpx.AsyncClient, auth: tuple[str, str], challenge: dict[str, str]) -> str:
    """What docker does: one ``scope`` parameter per space-separated scope of the challenge."""
    params = [("service", challenge["service"])]
    params += [("scope", scope) for scope in challenge["scope"].split(" ")]
    r = await c.get("/auth/token", params=params, auth=auth)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def test_mount_under_token_auth(inproc: InProcessApp) -> None:
    source, target = "admin/mount-src", "admin/mount-dst"
    data = b"a layer to mount " * 100
    async with inproc.client() as c:
        digest = await push_blob(c, source, data)
    url = f"/v2/{target}/blobs/uploads/"
    params = {"mount": digest, "from": source}
    async with inproc.client(auth=None) as c:
        challenge = _challenge(await c.post(url, params=params))
        assert challenge["scope"].split(" ") == [
            f"repository:{target}:pull,push",
            f"repository:{source}:pull",
        ], challenge
        token = await _token(c, inproc.admin, challenge)
        r = await c.post(url, params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
        assert r.headers["Docker-Content-Digest"] == digest
        got = await c.get(
            f"/v2/{target}/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}
        )
        assert got.status_code == 200 and digest_of(got.content) == digest


async def test_mount_falls_back_to_an_upload_without_the_source_scope(
    inproc: InProcessApp,
) -> None:
    source = "admin/private-src"
    async with inproc.client() as admin:
        digest = await push_blob(admin, source, b"private layer" * 50)
        bob = await create_user(admin, "bob")
    target = "bob/mine"
    url = f"/v2/{target}/blobs/uploads/"
    params = {"mount": digest, "from": source}
    async with inproc.client(auth=None) as c:
        challenge = _challenge(await c.post(url, params=params))
        # Bob cannot read the source: his token carries only the target's scope.
        token = await _token(c, bob, challenge)
        r = await c.post(url, params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202, r.text
        assert r.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")
        head = await c.head(
            f"/v2/{target}/blobs/{digest}", headers={"Authorization": f"Bearer {token}"}
        )
        assert head.status_code == 404


async def test_plain_upload_challenge_names_one_scope(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        challenge = _challenge(await c.post("/v2/admin/plain/blobs/uploads/"))
        assert challenge["scope"] == "repository:admin/plain:pull,push"
        # A mount from the target itself, or from an invalid name, adds nothing.
        params = {"mount": digest_of(b"x"), "from": "admin/plain"}
        challenge = _challenge(await c.post("/v2/admin/plain/blobs/uploads/", params=params))
        assert challenge["scope"] == "repository:admin/plain:pull,push"
        params = {"mount": digest_of(b"x"), "from": "Not/A..Name"}
        challenge = _challenge(await c.post("/v2/admin/plain/blobs/uploads/", params=params))
        assert challenge["scope"] == "repository:admin/plain:pull,push"


async def test_a_cached_target_token_is_challenged_for_the_source(inproc: InProcessApp) -> None:
    """Clients reuse the token they hold for the target (the conformance suite does): it was
    never asked about the source, so the mount answers 401 insufficient_scope naming both."""
    source, target = "admin/cached-src", "admin/cached-dst"
    async with inproc.client() as c:
        digest = await push_blob(c, source, b"cached token layer" * 20)
    async with inproc.client(auth=None) as c:
        only_target = {"service": "moorage", "scope": f"repository:{target}:pull,push"}
        token = await _token(c, inproc.admin, only_target)
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await c.post(f"/v2/{target}/blobs/uploads/", headers=bearer)).status_code == 202
        params = {"mount": digest, "from": source}
        r = await c.post(f"/v2/{target}/blobs/uploads/", params=params, headers=bearer)
        challenge = _challenge(r)
        assert challenge["error"] == "insufficient_scope", challenge
        assert challenge["scope"].split(" ") == [
            f"repository:{target}:pull,push",
            f"repository:{source}:pull",
        ]
        token = await _token(c, inproc.admin, challenge)
        r = await c.post(
            f"/v2/{target}/blobs/uploads/",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
