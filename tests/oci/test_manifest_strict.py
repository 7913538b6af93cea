"""Manifests that mean different things to different readers are refused (MANIFEST_INVALID):
repeated keys, an image manifest with ``manifests``, an index with ``config``/``layers``, and
nesting no manifest needs (which used to end in a recursion error)."""

from __future__ import annotations

import json

import pytest

from moorage.errors import ManifestInvalid
from moorage.oci import mediatypes as mt
from moorage.oci.manifest import MAX_DEPTH, parse_manifest
from tests.oci.test_manifest import image, index


def refused(body: bytes, content_type: str | None = None) -> str:
    with pytest.raises(ManifestInvalid) as caught:
        parse_manifest(body, content_type)
    assert caught.value.status == 400 and caught.value.code == "MANIFEST_INVALID"
    return caught.value.message


def test_duplicate_keys_are_refused() -> None:
    doc = json.dumps(image())
    twice = doc[:-1] + ', "mediaType": "application/vnd.oci.image.index.v1+json"}'
    assert "mediaType" in refused(twice.encode(), mt.OCI_MANIFEST)
    nested = json.dumps(image(annotations={"a": "1"})).replace('{"a": "1"}', '{"a": "1", "a": "2"}')
    assert "'a'" in refused(nested.encode())


@pytest.mark.parametrize("media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
def test_image_manifest_with_manifests_is_refused(media_type: str) -> None:
    doc = image(media_type, manifests=index()["manifests"])
    assert "manifests" in refused(json.dumps(doc).encode(), media_type)


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_LIST])
@pytest.mark.parametrize("field", ["config", "layers"])
def test_index_with_config_or_layers_is_refused(media_type: str, field: str) -> None:
    doc = index(media_type, **{field: image()[field]})
    assert field in refused(json.dumps(doc).encode(), media_type)


def test_no_media_type_and_both_shapes_is_refused() -> None:
    doc = index(None, config=image()["config"])
    assert "both" in refused(json.dumps(doc).encode())


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    deep = "[" * depth + "]" * depth
    doc = json.dumps(image())[:-1] + f', "x": {deep}}}'
    assert "deeper" in refused(doc.encode())


def test_ordinary_manifests_still_parse() -> None:
    for doc, content_type in (
        (image(), mt.OCI_MANIFEST),
        (image(mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST),
        (index(), mt.OCI_INDEX),
        (index(mt.DOCKER_LIST), mt.DOCKER_LIST),
        (image(artifactType="application/example", subject=image()["config"]), None),
    ):
        parsed = parse_manifest(json.dumps(doc).encode(), content_type)
        assert parsed.media_type == doc["mediaType"]
