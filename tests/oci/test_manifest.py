"""parse_manifest: OCI image manifest / index, Docker schema 2 manifest / list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moorage.errors import ManifestInvalid, ManifestUnsupported
from moorage.oci import mediatypes as mt
from moorage.oci.digest import Digest
from moorage.oci.manifest import Descriptor, ParsedManifest, parse_manifest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def desc(media_type: str, content: bytes | str, **extra: Any) -> dict[str, Any]:
    data = content.encode() if isinstance(content, str) else content
    return {
        "mediaType": media_type,
        "digest": str(Digest.of(data)),
        "size": len(data),
        **extra,
    }


def image(
    media_type: str | None = mt.OCI_MANIFEST,
    config_type: str = OCI_CONFIG,
    layers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["config"] = desc(config_type, "{}")
    doc["layers"] = (
        layers if layers is not None else [desc(OCI_LAYER, "layer-1"), desc(OCI_LAYER, "l2")]
    )
    doc.update(extra)
    return doc


def index(
    media_type: str | None = mt.OCI_INDEX,
    children: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        doc["mediaType"] = media_type
    doc["manifests"] = (
        children
        if children is not None
        else [
            desc(
                mt.OCI_MANIFEST,
                "amd64",
                platform={"os": "linux", "architecture": "amd64"},
            ),
            desc(
                mt.OCI_MANIFEST,
                "arm64",
                platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
            ),
        ]
    )
    doc.update(extra)
    return doc


def parse(doc: Any, content_type: str | None = None) -> ParsedManifest:
    return parse_manifest(json.dumps(doc).encode(), content_type)


# ---- each media type -------------------------------------------------------------------------


def test_oci_image_manifest() -> None:
    doc = image(annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    p = parse(doc, mt.OCI_MANIFEST)
    assert p.media_type == mt.OCI_MANIFEST
    assert not p.is_index
    assert p.config is not None
    assert p.config.media_type == OCI_CONFIG
    assert p.config.digest == Digest.of(b"{}")
    assert p.config.size == 2
    assert [str(layer.digest) for layer in p.layers] == [d["digest"] for d in doc["layers"]]
    assert [layer.size for layer in p.layers] == [7, 2]
    assert p.manifests == ()
    assert p.subject is None
    assert p.annotations == doc["annotations"]
    assert [str(d.digest) for d in p.blob_references()] == [
        doc["config"]["digest"],
        *(d["digest"] for d in doc["layers"]),
    ]


def test_oci_index() -> None:
    doc = index(annotations={"a": "b"})
    p = parse(doc, mt.OCI_INDEX)
    assert p.media_type == mt.OCI_INDEX
    assert p.is_index
    assert p.config is None
    assert p.layers == ()
    assert [str(m.digest) for m in p.manifests] == [d["digest"] for d in doc["manifests"]]
    assert p.manifests[0].platform == {"os": "linux", "architecture": "amd64"}
    assert p.manifests[1].platform == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert p.blob_references() == []
    assert p.artifact_type is None
    assert p.annotations == {"a": "b"}


def test_docker_schema2_manifest() -> None:
    doc = image(
        mt.DOCKER_MANIFEST,
        DOCKER_CONFIG,
        layers=[desc(DOCKER_LAYER, "one"), desc(DOCKER_LAYER, "two")],
    )
    p = parse(doc, mt.DOCKER_MANIFEST)
    assert p.media_type == mt.DOCKER_MANIFEST
    assert not p.is_index
    assert p.config is not None and p.config.media_type == DOCKER_CONFIG
    assert len(p.layers) == 2
    assert len(p.blob_references()) == 3


def test_docker_manifest_list() -> None:
    children = [
        desc(mt.DOCKER_MANIFEST, "x", platform={"os": "linux", "architecture": "amd64"}),
        desc(mt.DOCKER_MANIFEST, "y", platform={"os": "windows", "architecture": "amd64"}),
    ]
    p = parse(index(mt.DOCKER_LIST, children), mt.DOCKER_LIST)
    assert p.media_type == mt.DOCKER_LIST
    assert p.is_index
    assert [m.media_type for m in p.manifests] == [mt.DOCKER_MANIFEST] * 2
    assert p.blob_references() == []


def test_empty_index_is_valid() -> None:
    p = parse(index(children=[]), mt.OCI_INDEX)
    assert p.manifests == ()


def test_oci_manifest_with_subject_and_artifact_type() -> None:
    subject = desc(mt.OCI_MANIFEST, "the image")
    doc = image(
        config_type=mt.OCI_EMPTY,
        artifactType="application/vnd.example.sbom+json",
        subject=subject,
        layers=[desc("application/spdx+json", "sbom")],
    )
    p = parse(doc, mt.OCI_MANIFEST)
    assert p.artifact_type == "application/vnd.example.sbom+json"
    assert p.subject is not None
    assert p.subject.digest == Digest.parse(subject["digest"])
    assert p.subject.media_type == mt.OCI_MANIFEST
    assert p.subject.size == subject["size"]


def test_index_with_subject_and_artifact_type() -> None:
    subject = desc(mt.OCI_INDEX, "the index")
    p = parse(index(artifactType="application/vnd.example", subject=subject), mt.OCI_INDEX)
    assert p.artifact_type == "application/vnd.example"
    assert p.subject is not None and str(p.subject.digest) == subject["digest"]


# ---- artifactType ----------------------------------------------------------------------------


def test_artifact_type_falls_back_to_config_media_type() -> None:
    p = parse(image(config_type="application/vnd.cncf.helm.config.v1+json"), mt.OCI_MANIFEST)
    assert p.artifact_type == "application/vnd.cncf.helm.config.v1+json"


def test_empty_artifact_type_falls_back_to_config_media_type() -> None:
    p = parse(image(config_type="application/vnd.example.config", artifactType=""), None)
    assert p.artifact_type == "application/vnd.example.config"


def test_artifact_type_wins_over_config_media_type() -> None:
    p = parse(image(config_type=mt.OCI_EMPTY, artifactType="application/x.sig"), mt.OCI_MANIFEST)
    assert p.artifact_type == "application/x.sig"


@pytest.mark.parametrize("bad", [1, ["a"], {"a": "b"}, True])
def test_artifact_type_must_be_a_string(bad: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(image(artifactType=bad), mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalid):
        parse(index(artifactType=bad), mt.OCI_INDEX)


# ---- media type from the body, the header, or the shape --------------------------------------


@pytest.mark.parametrize(
    ("doc_factory", "content_type", "expected"),
    [
        (lambda: image(None), mt.OCI_MANIFEST, mt.OCI_MANIFEST),
        (lambda: image(None), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
        (lambda: index(None), mt.OCI_INDEX, mt.OCI_INDEX),
        (lambda: index(None), mt.DOCKER_LIST, mt.DOCKER_LIST),
        (lambda: image(None), mt.OCI_MANIFEST + "; charset=utf-8", mt.OCI_MANIFEST),
        (lambda: image(None), "  Application/VND.OCI.Image.Manifest.V1+JSON ", mt.OCI_MANIFEST),
        # No usable header: the shape decides (OCI, as the image spec allows).
        (lambda: image(None), None, mt.OCI_MANIFEST),
        (lambda: image(None), "", mt.OCI_MANIFEST),
        (lambda: image(None), "application/json", mt.OCI_MANIFEST),
        (lambda: image(None), "application/octet-stream", mt.OCI_MANIFEST),
        (lambda: index(None), None, mt.OCI_INDEX),
        (lambda: index(None), "application/json", mt.OCI_INDEX),
        # A body mediaType with a generic header: the body decides.
        (lambda: image(mt.DOCKER_MANIFEST), "application/json", mt.DOCKER_MANIFEST),
        (lambda: image(mt.OCI_MANIFEST), None, mt.OCI_MANIFEST),
        (lambda: index(mt.DOCKER_LIST), None, mt.DOCKER_LIST),
    ],
)
def test_media_type_resolution(doc_factory: Any, content_type: str | None, expected: str) -> None:
    assert parse(doc_factory(), content_type).media_type == expected


def test_shape_unknown_without_media_type() -> None:
    with pytest.raises(ManifestInvalid):
        parse({"schemaVersion": 2, "layers": []}, None)
    with pytest.raises(ManifestInvalid):
        parse({"schemaVersion": 2}, "application/json")


@pytest.mark.parametrize(
    ("doc_factory", "content_type"),
    [
        (lambda: image(mt.OCI_MANIFEST), mt.DOCKER_MANIFEST),
        (lambda: image(mt.DOCKER_MANIFEST), mt.OCI_MANIFEST),
        (lambda: image(mt.OCI_MANIFEST), mt.OCI_INDEX),
        (lambda: index(mt.OCI_INDEX), mt.OCI_MANIFEST),
        (lambda: index(mt.OCI_INDEX), mt.DOCKER_LIST),
        (lambda: index(mt.DOCKER_LIST), mt.OCI_INDEX + "; charset=utf-8"),
    ],
)
def test_media_type_mismatch_with_content_type(doc_factory: Any, content_type: str) -> None:
    with pytest.raises(ManifestInvalid, match="Content-Type"):
        parse(doc_factory(), content_type)


def test_header_index_type_on_an_image_body_without_media_type() -> None:
    # The header says index; the body has no manifests list.
    with pytest.raises(ManifestInvalid):
        parse(image(None), mt.OCI_INDEX)
    with pytest.raises(ManifestInvalid):
        parse(index(None), mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.example.unknown+json",
        "application/json",
        "",
    ],
)
def test_unknown_body_media_type(media_type: str) -> None:
    doc = image()
    doc["mediaType"] = media_type
    if media_type == "":
        # Empty means "absent": the shape decides.
        assert parse(doc, None).media_type == mt.OCI_MANIFEST
        return
    with pytest.raises(ManifestInvalid):
        parse(doc, None)


@pytest.mark.parametrize("bad", [1, ["x"], {"a": 1}, True])
def test_media_type_must_be_a_string(bad: Any) -> None:
    doc = image()
    doc["mediaType"] = bad
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_MANIFEST)


# ---- schema 1 and schemaVersion -------------------------------------------------------------


SCHEMA1 = {
    "schemaVersion": 1,
    "name": "library/hello",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": str(Digest.of(b"x"))}],
    "history": [{"v1Compatibility": "{}"}],
}


@pytest.mark.parametrize("content_type", [mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED])
def test_schema1_content_type_is_unsupported(content_type: str) -> None:
    with pytest.raises(ManifestUnsupported):
        parse(SCHEMA1, content_type)
    # Even when the body is not JSON at all: the header alone decides.
    with pytest.raises(ManifestUnsupported):
        parse_manifest(b"not json", content_type)


@pytest.mark.parametrize("content_type", [None, "application/json", mt.OCI_MANIFEST])
def test_schema1_body_is_unsupported(content_type: str | None) -> None:
    with pytest.raises(ManifestUnsupported) as info:
        parse(SCHEMA1, content_type)
    assert info.value.code == "UNSUPPORTED"


@pytest.mark.parametrize("version", [None, 0, 3, "2", 2.5, [2]])
def test_schema_version_must_be_2(version: Any) -> None:
    doc = image()
    if version is None:
        del doc["schemaVersion"]
    else:
        doc["schemaVersion"] = version
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_MANIFEST)


# ---- not a manifest at all -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"null", b"[]", b'"string"', b"42", b"\xff\xfe\x00", b"{}"],
)
def test_not_a_manifest(body: bytes) -> None:
    with pytest.raises(ManifestInvalid) as info:
        parse_manifest(body, mt.OCI_MANIFEST)
    assert info.value.status == 400
    assert info.value.code == "MANIFEST_INVALID"


def test_image_manifest_needs_config() -> None:
    doc = image()
    del doc["config"]
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_MANIFEST)


@pytest.mark.parametrize("layers", [None, {}, "layers", 1])
def test_docker_manifest_needs_a_layer_list(layers: Any) -> None:
    doc = image(mt.DOCKER_MANIFEST, DOCKER_CONFIG)
    if layers is None:
        del doc["layers"]
    else:
        doc["layers"] = layers
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.DOCKER_MANIFEST)


@pytest.mark.parametrize("layers", [{}, "layers", 1])
def test_oci_layers_must_be_a_list(layers: Any) -> None:
    doc = image()
    doc["layers"] = layers
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_MANIFEST)


@pytest.mark.parametrize("manifests", [None, {}, "x", 1])
def test_index_needs_a_manifest_list(manifests: Any) -> None:
    doc = index()
    if manifests is None:
        del doc["manifests"]
    else:
        doc["manifests"] = manifests
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_INDEX)


@pytest.mark.parametrize("annotations", [[], "a=b", 1, {"a": 1}, {"a": None}, {"a": ["b"]}])
def test_annotations_must_map_strings_to_strings(annotations: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(image(annotations=annotations), mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalid):
        parse(index(annotations=annotations), mt.OCI_INDEX)


# ---- foreign / non-distributable layers ------------------------------------------------------


@pytest.mark.parametrize(
    "foreign",
    [
        desc(DOCKER_FOREIGN, "windows base", urls=["https://mcr.microsoft.com/blob"]),
        desc(DOCKER_FOREIGN, "windows base, no urls"),
        desc("application/vnd.oci.image.layer.nondistributable.v1.tar", "nd"),
        desc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "nd"),
        desc("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "nd"),
        desc(OCI_LAYER, "elsewhere", urls=["https://example.com/layer.tar.gz"]),
    ],
)
def test_foreign_layers_are_not_blob_references(foreign: dict[str, Any]) -> None:
    normal = desc(OCI_LAYER, "normal")
    doc = image(layers=[foreign, normal])
    p = parse(doc, mt.OCI_MANIFEST)
    assert len(p.layers) == 2  # still part of the manifest
    refs = [str(d.digest) for d in p.blob_references()]
    assert refs == [doc["config"]["digest"], normal["digest"]]
    assert foreign["digest"] not in refs
    assert p.layers[0].urls == tuple(foreign.get("urls", ()))


def test_foreign_layers_in_a_docker_manifest() -> None:
    foreign = desc(DOCKER_FOREIGN, "base", urls=["https://example.com/base"])
    doc = image(mt.DOCKER_MANIFEST, DOCKER_CONFIG, layers=[foreign, desc(DOCKER_LAYER, "top")])
    p = parse(doc, mt.DOCKER_MANIFEST)
    assert [d.media_type for d in p.blob_references()] == [DOCKER_CONFIG, DOCKER_LAYER]


# ---- malformed descriptors -------------------------------------------------------------------


GOOD = desc(OCI_LAYER, "layer")


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


MALFORMED: list[Any] = [
    "not an object",
    None,
    [GOOD],
    42,
    _without("mediaType"),
    {**GOOD, "mediaType": ""},
    {**GOOD, "mediaType": 5},
    _without("digest"),
    {**GOOD, "digest": None},
    {**GOOD, "digest": 12},
    {**GOOD, "digest": "sha256:nothex"},
    {**GOOD, "digest": "md5:" + "a" * 32},
    {**GOOD, "digest": GOOD["digest"].upper()},
    _without("size"),
    {**GOOD, "size": -1},
    {**GOOD, "size": "5"},
    {**GOOD, "size": 5.0},
    {**GOOD, "size": 1.5},
    {**GOOD, "size": True},
    {**GOOD, "size": None},
    {**GOOD, "annotations": {"a": 1}},
    {**GOOD, "annotations": ["a"]},
    {**GOOD, "annotations": "a=b"},
    {**GOOD, "platform": "linux/amd64"},
    {**GOOD, "platform": ["linux"]},
    {**GOOD, "artifactType": 3},
    {**GOOD, "urls": "https://example.com"},
    {**GOOD, "urls": [1]},
    {**GOOD, "urls": {"a": "b"}},
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_layer_descriptor(bad: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(image(layers=[desc(OCI_LAYER, "fine"), bad]), mt.OCI_MANIFEST)


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_config_descriptor(bad: Any) -> None:
    doc = image()
    doc["config"] = bad
    with pytest.raises(ManifestInvalid):
        parse(doc, mt.OCI_MANIFEST)


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_index_child(bad: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(index(children=[desc(mt.OCI_MANIFEST, "ok"), bad]), mt.OCI_INDEX)


@pytest.mark.parametrize("bad", [b for b in MALFORMED if b is not None])
def test_malformed_subject(bad: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(image(subject=bad), mt.OCI_MANIFEST)


def test_null_subject_means_none() -> None:
    assert parse(image(subject=None), mt.OCI_MANIFEST).subject is None


def test_error_names_the_bad_descriptor() -> None:
    with pytest.raises(ManifestInvalid, match=r"layers\[1\]"):
        parse(image(layers=[GOOD, {**GOOD, "size": -1}]), mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalid, match=r"manifests\[0\]"):
        parse(index(children=[{**GOOD, "digest": "nope"}]), mt.OCI_INDEX)


def test_descriptor_extras_are_kept() -> None:
    layer = desc(
        OCI_LAYER,
        "with extras",
        annotations={"org.opencontainers.image.title": "file.txt"},
        artifactType="application/x",
        urls=["https://a.example/1", "https://b.example/2"],
        futureField={"ignored": True},
    )
    p = parse(image(layers=[layer]), mt.OCI_MANIFEST)
    got = p.layers[0]
    assert got.annotations == {"org.opencontainers.image.title": "file.txt"}
    assert got.artifact_type == "application/x"
    assert got.urls == ("https://a.example/1", "https://b.example/2")
    assert got.to_json() == {
        "mediaType": OCI_LAYER,
        "digest": layer["digest"],
        "size": layer["size"],
        "artifactType": "application/x",
        "annotations": {"org.opencontainers.image.title": "file.txt"},
    }


def test_zero_size_descriptor_is_valid() -> None:
    empty = desc(OCI_LAYER, b"")
    assert empty["size"] == 0
    p = parse(image(layers=[empty]), mt.OCI_MANIFEST)
    assert p.layers[0].size == 0


def test_descriptor_to_json_minimal() -> None:
    d = Descriptor(mt.OCI_MANIFEST, Digest.of(b"m"), 1)
    assert d.to_json() == {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"m")), "size": 1}
