"""Blob push workflows (OCI distribution spec "Pushing blobs"; conformance Push, blob APIs)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.http.v2.helpers import (
    EMPTY_BLOB_DIGEST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    assert_error,
    digest_of,
    push_blob,
    random_bytes,
    start_upload,
    unique_repo,
    with_digest,
)

OCTET = {"Content-Type": "application/octet-stream"}


def assert_blob(client: httpx.Client, repo: str, digest: str, data: bytes) -> None:
    """HEAD and GET give the exact bytes, length and digest."""
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    got = client.get(f"/v2/{repo}/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["Docker-Content-Digest"] == digest
    assert got.headers["Content-Type"] == "application/octet-stream"


def assert_no_blob(client: httpx.Client, repo: str, digest: str) -> None:
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_base_endpoint(client: httpx.Client) -> None:
    for path in ("/v2/", "/v2"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert r.json() == {}
    head = client.head("/v2/")
    assert head.status_code == 200
    assert head.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_post_with_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(512)
    digest = digest_of(data)
    assert_no_blob(client, repo, digest)
    r = client.post(
        f"/v2/{repo}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers=OCTET,
    )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    # The Location is a pullable blob URL.
    assert client.get(r.headers["Location"]).content == data
    assert_blob(client, repo, digest, data)


def test_post_then_put(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(512)
    digest = digest_of(data)
    location = start_upload(client, repo)
    r = client.put(with_digest(location, digest), content=data, headers=OCTET)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, data)
    # Pushing the same blob again still answers 201.
    assert push_blob(client, repo, data) == digest
    # The session is gone once closed.
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_session_location_and_status(client: httpx.Client) -> None:
    repo = unique_repo()
    r = client.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    assert r.status_code == 202
    location = r.headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    assert location == f"/v2/{repo}/blobs/uploads/{upload_id}"
    assert r.headers["Docker-Upload-UUID"] == upload_id
    assert r.headers["Range"] == "0-0"
    status = client.get(location)
    assert status.status_code == 204
    assert status.content == b""
    assert status.headers["Location"] == location
    assert status.headers["Range"] == "0-0"
    # Extra query parameters (a leftover ?digest=) do not disturb the status request.
    with_param = client.get(with_digest(location, digest_of(b"x")))
    assert with_param.status_code == 204
    assert with_param.headers["Range"] == "0-0"


def test_chunked_upload_with_content_range(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3067)
    digest = digest_of(data)
    location = start_upload(client, repo, headers={"Content-Length": "0"})
    for start, end in ((0, 1023), (1024, 2047), (2048, 3066)):
        chunk = data[start : end + 1]
        r = client.patch(
            location,
            content=chunk,
            headers={**OCTET, "Content-Range": f"{start}-{end}"},
        )
        assert r.status_code == 202, r.text
        assert r.headers["Range"] == f"0-{end}"
        assert r.headers["Location"] == location
        status = client.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{end}"
    done = client.put(with_digest(location, digest), headers={"Content-Length": "0"})
    assert done.status_code == 201, done.text
    assert done.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert done.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, data)


def test_chunked_upload_last_chunk_on_put(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3067)
    digest = digest_of(data)
    location = start_upload(client, repo)
    for start, end in ((0, 1023), (1024, 2047)):
        r = client.patch(
            location, content=data[start : end + 1], headers={"Content-Range": f"{start}-{end}"}
        )
        assert r.status_code == 202
    done = client.put(
        with_digest(location, digest),
        content=data[2048:],
        headers={**OCTET, "Content-Range": "2048-3066"},
    )
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, data)


def test_legacy_chunked_sequence(client: httpx.Client) -> None:
    """The legacy suite's sequence: out-of-order first, then reuse of the original Location."""
    repo = unique_repo()
    data = random_bytes(42)
    digest = digest_of(data)
    first = start_upload(client, repo, headers={"Content-Length": "0"})
    bad = client.patch(first, content=data[22:], headers={"Content-Range": "22-41"})
    assert_error(bad, 416, "BLOB_UPLOAD_INVALID")
    assert bad.headers["Range"] == "0-0"

    location = start_upload(client, repo, headers={"Content-Length": "0"})
    r = client.patch(location, content=data[:22], headers={"Content-Range": "0-21"})
    assert r.status_code == 202
    assert r.headers["Range"] == "0-21"
    again = client.patch(location, content=data[:22], headers={"Content-Range": "0-21"})
    assert again.status_code == 416
    assert again.headers["Range"] == "0-21"
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-21"
    r = client.patch(
        status.headers["Location"], content=data[22:], headers={"Content-Range": "22-41"}
    )
    assert r.status_code == 202
    assert r.headers["Range"] == "0-41"
    done = client.put(with_digest(r.headers["Location"], digest), headers={"Content-Length": "0"})
    assert done.status_code == 201
    assert_blob(client, repo, digest, data)


def test_out_of_order_and_overlapping_chunks_are_416(client: httpx.Client) -> None:
    """The new suite's out-of-order flow: every bad chunk is 416 and leaves the session intact."""
    repo = unique_repo()
    data = random_bytes(3067)
    digest = digest_of(data)
    location = start_upload(client, repo)
    chunks = [(0, 1023), (1024, 2047), (2048, 3066)]
    bad_before = {0: (1024, 2047), 1: (2048, 3066), 2: (0, 1023)}
    last = -1
    for i, (start, end) in enumerate(chunks):
        bad_start, bad_end = bad_before[i]
        bad = client.patch(
            location,
            content=data[bad_start : bad_end + 1],
            headers={"Content-Range": f"{bad_start}-{bad_end}"},
        )
        assert_error(bad, 416, "BLOB_UPLOAD_INVALID")
        assert bad.headers["Range"] == f"0-{max(last, 0)}"
        status = client.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{max(last, 0)}"
        good = client.patch(
            location, content=data[start : end + 1], headers={"Content-Range": f"{start}-{end}"}
        )
        assert good.status_code == 202, good.text
        last = end
    # An overlapping chunk (starts inside what is already stored) is also 416.
    overlap = client.patch(
        location, content=data[1500:2500], headers={"Content-Range": "1500-2499"}
    )
    assert overlap.status_code == 416
    assert overlap.headers["Range"] == "0-3066"
    done = client.put(with_digest(location, digest), headers={"Content-Length": "0"})
    assert done.status_code == 201
    assert_blob(client, repo, digest, data)


def test_out_of_order_final_put_chunk_is_416_and_session_survives(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3067)
    digest = digest_of(data)
    location = start_upload(client, repo)
    assert (
        client.patch(location, content=data[:1024], headers={"Content-Range": "0-1023"}).status_code
        == 202
    )
    bad = client.put(
        with_digest(location, digest), content=data[2048:], headers={"Content-Range": "2048-3066"}
    )
    assert_error(bad, 416, "BLOB_UPLOAD_INVALID")
    assert bad.headers["Range"] == "0-1023"
    assert_no_blob(client, repo, digest)
    # The recovery GET goes to the URL that still carries ?digest=.
    status = client.get(with_digest(location, digest))
    assert status.status_code == 204
    assert status.headers["Range"] == "0-1023"
    assert (
        client.patch(
            location, content=data[1024:2048], headers={"Content-Range": "1024-2047"}
        ).status_code
        == 202
    )
    done = client.put(
        with_digest(location, digest), content=data[2048:], headers={"Content-Range": "2048-3066"}
    )
    assert done.status_code == 201, done.text
    assert_blob(client, repo, digest, data)


def test_streamed_patch_with_chunked_transfer_encoding(client: httpx.Client) -> None:
    repo = unique_repo()
    parts = [random_bytes(1000), random_bytes(7), random_bytes(70_000), random_bytes(1)]
    data = b"".join(parts)
    digest = digest_of(data)
    location = start_upload(client, repo, headers={"Content-Length": "0"})

    def body() -> Iterator[bytes]:
        yield from parts

    request = client.build_request("PATCH", location, content=body(), headers=OCTET)
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in request.headers
    r = client.send(request)
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    assert r.headers["Location"] == location
    done = client.put(with_digest(r.headers["Location"], digest), headers={"Content-Length": "0"})
    assert done.status_code == 201
    assert done.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert_blob(client, repo, digest, data)


def test_streamed_patch_without_content_range_then_put_without_body(client: httpx.Client) -> None:
    """Legacy "Blob Upload Streamed": PATCH the whole blob, PUT ?digest with no body."""
    repo = unique_repo()
    data = random_bytes(42)
    digest = digest_of(data)
    location = start_upload(client, repo)
    r = client.patch(location, content=data, headers=OCTET)
    assert r.status_code == 202
    assert r.headers["Range"] == "0-41"
    done = client.put(with_digest(r.headers["Location"], digest), headers=OCTET)
    assert done.status_code == 201
    assert_blob(client, repo, digest, data)


def test_chunked_put_with_streamed_final_chunk(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(5000)
    digest = digest_of(data)
    location = start_upload(client, repo)
    assert client.patch(location, content=data[:100]).status_code == 202

    def rest() -> Iterator[bytes]:
        yield data[100:2000]
        yield data[2000:]

    done = client.put(with_digest(location, digest), content=rest())
    assert done.status_code == 201, done.text
    assert_blob(client, repo, digest, data)


def test_sha512_uploads(client: httpx.Client) -> None:
    repo = unique_repo()
    mono = random_bytes(512)
    mono_digest = digest_of(mono, "sha512")
    r = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": mono_digest}, content=mono, headers=OCTET
    )
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == mono_digest
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{mono_digest}"
    assert_blob(client, repo, mono_digest, mono)

    chunked = random_bytes(3000)
    digest = digest_of(chunked, "sha512")
    location = start_upload(client, repo)
    assert (
        client.patch(
            location, content=chunked[:1000], headers={"Content-Range": "0-999"}
        ).status_code
        == 202
    )
    assert (
        client.patch(
            location, content=chunked[1000:], headers={"Content-Range": "1000-2999"}
        ).status_code
        == 202
    )
    done = client.put(with_digest(location, digest))
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == digest
    assert_blob(client, repo, digest, chunked)
    # The sha256 name of the same bytes is a different blob, unknown here.
    assert_no_blob(client, repo, digest_of(chunked))


def test_well_known_blobs(client: httpx.Client) -> None:
    repo = unique_repo()
    assert push_blob(client, repo, EMPTY_JSON) == EMPTY_JSON_DIGEST
    assert_blob(client, repo, EMPTY_JSON_DIGEST, EMPTY_JSON)
    assert push_blob(client, repo, b"") == EMPTY_BLOB_DIGEST
    assert_blob(client, repo, EMPTY_BLOB_DIGEST, b"")
    # The empty blob as a monolithic POST with no body at all.
    other = unique_repo()
    r = client.post(
        f"/v2/{other}/blobs/uploads/", params={"digest": EMPTY_BLOB_DIGEST}, content=b""
    )
    assert r.status_code == 201, r.text
    assert_blob(client, other, EMPTY_BLOB_DIGEST, b"")
    for d in (EMPTY_JSON_DIGEST, EMPTY_BLOB_DIGEST):
        assert client.delete(f"/v2/{repo}/blobs/{d}").status_code == 202
        assert_no_blob(client, repo, d)


def test_cancel_upload(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(100)
    location = start_upload(client, repo)
    assert client.patch(location, content=data).status_code == 202
    r = client.delete(location, headers={"Content-Length": "0"})
    assert r.status_code == 204
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(with_digest(location, digest_of(data))), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_no_blob(client, repo, digest_of(data))


def test_upload_unknown_and_foreign_sessions(client: httpx.Client) -> None:
    repo = unique_repo()
    other = unique_repo()
    location = start_upload(client, repo)
    upload_id = location.rsplit("/", 1)[1]
    # A session belongs to its repository.
    assert_error(client.get(f"/v2/{other}/blobs/uploads/{upload_id}"), 404, "BLOB_UPLOAD_UNKNOWN")
    # A made-up or malformed session id is 404 BLOB_UPLOAD_UNKNOWN, never 500.
    for bad in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "x" * 300):
        assert_error(client.get(f"/v2/{repo}/blobs/uploads/{bad}"), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_error(
            client.patch(f"/v2/{repo}/blobs/uploads/{bad}", content=b"a"),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        )
    assert client.get(location).status_code == 204


def test_cross_repository_mount(client: httpx.Client) -> None:
    source = unique_repo()
    target = unique_repo()
    data = random_bytes(300)
    digest = push_blob(client, source, data)
    assert_no_blob(client, target, digest)
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob(client, target, digest, data)
    # Blob delete is per repository: the source keeps its blob.
    assert client.delete(f"/v2/{target}/blobs/{digest}").status_code == 202
    assert_no_blob(client, target, digest)
    assert_blob(client, source, digest, data)


def test_mount_without_from_finds_the_blob(client: httpx.Client) -> None:
    source = unique_repo()
    target = unique_repo()
    data = random_bytes(300)
    digest = push_blob(client, source, data)
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert r.headers["Docker-Content-Digest"] == digest
    assert_blob(client, target, digest, data)


def test_mount_of_unknown_blob_starts_an_upload(client: httpx.Client) -> None:
    source = unique_repo()
    target = unique_repo()
    push_blob(client, source, random_bytes(10))
    data = random_bytes(300)
    digest = digest_of(data)
    for params in ({"mount": digest, "from": source}, {"mount": digest}):
        r = client.post(f"/v2/{target}/blobs/uploads/", params=params)
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert location.startswith(f"/v2/{target}/blobs/uploads/")
        assert r.headers["Range"] == "0-0"
        assert_no_blob(client, target, digest)
    # The fallback upload session works like any other.
    done = client.put(with_digest(location, digest), content=data)
    assert done.status_code == 201
    assert_blob(client, target, digest, data)


def test_mount_from_repository_that_lacks_the_blob(client: httpx.Client) -> None:
    holder = unique_repo()
    empty_source = unique_repo()
    target = unique_repo()
    digest = push_blob(client, holder, random_bytes(30))
    push_blob(client, empty_source, random_bytes(30))
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": empty_source})
    assert r.status_code == 202
    assert r.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")
    assert_no_blob(client, target, digest)
