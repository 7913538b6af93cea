"""Bad input: each answer is a clear error in the OCI envelope, and nothing becomes visible."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningRegistry
from tests.http.v2.helpers import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    OCI_CODES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_error,
    descriptor,
    digest_of,
    dumps,
    image_manifest,
    push_blob,
    push_manifest,
    put_manifest,
    random_bytes,
    raw_request,
    send_truncated,
    start_upload,
    unique_repo,
    with_digest,
)

MALFORMED_DIGESTS = [
    "sha256:totallywrong",
    "sha256:baddigeststring",
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha512:" + "a" * 64,
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "sha256:",
    ":" + "a" * 64,
    "SHA256:" + "a" * 64,
    "sha256:" + "g" * 64,
]


@pytest.fixture(scope="module")
def registry(shared_registry: RunningRegistry) -> RunningRegistry:
    """The session's shared server: this module only talks to it (raw sockets, truncated
    bodies, its access log)."""
    return shared_registry


def assert_raw_error(
    response: tuple[int, dict[str, str], bytes], statuses: set[int], *codes: str
) -> str:
    status, headers, body = response
    assert status in statuses, (status, body[:300])
    assert headers["content-type"].startswith("application/json")
    first = json.loads(body)["errors"][0]
    assert set(first) >= {"code", "message", "detail"}
    assert first["code"] in OCI_CODES
    if codes:
        assert first["code"] in codes, first
    return str(first["code"])


def assert_blob_absent(client: httpx.Client, repo: str, *digests: str) -> None:
    for digest in digests:
        assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
        assert_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


def assert_manifest_absent(client: httpx.Client, repo: str, *refs: str) -> None:
    for ref in refs:
        assert client.head(f"/v2/{repo}/manifests/{ref}").status_code == 404
        assert_error(
            client.get(f"/v2/{repo}/manifests/{ref}"), 404, "MANIFEST_UNKNOWN", "NAME_UNKNOWN"
        )


def full_catalog(client: httpx.Client) -> list[str]:
    r = client.get("/v2/_catalog", params={"n": 10000})
    assert r.status_code == 200
    names: list[str] = r.json()["repositories"]
    return names


# ---- digests ---------------------------------------------------------------------------------


def test_wrong_digest_on_monolithic_post(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"anchor")
    data = random_bytes(3067)
    claimed = digest_of(data + b"oh no")
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data)
    assert_error(r, 400, "DIGEST_INVALID")
    assert_blob_absent(client, repo, claimed, digest_of(data))


def test_wrong_digest_on_put(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3067)
    claimed = digest_of(data + b"oh no")
    location = start_upload(client, repo)
    err = assert_error(
        client.put(with_digest(location, claimed), content=data), 400, "DIGEST_INVALID"
    )
    assert claimed in json.dumps(err["detail"])
    assert_blob_absent(client, repo, claimed, digest_of(data))


def test_wrong_digest_on_chunked_and_streamed_uploads(client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(3067)
    claimed = digest_of(data + b"oh no")
    chunked = start_upload(client, repo)
    for start, end in ((0, 1023), (1024, 2047), (2048, 3066)):
        r = client.patch(
            chunked, content=data[start : end + 1], headers={"Content-Range": f"{start}-{end}"}
        )
        assert r.status_code == 202
    assert_error(client.put(with_digest(chunked, claimed)), 400, "DIGEST_INVALID")

    streamed = start_upload(client, repo)

    def body() -> Iterator[bytes]:
        yield data[:1000]
        yield data[1000:]

    assert client.patch(streamed, content=body()).status_code == 202
    assert_error(client.put(with_digest(streamed, claimed)), 400, "DIGEST_INVALID")
    # sha512 claimed for sha256-sized content, and a sha512 mismatch
    sha512_upload = start_upload(client, repo)
    assert client.patch(sha512_upload, content=data).status_code == 202
    bad512 = digest_of(data + b"!", "sha512")
    assert_error(client.put(with_digest(sha512_upload, bad512)), 400, "DIGEST_INVALID")
    assert_blob_absent(client, repo, claimed, digest_of(data), bad512, digest_of(data, "sha512"))


@pytest.mark.parametrize("bad", MALFORMED_DIGESTS)
def test_malformed_digest_is_400_never_500(client: httpx.Client, bad: str) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    push_manifest(client, repo, "v1", body)
    location = start_upload(client, repo)
    assert client.patch(location, content=b"12345").status_code == 202

    # Blob endpoints
    assert_error(
        client.get(f"/v2/{repo}/blobs/{bad}"), {400, 404}, "DIGEST_INVALID", "BLOB_UNKNOWN"
    )
    assert client.head(f"/v2/{repo}/blobs/{bad}").status_code in (400, 404)
    assert_error(
        client.delete(f"/v2/{repo}/blobs/{bad}"), {400, 404}, "DIGEST_INVALID", "BLOB_UNKNOWN"
    )
    # Upload endpoints: 400, and the session is untouched.
    assert_error(client.put(with_digest(location, bad)), 400, "DIGEST_INVALID")
    assert client.get(location).headers["Range"] == "0-4"
    assert_error(
        client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": bad}, content=b"12345"),
        400,
        "DIGEST_INVALID",
    )
    assert_error(
        client.post(f"/v2/{repo}/blobs/uploads/", params={"mount": bad, "from": repo}),
        400,
        "DIGEST_INVALID",
    )
    # Manifest endpoints
    if ":" in bad:
        assert_error(
            client.put(
                f"/v2/{repo}/manifests/{bad}", content=body, headers={"Content-Type": OCI_MANIFEST}
            ),
            400,
        )
        assert_error(
            client.get(f"/v2/{repo}/manifests/{bad}"),
            {400, 404},
            "DIGEST_INVALID",
            "MANIFEST_UNKNOWN",
        )
        assert client.head(f"/v2/{repo}/manifests/{bad}").status_code in (400, 404)
        assert_error(
            client.delete(f"/v2/{repo}/manifests/{bad}"),
            {400, 404},
            "DIGEST_INVALID",
            "MANIFEST_UNKNOWN",
        )
    assert_error(client.get(f"/v2/{repo}/referrers/{bad}"), 400, "DIGEST_INVALID")
    # Nothing changed.
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.json()["tags"] == ["v1"]
    assert client.get(f"/v2/{repo}/manifests/v1").content == body


def test_legacy_totallywrong_get(client: httpx.Client) -> None:
    """The legacy suite GETs (and once PUT) ``sha256:totallywrong`` with a body."""
    repo = unique_repo()
    push_manifest(client, repo, "v1", image_manifest(client, repo))
    r = client.request(
        "GET",
        f"/v2/{repo}/manifests/sha256:totallywrong",
        content=b"blablabla",
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_error(r, {400, 404}, "DIGEST_INVALID", "MANIFEST_UNKNOWN")
    r = client.put(
        f"/v2/{repo}/manifests/sha256:totallywrong",
        content=b"blablabla",
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_error(r, 400)


def test_manifest_digest_mismatch(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    bad_body = body + b"  "
    # ``bad-digest-image``: the body does not hash to the digest in the URL.
    r = put_manifest(client, repo, digest_of(body), bad_body)
    assert_error(r, 400, "DIGEST_INVALID")
    sha512 = digest_of(body, "sha512")
    assert_error(put_manifest(client, repo, sha512, bad_body), 400, "DIGEST_INVALID")
    assert_manifest_absent(client, repo, digest_of(body), digest_of(bad_body), sha512)
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


# ---- bodies that are cut short or lie about their length ---------------------------------------


def test_truncated_patch_records_nothing(registry: RunningRegistry, client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(1100)
    location = start_upload(client, repo)
    first = client.patch(location, content=data[:100], headers={"Content-Range": "0-99"})
    assert first.status_code == 202
    send_truncated(
        registry.host,
        registry.log_path,
        "PATCH",
        location,
        {"Content-Type": "application/octet-stream", "Content-Range": "100-1099"},
        1000,
        b"X" * 500,
    )
    # The half-sent chunk is not recorded, and the session is free for the retry.
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-99"
    r = client.patch(location, content=data[100:], headers={"Content-Range": "100-1099"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-1099"
    digest = digest_of(data)
    done = client.put(with_digest(location, digest))
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_truncated_monolithic_post_leaves_no_blob(
    registry: RunningRegistry, client: httpx.Client
) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"anchor")
    data = random_bytes(1000)
    digest = digest_of(data)
    send_truncated(
        registry.host,
        registry.log_path,
        "POST",
        f"/v2/{repo}/blobs/uploads/?digest={digest}",
        {"Content-Type": "application/octet-stream"},
        1000,
        data[:500],
    )
    assert_blob_absent(client, repo, digest, digest_of(data[:500]))
    # The complete upload still works afterwards.
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_truncated_put_leaves_no_blob(registry: RunningRegistry, client: httpx.Client) -> None:
    repo = unique_repo()
    data = random_bytes(1000)
    digest = digest_of(data)
    location = start_upload(client, repo)
    send_truncated(
        registry.host,
        registry.log_path,
        "PUT",
        with_digest(location, digest),
        {"Content-Type": "application/octet-stream"},
        1000,
        data[:999],
    )
    assert_blob_absent(client, repo, digest)
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"
    done = client.put(with_digest(location, digest), content=data)
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_truncated_manifest_put_stores_nothing(
    registry: RunningRegistry, client: httpx.Client
) -> None:
    repo = unique_repo()
    fresh = unique_repo()
    body = image_manifest(client, repo)
    digest = digest_of(body)
    for name, ref, sent in (
        (repo, "cut", body[: len(body) // 2]),
        (repo, digest, body[:-1]),
        (fresh, "cut", body[:-1]),  # a new repository whose only push was cut short
    ):
        send_truncated(
            registry.host,
            registry.log_path,
            "PUT",
            f"/v2/{name}/manifests/{ref}",
            {"Content-Type": OCI_MANIFEST},
            len(body),
            sent,
        )
    assert_manifest_absent(client, repo, "cut", digest)
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    assert_error(client.get(f"/v2/{fresh}/tags/list"), 404, "NAME_UNKNOWN")
    assert fresh not in full_catalog(client)
    assert push_manifest(client, repo, "cut", body) == digest


def test_content_length_disagreeing_with_content_range(client: httpx.Client) -> None:
    repo = unique_repo()
    location = start_upload(client, repo)
    r = client.patch(
        location,
        content=b"x" * 50,
        headers={"Content-Range": "0-99", "Content-Length": "50"},
    )
    assert_error(r, {400, 416}, "BLOB_UPLOAD_INVALID", "SIZE_INVALID")
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-0"
    # Content-Range with end before start
    r = client.patch(location, content=b"x" * 10, headers={"Content-Range": "9-0"})
    assert_error(r, {400, 416}, "BLOB_UPLOAD_INVALID")
    r = client.patch(location, content=b"x" * 10, headers={"Content-Range": "zero-nine"})
    assert_error(r, {400, 416}, "BLOB_UPLOAD_INVALID")
    assert client.get(location).headers["Range"] == "0-0"


def test_content_length_shorter_than_body(registry: RunningRegistry, client: httpx.Client) -> None:
    """The server reads Content-Length bytes; the digest of those does not match."""
    repo = unique_repo()
    push_blob(client, repo, b"anchor")
    data = random_bytes(100)
    digest = digest_of(data)
    response = raw_request(
        registry.host,
        "POST",
        f"/v2/{repo}/blobs/uploads/?digest={digest}",
        {"Content-Length": "60", "Content-Type": "application/octet-stream"},
        data,
    )
    assert_raw_error(response, {400}, "DIGEST_INVALID")
    assert_blob_absent(client, repo, digest, digest_of(data[:60]))
    # A manifest cut by its Content-Length is invalid JSON.
    body = image_manifest(client, repo)
    response = raw_request(
        registry.host,
        "PUT",
        f"/v2/{repo}/manifests/short",
        {"Content-Length": str(len(body) - 10), "Content-Type": OCI_MANIFEST},
        body,
    )
    assert_raw_error(response, {400}, "MANIFEST_INVALID")
    assert_manifest_absent(client, repo, "short", digest_of(body))


def test_malformed_content_length(registry: RunningRegistry, client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, b"anchor")
    location = start_upload(client, repo)
    status, _, _ = raw_request(registry.host, "PATCH", location, {"Content-Length": "abc"}, b"")
    assert status == 400
    assert client.get(location).headers["Range"] == "0-0"


# ---- manifests ----------------------------------------------------------------------------------


def bad_manifests(config: bytes) -> list[tuple[str, bytes, str]]:
    good: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [],
    }

    def variant(**changes: Any) -> bytes:
        doc = dict(good)
        for key, value in changes.items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        return dumps(doc)

    bad_desc = descriptor(OCI_CONFIG, config)
    return [
        ("empty body", b"", OCI_MANIFEST),
        ("truncated json", b'{"schemaVersion": 2, "config": {', OCI_MANIFEST),
        ("not json", b"not json at all", OCI_MANIFEST),
        ("json array", b"[]", OCI_MANIFEST),
        ("json string", b'"manifest"', OCI_MANIFEST),
        ("invalid utf-8", b'{"schemaVersion": 2, "x": "\xff\xfe"}', OCI_MANIFEST),
        ("no schemaVersion", variant(schemaVersion=None), OCI_MANIFEST),
        ("schemaVersion 3", variant(schemaVersion=3), OCI_MANIFEST),
        ("schemaVersion string", variant(schemaVersion="2"), OCI_MANIFEST),
        ("no config", variant(config=None), OCI_MANIFEST),
        ("layers not a list", variant(layers={"a": 1}), OCI_MANIFEST),
        (
            "bad layer digest",
            variant(layers=[{**bad_desc, "digest": "sha256:nothex"}]),
            OCI_MANIFEST,
        ),
        ("negative size", variant(config={**bad_desc, "size": -1}), OCI_MANIFEST),
        ("size as string", variant(config={**bad_desc, "size": "2"}), OCI_MANIFEST),
        (
            "descriptor without mediaType",
            variant(config={"digest": bad_desc["digest"], "size": bad_desc["size"]}),
            OCI_MANIFEST,
        ),
        ("annotations not strings", variant(annotations={"a": 1}), OCI_MANIFEST),
        (
            "unknown manifest mediaType",
            variant(mediaType="application/vnd.example+json"),
            "application/vnd.example+json",
        ),
        ("index without manifests", dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}), OCI_INDEX),
        (
            "index manifests not a list",
            dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "x"}),
            OCI_INDEX,
        ),
    ]


def test_invalid_manifests_are_manifest_invalid(client: httpx.Client) -> None:
    repo = unique_repo()
    config = dumps({"os": "linux"})
    push_blob(client, repo, config)
    for label, body, content_type in bad_manifests(config):
        for ref in ("bad", digest_of(body)):
            r = put_manifest(client, repo, ref, body, content_type)
            err = assert_error(r, 400, "MANIFEST_INVALID")
            assert err["message"], label
        assert_manifest_absent(client, repo, "bad", digest_of(body))
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_invalid_manifest_in_new_repository_creates_nothing(client: httpx.Client) -> None:
    before = full_catalog(client)
    repo = unique_repo()
    assert_error(put_manifest(client, repo, "bad", b"{nope"), 400, "MANIFEST_INVALID")
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")
    assert full_catalog(client) == before


@pytest.mark.parametrize(
    "content_type", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, OCI_MANIFEST, None]
)
def test_schema1_is_rejected_clearly(client: httpx.Client, content_type: str | None) -> None:
    repo = unique_repo()
    layer = random_bytes(20)
    push_blob(client, repo, layer)
    body = dumps(
        {
            "schemaVersion": 1,
            "name": repo,
            "tag": "old",
            "architecture": "amd64",
            "fsLayers": [{"blobSum": digest_of(layer)}],
            "history": [{"v1Compatibility": "{}"}],
        }
    )
    r = put_manifest(client, repo, "old", body, content_type)
    # A bad request (not "method not allowed": PUT is allowed here), clearly named.
    err = assert_error(r, {400, 415}, "MANIFEST_INVALID", "UNSUPPORTED")
    assert "schema" in err["message"].lower()
    assert_manifest_absent(client, repo, "old", digest_of(body))


@pytest.mark.parametrize("tag", ["-bad", "x" * 129, ".hidden", "a+b", "tag%20space"])
def test_invalid_tag_on_put(client: httpx.Client, tag: str) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    r = put_manifest(client, repo, tag, body)
    assert_error(r, 400, "TAG_INVALID", "MANIFEST_INVALID")
    assert_manifest_absent(client, repo, tag, digest_of(body))
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_invalid_tag_on_get_and_delete(client: httpx.Client) -> None:
    repo = unique_repo()
    push_manifest(client, repo, "v1", image_manifest(client, repo))
    for tag in (".INVALID_MANIFEST_NAME", "-x", "x" * 129):
        assert client.head(f"/v2/{repo}/manifests/{tag}").status_code == 404
        assert_error(client.get(f"/v2/{repo}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
        assert_error(
            client.delete(f"/v2/{repo}/manifests/{tag}"),
            {400, 404},
            "TAG_INVALID",
            "MANIFEST_UNKNOWN",
        )
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]


# ---- names --------------------------------------------------------------------------------------

BAD_NAMES = [
    "../x",
    "a/../b",
    "%2e%2e/x",
    "a/%2e%2e/b",
    "UPPER/case",
    "%55PPER/case",
    "a" * 256,
    "a//b",
    "a/",
    "/a",
    "-a",
    "a-",
    "a..b",
    "_a",
    "a%00b",
    "a%20b",
    "a/b%2F..%2Fc",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_create_nothing(
    registry: RunningRegistry, client: httpx.Client, name: str
) -> None:
    before = full_catalog(client)
    digest = digest_of(b"data")
    attempts = [
        ("POST", f"/v2/{name}/blobs/uploads/", {}, b""),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", {}, b"data"),
        (
            "PUT",
            f"/v2/{name}/manifests/latest",
            {"Content-Type": OCI_MANIFEST},
            b'{"schemaVersion":2}',
        ),
        ("GET", f"/v2/{name}/tags/list", {}, b""),
        ("GET", f"/v2/{name}/manifests/latest", {}, b""),
        ("GET", f"/v2/{name}/blobs/{digest}", {}, b""),
        ("GET", f"/v2/{name}/referrers/{digest}", {}, b""),
    ]
    # Path tricks (dot segments, a leading slash) may fail to route (404); the rest is NAME_INVALID.
    pathlike = ".." in name or "%2e" in name.lower() or name.startswith("/")
    for method, target, headers, body in attempts:
        status, resp_headers, resp_body = raw_request(registry.host, method, target, headers, body)
        if pathlike and status == 404:
            assert json.loads(resp_body)["errors"][0]["code"] in OCI_CODES
            continue
        assert_raw_error((status, resp_headers, resp_body), {400}, "NAME_INVALID")
    assert full_catalog(client) == before


def test_longest_valid_name(client: httpx.Client) -> None:
    name = "n" * 200 + "/" + "m" * 54
    assert len(name) == 255
    digest = push_blob(client, name, b"long name")
    assert client.get(f"/v2/{name}/blobs/{digest}").content == b"long name"
    assert name in full_catalog(client)


# ---- methods ------------------------------------------------------------------------------------


def test_method_not_allowed(client: httpx.Client) -> None:
    repo = unique_repo()
    digest = push_blob(client, repo, b"x")
    location = start_upload(client, repo)
    cases = [
        ("POST", f"/v2/{repo}/manifests/latest"),
        ("PATCH", f"/v2/{repo}/manifests/latest"),
        ("PATCH", f"/v2/{repo}/blobs/{digest}"),
        ("PUT", f"/v2/{repo}/blobs/{digest}"),
        ("POST", f"/v2/{repo}/blobs/{digest}"),
        ("GET", f"/v2/{repo}/blobs/uploads/"),
        ("PUT", f"/v2/{repo}/blobs/uploads/"),
        ("POST", location),
        ("DELETE", f"/v2/{repo}/tags/list"),
        ("PUT", f"/v2/{repo}/tags/list"),
        ("DELETE", "/v2/_catalog"),
        ("POST", f"/v2/{repo}/referrers/{digest}"),
        ("DELETE", "/v2/"),
        ("PUT", "/v2/"),
    ]
    for method, path in cases:
        r = client.request(method, path)
        assert_error(r, 405, "UNSUPPORTED")
        assert r.headers.get("Allow"), (method, path)
        assert method not in [m.strip() for m in r.headers["Allow"].split(",")]
    # Nothing happened to the blob or the session.
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == b"x"
    assert client.get(location).status_code == 204
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []


def test_index_with_unknown_child_in_new_repository_creates_nothing(client: httpx.Client) -> None:
    before = full_catalog(client)
    repo = unique_repo()
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, b'{"never": "pushed"}')],
        }
    )
    assert_error(put_manifest(client, repo, "idx", index, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")
    assert full_catalog(client) == before
