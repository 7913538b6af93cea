"""The referrers API (spec "Listing Referrers"; legacy discovery, new-suite subject data)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http.v2.helpers import (
    EMPTY_JSON,
    OCI_EMPTY,
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
    unique_repo,
)

ANNOTATION = "org.opencontainers.conformance.test"
BAGEL = "application/vnd.nhl.peanut.butter.bagel"
CROISSANT = "application/vnd.nba.strawberry.jam.croissant"
FOOD_STAND = "application/vnd.food.stand"


def referrers(
    client: httpx.Client, repo: str, subject: str, artifact_type: str | None = None
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    params = {"artifactType": artifact_type} if artifact_type is not None else None
    r = client.get(f"/v2/{repo}/referrers/{subject}", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == OCI_INDEX
    doc = r.json()
    assert doc["schemaVersion"] == 2
    assert doc["mediaType"] == OCI_INDEX
    assert isinstance(doc["manifests"], list)
    return r, doc["manifests"]


def by_digest(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {d["digest"]: d for d in found}
    assert len(out) == len(found), "a referrer listed twice"
    return out


def test_empty_when_nothing_refers(client: httpx.Client) -> None:
    repo = unique_repo()
    # Unknown repository: 200 with an empty index, never NAME_UNKNOWN.
    r, found = referrers(client, repo, digest_of(b"hello world"))
    assert found == []
    assert "Link" not in r.headers
    # Known repository and subject, no referrers.
    subject = push_manifest(client, repo, "img", image_manifest(client, repo))
    _, found = referrers(client, repo, subject)
    assert found == []
    _, found = referrers(client, repo, subject, artifact_type="application/x")
    assert found == []
    # sha512 subject
    _, found = referrers(client, repo, digest_of(b"x", "sha512"))
    assert found == []


def test_malformed_digest_is_400(client: httpx.Client) -> None:
    repo = unique_repo()
    for bad in (
        "sha256:nothex",
        "sha256:" + "a" * 63,
        "nodigest",
        "md5:" + "0" * 32,
        "SHA256:" + "a" * 64,
    ):
        assert_error(client.get(f"/v2/{repo}/referrers/{bad}"), 400, "DIGEST_INVALID")


def artifact(
    subject: dict[str, Any],
    *,
    artifact_type: str | None,
    config: dict[str, Any],
    layers: list[dict[str, Any]],
    annotations: dict[str, str] | None,
) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    doc["config"] = config
    doc["layers"] = layers
    doc["subject"] = subject
    if annotations is not None:
        doc["annotations"] = annotations
    return dumps(doc)


def test_legacy_discovery_sequence(client: httpx.Client) -> None:
    """The legacy suite's referrers fixtures, pushed before and after their subject."""
    repo = unique_repo()
    empty = descriptor(OCI_EMPTY, EMPTY_JSON, newUnspecifiedField=None)
    push_blob(client, repo, EMPTY_JSON)
    blob_a = b"NHL Peanut Butter on my NHL bagel"
    blob_b = b"NBA Strawberry Jam on my NBA croissant"
    push_blob(client, repo, blob_a)
    push_blob(client, repo, blob_b)

    subject_body = image_manifest(client, repo)
    unpushed_body = image_manifest(client, repo)
    subject = descriptor(OCI_MANIFEST, subject_body)
    unpushed = descriptor(OCI_MANIFEST, unpushed_body)

    a_config = artifact(
        subject,
        artifact_type=None,
        config=descriptor(BAGEL, blob_a),
        layers=[empty],
        annotations={ANNOTATION: "test config a"},
    )
    a_layer = artifact(
        subject,
        artifact_type=BAGEL,
        config=empty,
        layers=[descriptor(BAGEL, blob_a)],
        annotations={ANNOTATION: "test layer a"},
    )
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": FOOD_STAND,
            "manifests": [descriptor(OCI_MANIFEST, a_config), descriptor(OCI_MANIFEST, a_layer)],
            "subject": subject,
            "annotations": {ANNOTATION: "test index"},
        }
    )
    b_config = artifact(
        subject,
        artifact_type=None,
        config=descriptor(CROISSANT, blob_b),
        layers=[empty],
        annotations={ANNOTATION: "test config b"},
    )
    b_layer = artifact(
        subject,
        artifact_type=CROISSANT,
        config=empty,
        layers=[descriptor(CROISSANT, blob_b)],
        annotations={ANNOTATION: "test layer b"},
    )
    c_layer = artifact(
        unpushed,
        artifact_type=CROISSANT,
        config=empty,
        layers=[descriptor(CROISSANT, blob_b)],
        annotations=None,
    )

    def put(body: bytes, media_type: str, expected_subject: str) -> str:
        digest = digest_of(body)
        r = put_manifest(client, repo, digest, body, media_type)
        assert r.status_code == 201, r.text
        assert r.headers["OCI-Subject"] == expected_subject
        return digest

    # Referrers first, subject not pushed yet.
    a_config_d = put(a_config, OCI_MANIFEST, subject["digest"])
    a_layer_d = put(a_layer, OCI_MANIFEST, subject["digest"])
    index_d = put(index, OCI_INDEX, subject["digest"])
    _, early = referrers(client, repo, subject["digest"])
    assert set(by_digest(early)) == {a_config_d, a_layer_d, index_d}
    subject_d = push_manifest(client, repo, "tagtest0", subject_body)
    assert subject_d == subject["digest"]
    b_config_d = put(b_config, OCI_MANIFEST, subject["digest"])
    b_layer_d = put(b_layer, OCI_MANIFEST, subject["digest"])
    c_layer_d = put(c_layer, OCI_MANIFEST, unpushed["digest"])

    _, found = referrers(client, repo, subject_d)
    listed = by_digest(found)
    expected = {
        a_config_d: (a_config, OCI_MANIFEST, BAGEL, "test config a"),
        a_layer_d: (a_layer, OCI_MANIFEST, BAGEL, "test layer a"),
        index_d: (index, OCI_INDEX, FOOD_STAND, "test index"),
        b_config_d: (b_config, OCI_MANIFEST, CROISSANT, "test config b"),
        b_layer_d: (b_layer, OCI_MANIFEST, CROISSANT, "test layer b"),
    }
    assert set(listed) == set(expected)
    for digest, (body, media_type, artifact_type, note) in expected.items():
        desc = listed[digest]
        assert desc["mediaType"] == media_type
        assert desc["size"] == len(body)
        assert desc["artifactType"] == artifact_type
        # The manifest's annotations, verbatim, and nothing added.
        assert desc["annotations"] == {ANNOTATION: note}
        assert set(desc) <= {"mediaType", "digest", "size", "artifactType", "annotations"}

    r, bagels = referrers(client, repo, subject_d, artifact_type=BAGEL)
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert set(by_digest(bagels)) == {a_config_d, a_layer_d}
    r, stands = referrers(client, repo, subject_d, artifact_type=FOOD_STAND)
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in stands] == [index_d]
    r, none = referrers(client, repo, subject_d, artifact_type="application/vnd.nothing")
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert none == []

    # The subject that was never pushed has exactly its one referrer; no annotations key.
    _, only_c = referrers(client, repo, unpushed["digest"])
    assert [d["digest"] for d in only_c] == [c_layer_d]
    assert only_c[0]["artifactType"] == CROISSANT
    assert "annotations" not in only_c[0] or only_c[0]["annotations"] == {}

    # Deleting a referrer removes it from the list at once.
    assert client.delete(f"/v2/{repo}/manifests/{a_layer_d}").status_code == 202
    _, after = referrers(client, repo, subject_d)
    assert set(by_digest(after)) == {a_config_d, index_d, b_config_d, b_layer_d}
    # Referrers are per repository.
    _, elsewhere = referrers(client, unique_repo(), subject_d)
    assert elsewhere == []


def test_artifact_type_falls_back_to_config_media_type(client: httpx.Client) -> None:
    repo = unique_repo()
    subject_body = image_manifest(client, repo)
    subject = descriptor(OCI_MANIFEST, subject_body)
    push_manifest(client, repo, "image", subject_body)
    # An image with a subject and no artifactType: the image config media type.
    plain = image_manifest(client, repo, extra={"subject": subject})
    plain_d = push_manifest(client, repo, digest_of(plain), plain)
    # An empty artifactType counts as missing.
    push_blob(client, repo, EMPTY_JSON)
    blank = artifact(
        subject,
        artifact_type="",
        config=descriptor("application/vnd.example.config", EMPTY_JSON),
        layers=[descriptor(OCI_EMPTY, EMPTY_JSON)],
        annotations=None,
    )
    blank_d = push_manifest(client, repo, digest_of(blank), blank)
    # An index without artifactType: the field is omitted.
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
            "subject": subject,
            "annotations": {"org.example.k": "v"},
        }
    )
    index_d = push_manifest(client, repo, digest_of(index), index, OCI_INDEX)
    _, found = referrers(client, repo, subject["digest"])
    listed = by_digest(found)
    assert listed[plain_d]["artifactType"] == "application/vnd.oci.image.config.v1+json"
    assert listed[blank_d]["artifactType"] == "application/vnd.example.config"
    assert "artifactType" not in listed[index_d]
    assert listed[index_d]["annotations"] == {"org.example.k": "v"}
    assert listed[index_d]["mediaType"] == OCI_INDEX
    assert listed[index_d]["size"] == len(index)
    _, by_config = referrers(client, repo, subject["digest"], "application/vnd.example.config")
    assert [d["digest"] for d in by_config] == [blank_d]


def test_index_subject_and_tagged_artifacts(client: httpx.Client) -> None:
    """``index-with-subject``/``artifacts-with-subject``: subject is an index; tagged referrers."""
    repo = unique_repo()
    child = image_manifest(client, repo)
    push_manifest(client, repo, digest_of(child), child)
    subject_index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, child, platform={"os": "linux", "architecture": "amd64"})
            ],
        }
    )
    subject_d = push_manifest(client, repo, "index", subject_index, OCI_INDEX)
    subject = descriptor(OCI_INDEX, subject_index)
    push_blob(client, repo, EMPTY_JSON)
    empty = descriptor(OCI_EMPTY, EMPTY_JSON)
    annotations = {"org.opencontainers.conformance": "hello", "org.example.RANDOM123": "x"}
    arts = []
    for n in (1, 2):
        body = artifact(
            subject,
            artifact_type=f"application/vnd.example.conf.v{n}",
            config=empty,
            layers=[empty],
            annotations=annotations,
        )
        r = put_manifest(client, repo, f"tagged-artifact{n}", body)
        assert r.status_code == 201
        assert r.headers["OCI-Subject"] == subject_d
        arts.append(digest_of(body))
    _, found = referrers(client, repo, subject_d)
    listed = by_digest(found)
    assert set(listed) == set(arts)
    for n, digest in enumerate(arts, 1):
        assert listed[digest]["artifactType"] == f"application/vnd.example.conf.v{n}"
        assert listed[digest]["annotations"] == annotations
    # Removing the tag keeps the referrer; removing the manifest drops it.
    assert client.delete(f"/v2/{repo}/manifests/tagged-artifact1").status_code == 202
    _, found = referrers(client, repo, subject_d)
    assert set(by_digest(found)) == set(arts)
    assert client.delete(f"/v2/{repo}/manifests/{arts[0]}").status_code == 202
    _, found = referrers(client, repo, subject_d)
    assert [d["digest"] for d in found] == [arts[1]]


def test_sha512_subject(client: httpx.Client) -> None:
    repo = unique_repo()
    subject_body = image_manifest(client, repo, algorithm="sha512")
    subject_d = digest_of(subject_body, "sha512")
    push_manifest(client, repo, subject_d, subject_body, algorithm="sha512")
    push_blob(client, repo, EMPTY_JSON, "sha512")
    empty = descriptor(OCI_EMPTY, EMPTY_JSON, "sha512")
    body = artifact(
        descriptor(OCI_MANIFEST, subject_body, "sha512"),
        artifact_type="application/vnd.example.sig",
        config=empty,
        layers=[empty],
        annotations={"k": "v"},
    )
    ref_d = digest_of(body, "sha512")
    r = put_manifest(client, repo, ref_d, body)
    assert r.status_code == 201, r.text
    assert r.headers["OCI-Subject"] == subject_d
    _, found = referrers(client, repo, subject_d)
    assert found == [
        {
            "mediaType": OCI_MANIFEST,
            "digest": ref_d,
            "size": len(body),
            "artifactType": "application/vnd.example.sig",
            "annotations": {"k": "v"},
        }
    ]
