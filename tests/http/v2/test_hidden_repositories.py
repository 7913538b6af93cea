"""A caller who cannot pull a repository learns nothing of it: pushing to (or deleting in) a
private repository they cannot see is answered exactly as for one that does not exist; one who
can pull but not push gets 403 DENIED."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.http.v2.inproc_push import create_repository, create_user, oci_error
from tests.inprocess import running_app


def _answer(r: httpx.Response) -> tuple[int, str, str, object]:
    error = r.json()["errors"][0]
    return r.status_code, error["code"], error["message"], error["detail"]


def _same_but_name(hidden: httpx.Response, missing: httpx.Response, a: str, b: str) -> None:
    """Identical answers once the repository names are swapped."""
    left = _answer(hidden)
    right = _answer(missing)
    assert repr(left).replace(a, "<repo>") == repr(right).replace(b, "<repo>"), (left, right)


@pytest.mark.parametrize("create_on_push", [False, True])
async def test_push_to_a_hidden_repository_looks_like_a_missing_one(
    tmp_path: Path, database_factory: Callable[[], str | None], create_on_push: bool
) -> None:
    settings = {"createRepositoryOnPush": create_on_push}
    async with running_app(tmp_path / "d", database_factory(), site_settings=settings) as app:
        async with app.client() as admin:
            alice = await create_user(admin, "alice")
            bob = await create_user(admin, "bob")
        async with app.client(auth=alice) as c:
            secret = await create_repository(c, "alice", "secret")
            shared = await create_repository(c, "alice", "shared", visibility="public")
        missing = "alice/nothing-here"
        async with app.client(auth=bob) as c:
            for method, path in (
                ("POST", "/v2/{}/blobs/uploads/"),
                ("PUT", "/v2/{}/manifests/latest"),
                ("DELETE", "/v2/{}/manifests/latest"),
            ):
                hidden_r = await c.request(method, path.format(secret), content=b"{}")
                missing_r = await c.request(method, path.format(missing), content=b"{}")
                assert hidden_r.status_code in (403, 404), hidden_r.text
                _same_but_name(hidden_r, missing_r, secret, missing)
            # Bob may pull the public repository but not push to it: 403 DENIED.
            oci_error(await c.post(f"/v2/{shared}/blobs/uploads/"), 403, "DENIED")
            oci_error(await c.get(f"/v2/{secret}/tags/list"), 403, "DENIED")
            assert (await c.get(f"/v2/{shared}/tags/list")).status_code == 200
        # Alice herself still sees her repository and pushes to it.
        async with app.client(auth=alice) as c:
            assert (await c.post(f"/v2/{secret}/blobs/uploads/")).status_code == 202
