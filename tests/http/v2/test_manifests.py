"""Manifests: push, pull, negotiation and delete for every kind the spec and Docker v2 know."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.http.v2.helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_error,
    descriptor,
    digest_of,
    dumps,
    image_manifest,
    index_manifest,
    push_blob,
    push_manifest,
    put_manifest,
    random_bytes,
    unique_repo,
)

BOTH_ACCEPT = [("Accept", OCI_INDEX), ("Accept", OCI_MANIFEST)]
ALL_ACCEPT = [("Accept", f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}")]
AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}


def assert_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str,
    algorithm: str = "sha256",
    accept: list[tuple[str, str]] | None = None,
) -> None:
    """GET and HEAD give the exact bytes, media type, length and digest."""
    digest = digest_of(body, algorithm)
    headers = accept if accept is not None else ALL_ACCEPT
    get = client.get(f"/v2/{repo}/manifests/{reference}", headers=headers)
    assert get.status_code == 200, get.text
    assert get.content == body
    assert get.headers["Content-Type"] == media_type
    assert get.headers["Content-Length"] == str(len(body))
    assert get.headers["Docker-Content-Digest"] == digest
    head = client.head(f"/v2/{repo}/manifests/{reference}", headers=headers)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == media_type
    assert head.headers["Content-Length"] == str(len(body))
    assert head.headers["Docker-Content-Digest"] == digest


def assert_no_manifest(client: httpx.Client, repo: str, reference: str) -> None:
    assert client.head(f"/v2/{repo}/manifests/{reference}").status_code == 404
    assert_error(
        client.get(f"/v2/{repo}/manifests/{reference}", headers=ALL_ACCEPT),
        404,
        "MANIFEST_UNKNOWN",
        "NAME_UNKNOWN",
    )


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    tags: list[str] = r.json()["tags"]
    return tags


def test_oci_image_by_tag_and_by_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo, layers=2)
    digest = push_manifest(client, repo, "v1", body)
    assert_manifest(client, repo, "v1", body, OCI_MANIFEST, accept=BOTH_ACCEPT)
    assert_manifest(client, repo, digest, body, OCI_MANIFEST, accept=BOTH_ACCEPT)
    # Without any Accept header the stored manifest is served as is.
    assert_manifest(client, repo, digest, body, OCI_MANIFEST, accept=[])
    assert tags_of(client, repo) == ["v1"]
    # Pushing by digest: no tag appears; re-pushing answers 201 every time.
    other = image_manifest(client, repo)
    other_digest = push_manifest(client, repo, digest_of(other), other)
    assert_manifest(client, repo, other_digest, other, OCI_MANIFEST)
    assert push_manifest(client, repo, digest_of(other), other) == other_digest
    assert push_manifest(client, repo, "v1", body) == digest
    assert tags_of(client, repo) == ["v1"]


def test_tag_moves_to_the_new_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    first = image_manifest(client, repo)
    second = image_manifest(client, repo)
    first_digest = push_manifest(client, repo, "latest", first)
    second_digest = push_manifest(client, repo, "latest", second)
    assert first_digest != second_digest
    assert_manifest(client, repo, "latest", second, OCI_MANIFEST)
    # The old manifest stays reachable by digest.
    assert_manifest(client, repo, first_digest, first, OCI_MANIFEST)


def test_exact_bytes_are_kept(client: httpx.Client) -> None:
    """Odd whitespace, key order, unknown fields, nulls, data, non-ASCII: kept byte for byte."""
    repo = unique_repo()
    config = dumps({"architecture": "amd64", "os": "linux"})
    layer = random_bytes(40)
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    config_desc = descriptor(OCI_CONFIG, config)
    config_desc["data"] = base64.b64encode(config).decode()
    config_desc["newUnspecifiedField"] = "aGVsbG8gd29ybGQ="
    layer_desc = descriptor("application/vnd.oci.image.layer.v1.tar", layer)
    layer_desc["newUnspecifiedField"] = None
    doc: dict[str, Any] = {
        "layers": [layer_desc],
        "schemaVersion": 2,
        "config": config_desc,
        "mediaType": OCI_MANIFEST,
        "org.example.custom": {"nested": [1, 2, 3]},
        "annotations": {"org.example.text": "häfen ⚓ 港"},
    }
    body = b"\n  " + json.dumps(doc, ensure_ascii=False, indent=1).encode() + b"\n\n"
    digest = push_manifest(client, repo, "odd", body)
    assert_manifest(client, repo, "odd", body, OCI_MANIFEST)
    assert_manifest(client, repo, digest, body, OCI_MANIFEST)


def test_manifest_without_media_type_takes_the_content_type(client: httpx.Client) -> None:
    repo = unique_repo()
    oci = json.loads(image_manifest(client, repo, media_type=None, layers=0))
    oci["layers"] = []
    oci_body = dumps(oci)
    assert b'mediaType": "application/vnd.oci.image.manifest' not in oci_body
    push_manifest(client, repo, "emptylayer", oci_body, OCI_MANIFEST)
    assert_manifest(client, repo, "emptylayer", oci_body, OCI_MANIFEST)

    docker_body = image_manifest(
        client,
        repo,
        media_type=None,
        config_type=DOCKER_CONFIG,
        layer_type=DOCKER_LAYER,
    )
    push_manifest(client, repo, "docker", docker_body, DOCKER_MANIFEST)
    assert_manifest(client, repo, "docker", docker_body, DOCKER_MANIFEST)
    # Parameters on the Content-Type are ignored.
    params_body = image_manifest(client, repo, media_type=None)
    push_manifest(client, repo, "params", params_body, f"{OCI_MANIFEST}; charset=utf-8")
    assert_manifest(client, repo, "params", params_body, OCI_MANIFEST)


def test_media_type_must_match_content_type(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)  # says OCI manifest
    r = put_manifest(client, repo, "mismatch", body, DOCKER_MANIFEST)
    assert_error(r, 400, "MANIFEST_INVALID")
    assert_no_manifest(client, repo, "mismatch")
    assert_no_manifest(client, repo, digest_of(body))


def test_oci_index_and_nested_index(client: httpx.Client) -> None:
    repo = unique_repo()
    amd = image_manifest(client, repo)
    arm = image_manifest(client, repo)
    push_manifest(client, repo, digest_of(amd), amd)
    push_manifest(client, repo, digest_of(arm), arm)
    index = index_manifest([(OCI_MANIFEST, amd, AMD64), (OCI_MANIFEST, arm, ARM64)])
    index_digest = push_manifest(client, repo, "index", index, OCI_INDEX)
    assert_manifest(client, repo, "index", index, OCI_INDEX, accept=BOTH_ACCEPT)
    assert_manifest(client, repo, index_digest, index, OCI_INDEX, accept=BOTH_ACCEPT)

    nested = index_manifest([(OCI_INDEX, index, None), (OCI_MANIFEST, amd, AMD64)])
    nested_digest = push_manifest(client, repo, "index-of-index", nested, OCI_INDEX)
    assert_manifest(client, repo, "index-of-index", nested, OCI_INDEX, accept=BOTH_ACCEPT)

    # Delete parents before children, each immediately gone; children can be deleted.
    for digest in (nested_digest, index_digest, digest_of(arm), digest_of(amd)):
        assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
        assert_no_manifest(client, repo, digest)
    assert tags_of(client, repo) == []


def test_child_of_an_index_may_be_deleted_first(client: httpx.Client) -> None:
    repo = unique_repo()
    child = image_manifest(client, repo)
    child_digest = push_manifest(client, repo, digest_of(child), child)
    index = index_manifest([(OCI_MANIFEST, child, AMD64)])
    push_manifest(client, repo, "idx", index, OCI_INDEX)
    assert client.delete(f"/v2/{repo}/manifests/{child_digest}").status_code == 202
    assert_no_manifest(client, repo, child_digest)
    assert_manifest(client, repo, "idx", index, OCI_INDEX)


def test_empty_index(client: httpx.Client) -> None:
    repo = unique_repo()
    body = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    digest = push_manifest(client, repo, "index", body, OCI_INDEX)
    assert_manifest(client, repo, "index", body, OCI_INDEX, accept=BOTH_ACCEPT)
    assert_manifest(client, repo, digest, body, OCI_INDEX)


def test_docker_schema2_and_manifest_list(client: httpx.Client) -> None:
    repo = unique_repo()
    amd = image_manifest(
        client, repo, media_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG, layer_type=DOCKER_LAYER
    )
    arm = image_manifest(
        client, repo, media_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG, layer_type=DOCKER_LAYER
    )
    amd_digest = push_manifest(client, repo, "amd64", amd, DOCKER_MANIFEST)
    push_manifest(client, repo, "arm64", arm, DOCKER_MANIFEST)
    assert_manifest(client, repo, "amd64", amd, DOCKER_MANIFEST)
    docker_only = [("Accept", DOCKER_MANIFEST)]
    assert_manifest(client, repo, amd_digest, amd, DOCKER_MANIFEST, accept=docker_only)

    lst = index_manifest(
        [(DOCKER_MANIFEST, arm, ARM64), (DOCKER_MANIFEST, amd, AMD64)], DOCKER_LIST
    )
    list_digest = push_manifest(client, repo, "multi", lst, DOCKER_LIST)
    assert_manifest(client, repo, "multi", lst, DOCKER_LIST)
    assert_manifest(client, repo, list_digest, lst, DOCKER_LIST, accept=[("Accept", DOCKER_LIST)])
    # A client that only reads schema 2 gets the linux/amd64 image instead of the list.
    for method in ("GET", "HEAD"):
        r = client.request(method, f"/v2/{repo}/manifests/multi", headers=docker_only)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == DOCKER_MANIFEST
        assert r.headers["Docker-Content-Digest"] == amd_digest
        assert r.headers["Content-Length"] == str(len(amd))
        assert r.content == (amd if method == "GET" else b"")
    # Accept with several values, q-parameters and */*.
    r = client.get(
        f"/v2/{repo}/manifests/multi",
        headers={"Accept": f"{DOCKER_MANIFEST};q=0.9, {DOCKER_LIST};q=1.0"},
    )
    assert r.content == lst
    assert client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": "*/*"}).content == lst


def test_accept_negotiation_refuses_what_the_client_cannot_read(client: httpx.Client) -> None:
    repo = unique_repo()
    oci = image_manifest(client, repo)
    oci_digest = push_manifest(client, repo, "oci", oci)
    docker_only = {"Accept": DOCKER_MANIFEST}
    for ref in ("oci", oci_digest):
        assert_error(
            client.get(f"/v2/{repo}/manifests/{ref}", headers=docker_only), 404, "MANIFEST_UNKNOWN"
        )
        assert client.head(f"/v2/{repo}/manifests/{ref}", headers=docker_only).status_code == 404
    # An OCI index of OCI images has nothing a schema-2-only client can read.
    index = index_manifest([(OCI_MANIFEST, oci, AMD64)])
    push_manifest(client, repo, "idx", index, OCI_INDEX)
    assert_error(
        client.get(f"/v2/{repo}/manifests/idx", headers=docker_only), 404, "MANIFEST_UNKNOWN"
    )
    # An index without a linux/amd64 entry cannot be downgraded either.
    arm = image_manifest(
        client, repo, media_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG, layer_type=DOCKER_LAYER
    )
    push_manifest(client, repo, digest_of(arm), arm, DOCKER_MANIFEST)
    arm_list = index_manifest([(DOCKER_MANIFEST, arm, ARM64)], DOCKER_LIST)
    push_manifest(client, repo, "armonly", arm_list, DOCKER_LIST)
    assert_error(
        client.get(f"/v2/{repo}/manifests/armonly", headers=docker_only), 404, "MANIFEST_UNKNOWN"
    )
    # The OCI client still gets everything.
    assert_manifest(client, repo, "oci", oci, OCI_MANIFEST, accept=BOTH_ACCEPT)


def test_artifact_manifests(client: httpx.Client) -> None:
    repo = unique_repo()
    push_blob(client, repo, EMPTY_JSON)
    payload = b"an artifact payload"
    push_blob(client, repo, payload)
    empty_config = descriptor(OCI_EMPTY, EMPTY_JSON)
    assert empty_config["digest"] == EMPTY_JSON_DIGEST

    # artifactType with the empty config
    with_type = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.oci.conformance.v1",
            "config": empty_config,
            "layers": [descriptor("application/vnd.example.payload", payload)],
        }
    )
    push_manifest(client, repo, "artifact", with_type)
    assert_manifest(client, repo, "artifact", with_type, OCI_MANIFEST)

    # the artifact named by config.mediaType
    config_blob = b"NHL Peanut Butter on my NHL bagel"
    push_blob(client, repo, config_blob)
    by_config = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.nhl.peanut.butter.bagel", config_blob),
            "layers": [empty_config],
        }
    )
    push_manifest(client, repo, "config-artifact", by_config)
    assert_manifest(client, repo, "config-artifact", by_config, OCI_MANIFEST)

    # artifact without layers (the empty descriptor as its only layer) and with layers: []
    no_layers = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.nolayers",
            "config": empty_config,
            "layers": [empty_config],
        }
    )
    push_manifest(client, repo, "artifact-without-layers", no_layers)
    assert_manifest(client, repo, "artifact-without-layers", no_layers, OCI_MANIFEST)
    zero_layers = dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": empty_config, "layers": []}
    )
    push_manifest(client, repo, "no-layers", zero_layers)
    assert_manifest(client, repo, "no-layers", zero_layers, OCI_MANIFEST)

    # an artifact index
    art_index = index_manifest(
        [(OCI_MANIFEST, with_type, None), (OCI_MANIFEST, no_layers, None)],
        extra={"artifactType": "application/vnd.example.index"},
    )
    push_manifest(client, repo, "artifact-index", art_index, OCI_INDEX)
    assert_manifest(client, repo, "artifact-index", art_index, OCI_INDEX)
    assert sorted(tags_of(client, repo)) == sorted(
        [
            "artifact",
            "config-artifact",
            "artifact-without-layers",
            "no-layers",
            "artifact-index",
        ]
    )


def test_non_distributable_layers_need_no_blobs(client: httpx.Client) -> None:
    repo = unique_repo()
    config = dumps({"os": "windows", "architecture": "amd64"})
    push_blob(client, repo, config)
    foreign = [
        descriptor(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            random_bytes(100),
            urls=["https://example.com/layer1.tar.gz"],
        ),
        descriptor(
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            random_bytes(100),
            urls=["https://example.com/layer2.tar"],
        ),
    ]
    body = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": foreign,
        }
    )
    push_manifest(client, repo, "nondist", body)
    assert_manifest(client, repo, "nondist", body, OCI_MANIFEST)
    # Docker's foreign layers likewise.
    docker = dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, config),
            "layers": [
                descriptor(
                    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    random_bytes(50),
                    urls=["https://mcr.microsoft.com/v2/windows/blobs/x"],
                )
            ],
        }
    )
    push_manifest(client, repo, "foreign", docker, DOCKER_MANIFEST)
    assert_manifest(client, repo, "foreign", docker, DOCKER_MANIFEST)


def test_sha512_manifests_by_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    image = image_manifest(client, repo, algorithm="sha512")
    image_digest = digest_of(image, "sha512")
    assert push_manifest(client, repo, image_digest, image, algorithm="sha512") == image_digest
    assert_manifest(client, repo, image_digest, image, OCI_MANIFEST, algorithm="sha512")
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, image, "sha512", platform=AMD64)],
        }
    )
    index_digest = digest_of(index, "sha512")
    push_manifest(client, repo, index_digest, index, OCI_INDEX, algorithm="sha512")
    assert_manifest(client, repo, index_digest, index, OCI_INDEX, algorithm="sha512")
    # The sha256 name of the same bytes is not a manifest of this repository.
    assert_no_manifest(client, repo, digest_of(image))
    for digest in (index_digest, image_digest):
        assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
        assert_no_manifest(client, repo, digest)


def test_large_manifest_is_accepted(client: httpx.Client) -> None:
    repo = unique_repo()
    doc = json.loads(image_manifest(client, repo))
    doc["annotations"] = {f"org.example.{i:03d}": "x" * 10_000 for i in range(390)}
    body = dumps(doc)
    assert 3_900_000 < len(body) < 4 * 1024 * 1024
    digest = push_manifest(client, repo, "large-manifest", body)
    assert_manifest(client, repo, "large-manifest", body, OCI_MANIFEST)
    assert_manifest(client, repo, digest, body, OCI_MANIFEST)


def oversized_manifest(client: httpx.Client, repo: str) -> bytes:
    doc = json.loads(image_manifest(client, repo))
    doc["annotations"] = {f"org.example.{i:03d}": "y" * 10_000 for i in range(430)}
    body = dumps(doc)
    assert len(body) > 4 * 1024 * 1024
    return body


def test_manifest_over_4mib_is_rejected(client: httpx.Client) -> None:
    repo = unique_repo()
    body = oversized_manifest(client, repo)
    r = put_manifest(client, repo, "huge", body)
    assert_error(r, {413, 400}, "MANIFEST_INVALID", "SIZE_INVALID")
    assert_no_manifest(client, repo, "huge")
    assert_no_manifest(client, repo, digest_of(body))
    assert tags_of(client, repo) == []


def test_manifest_over_4mib_streamed_is_rejected(client: httpx.Client) -> None:
    repo = unique_repo()
    body = oversized_manifest(client, repo)

    def stream() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    try:
        r = put_manifest(client, repo, "huge", stream())  # type: ignore[arg-type]
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        r = None  # the server may answer and close before the client finished sending
    if r is not None:
        assert_error(r, {413, 400}, "MANIFEST_INVALID", "SIZE_INVALID")
    assert_no_manifest(client, repo, "huge")
    assert_no_manifest(client, repo, digest_of(body))


def test_manifest_naming_a_missing_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    doc = json.loads(image_manifest(client, repo))
    missing_layer = random_bytes(33)
    doc["layers"].append(descriptor("application/vnd.oci.image.layer.v1.tar", missing_layer))
    body = dumps(doc)
    for ref in ("missing", digest_of(body)):
        err = assert_error(put_manifest(client, repo, ref, body), 400, "MANIFEST_BLOB_UNKNOWN")
        assert digest_of(missing_layer) in json.dumps(err["detail"])
    assert_no_manifest(client, repo, "missing")
    assert_no_manifest(client, repo, digest_of(body))
    assert tags_of(client, repo) == []
    # A missing config is the same error.
    doc = json.loads(image_manifest(client, repo))
    doc["config"] = descriptor(OCI_CONFIG, b'{"never": "pushed"}')
    r = put_manifest(client, repo, "noconfig", dumps(doc))
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_no_manifest(client, repo, "noconfig")


def test_manifest_naming_a_blob_of_another_repository(client: httpx.Client) -> None:
    repo, other = unique_repo(), unique_repo()
    layer = random_bytes(64)
    push_blob(client, other, layer)
    doc = json.loads(image_manifest(client, repo, layers=0))
    doc["layers"] = [descriptor(OCI_CONFIG, layer)]
    body = dumps(doc)
    assert_error(put_manifest(client, repo, "borrowed", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_no_manifest(client, repo, "borrowed")


def test_index_naming_a_missing_manifest(client: httpx.Client) -> None:
    repo = unique_repo()
    child = image_manifest(client, repo)  # blobs pushed, manifest not
    index = index_manifest([(OCI_MANIFEST, child, AMD64)])
    r = put_manifest(client, repo, "idx", index, OCI_INDEX)
    assert_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert_no_manifest(client, repo, "idx")
    assert_no_manifest(client, repo, digest_of(index))


def test_failed_push_to_a_new_repository_leaves_no_repository(client: httpx.Client) -> None:
    holder, repo = unique_repo(), unique_repo()
    body = image_manifest(client, holder)  # blobs live in another repository
    assert_error(put_manifest(client, repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")
    catalog = client.get("/v2/_catalog", params={"n": 10000}).json()["repositories"]
    assert repo not in catalog
    assert holder in catalog


def test_descriptor_size_must_match_the_blob(client: httpx.Client) -> None:
    repo = unique_repo()
    doc = json.loads(image_manifest(client, repo))
    doc["layers"][0]["size"] += 1
    r = put_manifest(client, repo, "badsize", dumps(doc))
    assert_error(r, 400, "MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "SIZE_INVALID")
    assert_no_manifest(client, repo, "badsize")


def test_subject_gives_oci_subject_header(client: httpx.Client) -> None:
    repo = unique_repo()
    subject_body = image_manifest(client, repo)
    subject_digest = push_manifest(client, repo, "image", subject_body)
    push_blob(client, repo, EMPTY_JSON)
    for subject in (
        descriptor(OCI_MANIFEST, subject_body),
        descriptor(OCI_MANIFEST, b"missing content"),  # never pushed: still accepted
    ):
        body = dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": descriptor(OCI_EMPTY, EMPTY_JSON),
                "layers": [descriptor(OCI_EMPTY, EMPTY_JSON)],
                "subject": subject,
            }
        )
        digest = digest_of(body)
        for ref in (digest, "sig-" + digest[7:19]):
            r = put_manifest(client, repo, ref, body)
            assert r.status_code == 201, r.text
            assert r.headers["OCI-Subject"] == subject["digest"]
            assert r.headers["Docker-Content-Digest"] == digest
        assert_manifest(client, repo, digest, body, OCI_MANIFEST)
    assert subject_digest == digest_of(subject_body)
    # A manifest without subject has no OCI-Subject header.
    plain = image_manifest(client, repo)
    assert "OCI-Subject" not in put_manifest(client, repo, "plain", plain).headers


def test_delete_tag_then_digest(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    digest = push_manifest(client, repo, "tagtest0", body)
    r = client.delete(f"/v2/{repo}/manifests/tagtest0")
    assert r.status_code == 202
    assert_no_manifest(client, repo, "tagtest0")
    assert_manifest(client, repo, digest, body, OCI_MANIFEST)
    assert tags_of(client, repo) == []
    assert_error(client.delete(f"/v2/{repo}/manifests/tagtest0"), 404, "MANIFEST_UNKNOWN")
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert_no_manifest(client, repo, digest)
    assert_error(client.delete(f"/v2/{repo}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    # The blobs are still there and the manifest can be pushed again.
    assert push_manifest(client, repo, "tagtest0", body) == digest
    assert_manifest(client, repo, "tagtest0", body, OCI_MANIFEST)


def test_delete_by_digest_removes_its_tags(client: httpx.Client) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    keep = image_manifest(client, repo)
    digest = push_manifest(client, repo, "a", body)
    push_manifest(client, repo, "b", body)
    push_manifest(client, repo, "keep", keep)
    assert tags_of(client, repo) == ["a", "b", "keep"]
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    for ref in ("a", "b", digest):
        assert_no_manifest(client, repo, ref)
    assert tags_of(client, repo) == ["keep"]
    assert_manifest(client, repo, "keep", keep, OCI_MANIFEST)


def test_delete_in_unknown_repository(client: httpx.Client) -> None:
    repo = unique_repo()
    r = client.delete(f"/v2/{repo}/manifests/{digest_of(b'x')}")
    assert_error(r, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")
    assert_error(
        client.delete(f"/v2/{repo}/manifests/latest"), 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN"
    )


def test_unknown_manifests(client: httpx.Client) -> None:
    repo = unique_repo()
    push_manifest(client, repo, "present", image_manifest(client, repo))
    for ref in (
        digest_of(random_bytes(8)),
        "missing-abcdefghijklmnopqrst",
        ".INVALID_MANIFEST_NAME",
        "-leading-dash",
        "x" * 129,
    ):
        assert_no_manifest(client, repo, ref)
    # Unknown repository
    assert_no_manifest(client, unique_repo(), "latest")


@pytest.mark.parametrize("tag", ["UPPER_and.lower-1", "_underscore", "x" * 128, "0"])
def test_tag_grammar_edges_accepted(client: httpx.Client, tag: str) -> None:
    repo = unique_repo()
    body = image_manifest(client, repo)
    push_manifest(client, repo, tag, body)
    assert_manifest(client, repo, tag, body, OCI_MANIFEST)
    assert tags_of(client, repo) == [tag]


def test_oci_index_of_docker_images_downgrades_for_schema2_clients(client: httpx.Client) -> None:
    """An OCI index (as buildx writes) over Docker schema 2 images: a schema-2-only client
    gets the linux/amd64 image; an index-aware client gets the index."""
    repo = unique_repo()
    images = []
    for _ in range(2):
        body = image_manifest(
            client,
            repo,
            media_type=DOCKER_MANIFEST,
            config_type=DOCKER_CONFIG,
            layer_type=DOCKER_LAYER,
        )
        push_manifest(client, repo, digest_of(body), body, DOCKER_MANIFEST)
        images.append(body)
    arm, amd = images
    index = index_manifest([(DOCKER_MANIFEST, arm, ARM64), (DOCKER_MANIFEST, amd, AMD64)])
    index_digest = push_manifest(client, repo, "multi", index, OCI_INDEX)
    for ref in ("multi", index_digest):
        r = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": DOCKER_MANIFEST})
        assert r.status_code == 200
        assert r.content == amd
        assert r.headers["Content-Type"] == DOCKER_MANIFEST
        assert r.headers["Docker-Content-Digest"] == digest_of(amd)
    assert_manifest(client, repo, "multi", index, OCI_INDEX, accept=BOTH_ACCEPT)
