"""skopeo against a real ``moorage serve``: push, pull, inspect, tags, delete, multi-arch, sync.

Fixture images come from umoci (OCI layout, two gzip layers, history, no top-level mediaType).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.conftest import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    ClientEnv,
    OciImage,
    build_umoci_image,
    dir_blobs,
    read_oci_layout,
    requires,
    sha256,
    write_oci_index_layout,
)

pytestmark = [pytest.mark.clients, requires("skopeo", "umoci")]

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.fixture(scope="module")
def image(cenv: ClientEnv) -> OciImage:
    return build_umoci_image(cenv, cenv.root / "img-oci", "v1")


def push(cenv: ClientEnv, src: str, repo_tag: str, *extra: str) -> None:
    cenv.skopeo("copy", "--dest-tls-verify=false", *extra, src, cenv.ref(repo_tag))


def test_oci_round_trip_is_byte_identical(cenv: ClientEnv, image: OciImage) -> None:
    assert "mediaType" not in image.manifest_json  # umoci leaves it out; the registry must cope
    push(cenv, image.oci_ref, "skopeo/roundtrip:v1")
    ref = cenv.ref("skopeo/roundtrip:v1")

    assert cenv.inspect_raw(ref) == image.manifest
    assert cenv.inspect_raw(cenv.ref(f"skopeo/roundtrip@{image.digest}")) == image.manifest

    # docker:// -> oci: layout
    out = cenv.tmpdir("roundtrip-oci")
    cenv.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:pulled")
    pulled = read_oci_layout(out, "pulled")
    assert pulled.manifest == image.manifest
    assert dir_blobs(out) == {d: image.blobs[d] for d in dir_blobs(out)}
    for digest in [image.config_digest, *image.layer_digests]:
        assert pulled.blobs[digest] == image.blobs[digest]

    # docker:// -> dir:
    d = cenv.tmpdir("roundtrip-dir")
    cenv.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{d}")
    assert (d / "manifest.json").read_bytes() == image.manifest
    blobs = dir_blobs(d)
    assert set(blobs) == {image.config_digest, *image.layer_digests}
    for digest, data in blobs.items():
        assert data == image.blobs[digest]

    # and the registry's own view of each blob
    with cenv.http() as http:
        for digest in [image.config_digest, *image.layer_digests]:
            r = http.get(f"/v2/skopeo/roundtrip/blobs/{digest}")
            assert r.status_code == 200
            assert r.content == image.blobs[digest]
            assert r.headers["Docker-Content-Digest"] == digest


def test_manifest_without_media_type_served_as_oci(cenv: ClientEnv, image: OciImage) -> None:
    push(cenv, image.oci_ref, "skopeo/ctype:v1")
    with cenv.http() as http:
        for method in ("GET", "HEAD"):
            r = http.request(
                method, "/v2/skopeo/ctype/manifests/v1", headers={"Accept": MANIFEST_ACCEPT}
            )
            assert r.status_code == 200
            assert r.headers["content-type"].split(";")[0].strip() == OCI_MANIFEST
            assert r.headers["Docker-Content-Digest"] == image.digest
            assert int(r.headers["content-length"]) == len(image.manifest)
            if method == "GET":
                assert r.content == image.manifest
        # Plain GET (no Accept) gets the same bytes and type.
        r = http.get(f"/v2/skopeo/ctype/manifests/{image.digest}")
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0].strip() == OCI_MANIFEST
        assert r.content == image.manifest


def test_push_docker_schema2_and_round_trip(cenv: ClientEnv, image: OciImage) -> None:
    push(cenv, image.oci_ref, "skopeo/v2s2:v1", "--format", "v2s2")
    ref = cenv.ref("skopeo/v2s2:v1")
    raw = cenv.inspect_raw(ref)
    doc = json.loads(raw)
    assert doc["mediaType"] == DOCKER_MANIFEST
    assert doc["schemaVersion"] == 2
    assert doc["config"]["mediaType"] == DOCKER_CONFIG
    assert [layer["mediaType"] for layer in doc["layers"]] == [DOCKER_LAYER] * 2
    # Conversion rewrites only the manifest: the gzip layers and the config bytes are unchanged.
    assert [layer["digest"] for layer in doc["layers"]] == image.layer_digests
    assert doc["config"]["digest"] == image.config_digest

    with cenv.http() as http:
        r = http.get("/v2/skopeo/v2s2/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0].strip() == DOCKER_MANIFEST
        assert r.content == raw
        assert r.headers["Docker-Content-Digest"] == sha256(raw)

    d = cenv.tmpdir("v2s2-dir")
    cenv.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{d}")
    assert (d / "manifest.json").read_bytes() == raw
    blobs = dir_blobs(d)
    assert set(blobs) == {image.config_digest, *image.layer_digests}
    for digest, data in blobs.items():
        assert data == image.blobs[digest]

    # docker -> docker keeps the schema 2 manifest byte for byte (and mounts the blobs).
    cenv.skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        ref,
        cenv.ref("skopeo/v2s2-copy:v1"),
    )
    assert cenv.inspect_raw(cenv.ref("skopeo/v2s2-copy:v1")) == raw

    # and back into an OCI layout (converted again by skopeo, same layer bytes)
    out = cenv.tmpdir("v2s2-oci")
    cenv.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:back")
    back = read_oci_layout(out, "back")
    assert back.layer_digests == image.layer_digests
    for digest in back.layer_digests:
        assert back.blobs[digest] == image.blobs[digest]


def test_inspect_and_config(cenv: ClientEnv, image: OciImage) -> None:
    push(cenv, image.oci_ref, "skopeo/inspect:v1")
    push(cenv, image.oci_ref, "skopeo/inspect:latest")
    info = cenv.skopeo_json("inspect", "--tls-verify=false", cenv.ref("skopeo/inspect:v1"))
    assert isinstance(info, dict)
    assert info["Name"] == f"{cenv.host}/skopeo/inspect"
    assert info["Digest"] == image.digest
    assert sorted(info["RepoTags"]) == ["latest", "v1"]
    assert info["Layers"] == image.layer_digests
    assert info["Labels"] == {"org.opencontainers.image.title": "fixture"}
    assert info["Env"] == ["PATH=/bin"]
    assert info["Os"] == "linux"

    config = cenv.skopeo_json(
        "inspect", "--config", "--tls-verify=false", cenv.ref("skopeo/inspect:v1")
    )
    assert config == image.config
    assert isinstance(config, dict)
    history = config["history"]
    assert [h.get("created_by") for h in history] == [
        "/bin/sh -c #(nop) ADD file:rootfs in /",
        "COPY hello /bin/ # buildkit",
        'CMD ["/bin/hello"]',
    ]
    assert history[-1]["empty_layer"] is True
    assert len(config["rootfs"]["diff_ids"]) == len(image.layer_digests)


def test_list_tags(cenv: ClientEnv, image: OciImage) -> None:
    tags = ["v1", "v1.1", "latest", "A-upper", "b_under"]
    for tag in tags:
        push(cenv, image.oci_ref, f"skopeo/tags:{tag}")
    listing = cenv.skopeo_json("list-tags", "--tls-verify=false", cenv.ref("skopeo/tags"))
    assert listing == {"Repository": f"{cenv.host}/skopeo/tags", "Tags": sorted(tags)}

    missing = cenv.skopeo(
        "list-tags", "--tls-verify=false", cenv.ref("skopeo/no-such-repo"), check=False
    )
    assert missing.returncode != 0
    assert "name unknown" in missing.stderr.lower() or "not found" in missing.stderr.lower()


def test_delete(cenv: ClientEnv, image: OciImage) -> None:
    push(cenv, image.oci_ref, "skopeo/delete:v1")
    push(cenv, image.oci_ref, "skopeo/delete:v2")
    ref = cenv.ref("skopeo/delete:v1")
    assert cenv.inspect_raw(ref) == image.manifest

    cenv.skopeo("delete", "--tls-verify=false", ref)

    # Deleting by digest removes the manifest, so every tag on it goes too.
    for tag in ("v1", "v2"):
        gone = cenv.skopeo(
            "inspect", "--tls-verify=false", cenv.ref(f"skopeo/delete:{tag}"), check=False
        )
        assert gone.returncode != 0
        assert "manifest unknown" in gone.stderr.lower()
    by_digest = cenv.skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        cenv.ref(f"skopeo/delete@{image.digest}"),
        check=False,
    )
    assert by_digest.returncode != 0
    assert "manifest unknown" in by_digest.stderr.lower()
    listing = cenv.skopeo_json("list-tags", "--tls-verify=false", cenv.ref("skopeo/delete"))
    assert listing == {"Repository": f"{cenv.host}/skopeo/delete", "Tags": []}
    with cenv.http() as http:
        r = http.get(f"/v2/skopeo/delete/manifests/{image.digest}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"

    # The repository takes the same image again afterwards.
    push(cenv, image.oci_ref, "skopeo/delete:v3")
    assert cenv.inspect_raw(cenv.ref("skopeo/delete:v3")) == image.manifest


@pytest.fixture(scope="module")
def multiarch(cenv: ClientEnv) -> tuple[Path, bytes, dict[str, OciImage]]:
    """An OCI layout holding an index of two umoci images (amd64, arm64)."""
    children = {
        arch: build_umoci_image(cenv, cenv.root / f"img-{arch}", "v1", architecture=arch)
        for arch in ("amd64", "arm64")
    }
    layout = cenv.root / "multi-oci"
    index, _ = write_oci_index_layout(layout, "multi", children)
    return layout, index, children


def _assert_index_complete(
    cenv: ClientEnv, repo: str, index: bytes, children: dict[str, OciImage]
) -> None:
    with cenv.http() as http:
        for arch, child in children.items():
            r = http.get(f"/v2/{repo}/manifests/{child.digest}", headers={"Accept": OCI_MANIFEST})
            assert r.status_code == 200, (arch, r.text)
            assert r.content == child.manifest
            for digest in [child.config_digest, *child.layer_digests]:
                b = http.head(f"/v2/{repo}/blobs/{digest}")
                assert b.status_code == 200, (repo, digest)
                assert int(b.headers["content-length"]) == len(child.blobs[digest])
        r = http.get(f"/v2/{repo}/manifests/{sha256(index)}", headers={"Accept": OCI_INDEX})
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0].strip() == OCI_INDEX
        assert r.content == index


def test_copy_all_multiarch_index(
    cenv: ClientEnv, multiarch: tuple[Path, bytes, dict[str, OciImage]]
) -> None:
    layout, index, children = multiarch
    push(cenv, f"oci:{layout}:multi", "skopeo/multi:v1", "--all")
    assert cenv.inspect_raw(cenv.ref("skopeo/multi:v1")) == index
    _assert_index_complete(cenv, "skopeo/multi", index, children)

    # Per-platform inspect picks the right child.
    for arch, child in children.items():
        info = cenv.skopeo_json(
            "--override-arch", arch, "inspect", "--tls-verify=false", cenv.ref("skopeo/multi:v1")
        )
        assert isinstance(info, dict)
        assert info["Digest"] == sha256(index)  # skopeo reports the top-level digest
        assert info["Architecture"] == arch
        assert info["Layers"] == child.layer_digests

    # docker -> docker of the whole index into another repo.
    cenv.skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        cenv.ref("skopeo/multi:v1"),
        cenv.ref("skopeo/multi-copy:v1"),
    )
    assert cenv.inspect_raw(cenv.ref("skopeo/multi-copy:v1")) == index
    _assert_index_complete(cenv, "skopeo/multi-copy", index, children)

    # and out to an OCI layout, every child included.
    out = cenv.tmpdir("multi-out")
    cenv.skopeo(
        "copy", "--all", "--src-tls-verify=false", cenv.ref("skopeo/multi:v1"), f"oci:{out}:m"
    )
    got = dir_blobs(out)
    assert got[sha256(index)] == index
    for child in children.values():
        assert got[child.digest] == child.manifest
        for digest in [child.config_digest, *child.layer_digests]:
            assert got[digest] == child.blobs[digest]


def test_sync_to_dir_and_registry(
    cenv: ClientEnv, image: OciImage, multiarch: tuple[Path, bytes, dict[str, OciImage]]
) -> None:
    layout, index, children = multiarch
    push(cenv, image.oci_ref, "skopeo/sync:v1")
    push(cenv, image.oci_ref, "skopeo/sync:v2", "--format", "v2s2")
    push(cenv, f"oci:{layout}:multi", "skopeo/sync:multi", "--all")
    v2_raw = cenv.inspect_raw(cenv.ref("skopeo/sync:v2"))

    # docker -> dir: one directory per tag, manifests byte-identical.
    out = cenv.tmpdir("sync-dir")
    cenv.skopeo(
        "--override-arch",
        "arm64",
        "sync",
        "--src",
        "docker",
        "--dest",
        "dir",
        "--src-tls-verify=false",
        f"{cenv.host}/skopeo/sync",
        str(out),
    )
    assert sorted(p.name for p in out.iterdir()) == ["sync:multi", "sync:v1", "sync:v2"]
    assert (out / "sync:v1" / "manifest.json").read_bytes() == image.manifest
    assert (out / "sync:v2" / "manifest.json").read_bytes() == v2_raw
    for tag in ("v1", "v2"):
        blobs = dir_blobs(out / f"sync:{tag}")
        assert set(blobs) == {image.config_digest, *image.layer_digests}
    # Without --all, the index resolves to the child of the client's platform.
    assert (out / "sync:multi" / "manifest.json").read_bytes() == children["arm64"].manifest

    # docker -> docker with --all: DEST/<last path element>:<tag>
    cenv.skopeo(
        "sync",
        "--all",
        "--src",
        "docker",
        "--dest",
        "docker",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"{cenv.host}/skopeo/sync",
        f"{cenv.host}/skopeo-mirror",
    )
    assert cenv.inspect_raw(cenv.ref("skopeo-mirror/sync:v1")) == image.manifest
    assert cenv.inspect_raw(cenv.ref("skopeo-mirror/sync:v2")) == v2_raw
    assert cenv.inspect_raw(cenv.ref("skopeo-mirror/sync:multi")) == index
    _assert_index_complete(cenv, "skopeo-mirror/sync", index, children)
    listing = cenv.skopeo_json("list-tags", "--tls-verify=false", cenv.ref("skopeo-mirror/sync"))
    assert listing == {
        "Repository": f"{cenv.host}/skopeo-mirror/sync",
        "Tags": ["multi", "v1", "v2"],
    }


def test_cross_repository_mount(cenv: ClientEnv, image: OciImage) -> None:
    """A docker -> docker copy within the registry mounts blobs instead of uploading them."""
    push(cenv, image.oci_ref, "skopeo/mount-src:v1")
    log = cenv.registry.log_path
    before = log.stat().st_size
    cenv.skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        cenv.ref("skopeo/mount-src:v1"),
        cenv.ref("skopeo/mount-dst:v1"),
    )
    assert cenv.inspect_raw(cenv.ref("skopeo/mount-dst:v1")) == image.manifest
    with cenv.http() as http:
        for digest in [image.config_digest, *image.layer_digests]:
            r = http.get(f"/v2/skopeo/mount-dst/blobs/{digest}")
            assert r.status_code == 200
            assert r.content == image.blobs[digest]
    # The access log shows what skopeo did: each layer was mounted (201 on POST ?mount=), none
    # uploaded; skopeo 1.9 uploads the small config blob again instead of trying a mount.
    requests = [
        json.loads(line)
        for line in log.read_bytes()[before:].decode().splitlines()
        if line.startswith("{") and '"moorage.access"' in line
    ]
    dst = [r for r in requests if r.get("path", "").startswith("/v2/skopeo/mount-dst/")]
    assert dst, "no requests for the destination in the access log"
    for digest in image.layer_digests:
        quoted = digest.replace(":", "%3A")
        mounts = [r for r in dst if r["method"] == "POST" and f"mount={quoted}" in r["path"]]
        assert [r["status"] for r in mounts] == [201], digest
        assert not [r for r in dst if r["method"] == "PUT" and f"digest={quoted}" in r["path"]]
