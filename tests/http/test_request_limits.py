"""Request body limits and "who asks before the body" (``moorage.http.gate``), in process.

Bodies come from bounded generators that count what the app pulled, so each test shows both
the answer and how much of the body the server read to give it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from moorage.http.gate import MAX_JSON_DEPTH, json_depth
from tests.http.inproc_images import manifest_for_new_blobs, put_manifest
from tests.http.v2.helpers import digest_of
from tests.inprocess import InProcessApp, running_app

MiB = 1024 * 1024
pytestmark = pytest.mark.one_database  # what it shows does not depend on the database


CHUNK = 64 * 1024


class Body:
    """``total`` bytes in ``CHUNK``s, made on demand; ``pulled`` counts what was taken."""

    def __init__(self, total: int, fill: bytes = b"x") -> None:
        self.total = total
        self.fill = fill
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = (self.fill * CHUNK)[:CHUNK]
        while self.pulled < self.total:
            piece = chunk[: self.total - self.pulled]
            self.pulled += len(piece)
            yield piece


def _errors(r: httpx.Response) -> list[dict[str, object]]:
    doc = r.json()
    assert set(doc) >= {"errors"}, doc
    errors: list[dict[str, object]] = doc["errors"]
    return errors


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "path", ["/api/v0/repositories/admin", "/enzi/v0/accounts", "/api/v0/meta/settings"]
)
async def test_anonymous_api_body_is_refused_unread(
    inproc: InProcessApp, path: str, declared: bool
) -> None:
    body = Body(256 * MiB)
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(body.total)
    async with inproc.client(auth=None) as c:
        r = await c.post(path, content=body, headers=headers)
    assert r.status_code == 401, r.text
    assert _errors(r)[0]["code"] == "NOT_AUTHENTICATED"
    assert r.headers["www-authenticate"].startswith("Basic")
    assert body.pulled <= CHUNK  # the transport may have one chunk in hand, the app took none


async def test_bad_credentials_with_a_body_are_refused_unread(inproc: InProcessApp) -> None:
    body = Body(8 * MiB)
    async with inproc.client(auth=("admin", "wrong")) as c:
        r = await c.post("/api/v0/repositories/admin", content=body)
    assert r.status_code == 401, r.text
    assert body.pulled <= CHUNK


async def test_a_registry_bearer_token_with_an_api_body_is_refused_unread(
    inproc: InProcessApp,
) -> None:
    async with inproc.client() as c:
        r = await c.get("/auth/token", params={"service": "moorage"})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    body = Body(8 * MiB)
    async with inproc.client(auth=None) as c:
        r = await c.post(
            "/api/v0/repositories/admin",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert r.status_code == 401, r.text
    assert body.pulled <= CHUNK


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_signed_in_api_body_over_the_limit(inproc: InProcessApp, declared: bool) -> None:
    body = Body(256 * MiB)
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(body.total)
    async with inproc.client() as c:
        r = await c.post("/api/v0/repositories/admin", content=body, headers=headers)
        assert r.status_code == 413, r.text
        assert _errors(r)[0]["code"] == "REQUEST_TOO_LARGE"
        assert r.headers["connection"] == "close"
        # Declared: nothing read. Chunked: reading stopped at the limit.
        assert body.pulled <= (CHUNK if declared else MiB + 2 * CHUNK)
        # Nothing was created, and an ordinary body still works.
        r = await c.post("/api/v0/repositories/admin", json={"name": "fine"})
        assert r.status_code == 201, r.text


async def test_a_body_just_under_the_limit_is_read(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data", max_request_body=4096) as app, app.client() as c:
        head = '{"name": "edge"'
        doc = head + " " * (4096 - len(head) - 1) + "}"
        assert len(doc) == 4096
        r = await c.post(
            "/api/v0/repositories/admin",
            content=doc,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/api/v0/repositories/admin",
            content=doc + " ",
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text


async def test_a_body_on_get_over_the_limit(inproc: InProcessApp) -> None:
    body = Body(2 * MiB)
    async with inproc.client() as c:
        r = await c.request(
            "GET",
            "/api/v0/repositories",
            content=body,
            headers={"Content-Length": str(body.total)},
        )
    assert r.status_code == 413
    assert body.pulled <= CHUNK


async def test_a_small_body_on_an_anonymous_get_needs_a_caller(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        r = await c.request("GET", "/api/v0/repositories", content=b"{}")
        assert r.status_code == 401
        assert (await c.get("/api/v0/repositories")).status_code == 200


async def test_json_nested_100000_levels_is_a_clear_400(inproc: InProcessApp) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    async with inproc.client() as c:
        for path in ("/api/v0/repositories/admin", "/api/v0/meta/settings", "/api/v0/jobs"):
            r = await c.post(path, content=deep, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, r.text
            assert "nested deeper" in str(_errors(r)[0]["message"])
        # Deep inside a value that is otherwise fine, strings with brackets do not count.
        nested: object = "x"
        for _ in range(MAX_JSON_DEPTH + 1):
            nested = {"a": nested}
        r = await c.post("/api/v0/jobs", json={"action": "onlinegc", "parameters": nested})
        assert r.status_code == 400, r.text
        assert "nested deeper" in str(_errors(r)[0]["message"])
        r = await c.post(
            "/api/v0/repositories/admin",
            json={"name": "brackets", "shortDescription": "[[[[{{{{" * 10},
        )
        assert r.status_code == 201, r.text


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert json_depth(b"") == 0
    assert json_depth(b'{"a": [1, {"b": "]]]"}]}') == 3
    assert json_depth(b'"[[[\\"[[["') == 0
    assert json_depth(b'["unterminated [[[[') == 1
    # Quotes and backslashes that never close: one pass, not a retry from every quote.
    assert json_depth(b'"\\"' * 300_000 + b"[") == 0
    assert json_depth(b"\\" * 100 + b"[[]]") == 2


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_manifest_put_over_its_limit(inproc: InProcessApp, declared: bool) -> None:
    limit = inproc.settings.max_manifest_bytes
    body = Body(64 * MiB, fill=b" ")
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    if declared:
        headers["Content-Length"] = str(body.total)
    async with inproc.client() as c:
        r = await c.put("/v2/admin/big/manifests/latest", content=body, headers=headers)
    assert r.status_code == 413, r.text
    assert _errors(r)[0]["code"] == "MANIFEST_INVALID"
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert body.pulled <= (CHUNK if declared else limit + 2 * CHUNK)


async def test_manifest_under_its_limit_but_over_the_request_limit(tmp_path: Path) -> None:
    """Manifests keep their own (larger) limit, not the request body limit."""
    async with running_app(tmp_path / "data", max_request_body=1024) as app, app.client() as c:
        manifest = await manifest_for_new_blobs(c, "admin/small", annotations={"p": "p" * 4096})
        r = await put_manifest(c, "admin/small", "v1", manifest)
        assert r.status_code == 201, r.text


async def test_blob_upload_bodies_are_not_limited(inproc: InProcessApp) -> None:
    data = b"b" * (3 * MiB)
    async with inproc.client() as c:
        r = await c.post("/v2/admin/blobs/blobs/uploads/")
        assert r.status_code == 202
        location = r.headers["location"]
        r = await c.patch(location, content=data[: 2 * MiB])
        assert r.status_code == 202, r.text
        r = await c.put(location, params={"digest": digest_of(data)}, content=data[2 * MiB :])
        assert r.status_code == 201, r.text
        big = b"m" * (2 * MiB)
        r = await c.post(
            "/v2/admin/blobs/blobs/uploads/", params={"digest": digest_of(big)}, content=big
        )
        assert r.status_code == 201, r.text


async def test_forms_over_the_limit(inproc: InProcessApp) -> None:
    async with inproc.client(auth=None) as c:
        body = Body(64 * MiB, fill=b"a")
        r = await c.post(
            "/auth/token",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413, r.text
        assert _errors(r)[0]["code"] == "SIZE_INVALID"
        assert body.pulled <= MiB + 2 * CHUNK
        body = Body(64 * MiB, fill=b"a")
        r = await c.post(
            "/login",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert body.pulled <= MiB + 2 * CHUNK
        r = await c.post(
            "/login",
            content=b"",
            headers={"Content-Length": str(10 * MiB)},
        )
        assert r.status_code == 413


async def test_multipart_with_many_parts_is_a_400(inproc: InProcessApp) -> None:
    """Starlette's form limits (1000 fields, 1000 files, 1 MiB a part) under the body limit."""
    boundary = "b0undary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
        for i in range(5000)
    )
    body = (parts + f"--{boundary}--\r\n").encode()
    assert len(body) < MiB
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    fields = "&".join(f"f{i}=v" for i in range(5000)).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with inproc.client(auth=None) as c:
        for path in ("/auth/token", "/login"):
            r = await c.post(path, content=body, headers=headers)
            assert r.status_code == 400, (path, r.status_code, r.text[:300])
            r = await c.post(path, content=fields, headers=form)
            assert r.status_code == 400, (path, r.status_code, r.text[:300])
