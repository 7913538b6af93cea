"""Blob pull and delete (spec "Pulling blobs", "Deleting blobs"; conformance Pull, Range)."""

from __future__ import annotations

import httpx
import pytest

from tests.http.v2.helpers import (
    assert_error,
    digest_of,
    push_blob,
    random_bytes,
    unique_repo,
)


@pytest.fixture()
def blob(client: httpx.Client) -> tuple[str, str, bytes]:
    repo = unique_repo()
    data = random_bytes(2048)
    return repo, push_blob(client, repo, data), data


def test_head_and_get(client: httpx.Client, blob: tuple[str, str, bytes]) -> None:
    repo, digest, data = blob
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == "2048"
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Accept-Ranges"] == "bytes"
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.status_code == 200
    assert get.content == data
    assert get.headers["Content-Length"] == "2048"
    assert get.headers["Content-Type"] == "application/octet-stream"
    assert get.headers["Docker-Content-Digest"] == digest
    assert digest_of(get.content) == get.headers["Docker-Content-Digest"]


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=500-1499", 500, 1499),
        ("bytes=500-", 500, 2047),
        ("bytes=-500", 1548, 2047),
        ("bytes=2000-5000", 2000, 2047),
        ("bytes=0-0", 0, 0),
        ("bytes=2047-2047", 2047, 2047),
    ],
)
def test_range_requests(
    client: httpx.Client, blob: tuple[str, str, bytes], range_header: str, start: int, end: int
) -> None:
    repo, digest, data = blob
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert r.status_code == 206, r.text
    assert r.content == data[start : end + 1]
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.headers["Content-Range"] in (f"bytes {start}-{end}/2048", f"bytes {start}-{end}/*")
    assert r.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("range_header", ["bytes=500-0", "bytes=5000-10000", "bytes=2048-"])
def test_unsatisfiable_ranges_are_416(
    client: httpx.Client, blob: tuple[str, str, bytes], range_header: str
) -> None:
    repo, digest, _ = blob
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": range_header})
    assert r.status_code == 416, (r.status_code, r.text)
    assert r.headers["Content-Range"] == "bytes */2048"


def test_missing_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, random_bytes(10))
    missing = digest_of(b"hello world")
    head = client.head(f"/v2/{repo}/blobs/{missing}")
    assert head.status_code == 404
    assert head.content == b""
    assert_error(client.get(f"/v2/{repo}/blobs/{missing}"), 404, "BLOB_UNKNOWN")
    # Unknown repository: still a 404 in the envelope.
    assert_error(
        client.get(f"/v2/{unique_repo()}/blobs/{missing}"), 404, "BLOB_UNKNOWN", "NAME_UNKNOWN"
    )


def test_blob_of_another_repository_is_unknown(client: httpx.Client) -> None:
    owner = unique_repo()
    stranger = unique_repo()
    data = random_bytes(100)
    digest = push_blob(client, owner, data)
    push_blob(client, stranger, random_bytes(100))
    assert client.head(f"/v2/{stranger}/blobs/{digest}").status_code == 404
    err = assert_error(client.get(f"/v2/{stranger}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert digest in str(err["detail"])
    assert_error(client.delete(f"/v2/{stranger}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    # Ranges do not leak it either.
    r = client.get(f"/v2/{stranger}/blobs/{digest}", headers={"Range": "bytes=0-10"})
    assert r.status_code == 404
    assert client.get(f"/v2/{owner}/blobs/{digest}").content == data


def test_sha512_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(777)
    digest = push_blob(client, repo, data, "sha512")
    assert digest.startswith("sha512:") and len(digest) == 7 + 128
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Length"] == "777"
    get = client.get(f"/v2/{repo}/blobs/{digest}")
    assert get.content == data
    assert get.headers["Docker-Content-Digest"] == digest
    part = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_delete_blob(client: httpx.Client, blob: tuple[str, str, bytes]) -> None:
    repo, digest, data = blob
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 202
    # Immediately gone (the new suite's "atomic" check), and a second delete is 404.
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert_error(client.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    # Pushing it again works and serves the same bytes.
    assert push_blob(client, repo, data) == digest
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_delete_blob_in_unknown_repository(client: httpx.Client) -> None:
    r = client.delete(f"/v2/{unique_repo()}/blobs/{digest_of(b'nothing')}")
    assert_error(r, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


def test_delete_in_one_repository_keeps_the_other(client: httpx.Client) -> None:
    a, b = unique_repo(), unique_repo()
    data = random_bytes(64)
    digest = push_blob(client, a, data)
    assert push_blob(client, b, data) == digest
    assert client.delete(f"/v2/{a}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{a}/blobs/{digest}").status_code == 404
    assert client.get(f"/v2/{b}/blobs/{digest}").content == data
