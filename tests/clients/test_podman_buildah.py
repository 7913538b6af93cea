"""podman and buildah against a real ``moorage serve``.

podman and buildah keep layers uncompressed in their (vfs) store and gzip them again on push,
sending ``PATCH`` with ``Transfer-Encoding: chunked`` for layers they compress on the fly; the
pushed layer digests then differ from the source, but each layer still unpacks to its ``diff_id``.
"""

from __future__ import annotations

import gzip
import io
import json
import secrets
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    ClientEnv,
    OciImage,
    SniffingProxy,
    build_umoci_image,
    missing,
    requires,
    sha256,
)
from tests.conftest import ADMIN

pytestmark = [pytest.mark.clients, pytest.mark.one_database]  # one database: a client test

GZIP_LAYERS = {
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
}


def get_manifest(http: httpx.Client, repo: str, ref: str) -> tuple[bytes, str, dict[str, object]]:
    r = http.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT})
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(r.content)
    content_type = r.headers["content-type"].split(";")[0].strip()
    doc = json.loads(r.content)
    return r.content, content_type, doc


def check_image(
    http: httpx.Client, repo: str, ref: str
) -> tuple[str, dict[str, object], dict[str, Any]]:
    """Fetch the manifest, config and every layer; check each layer gunzips to its diff_id.
    Returns (media type, manifest, config)."""
    _, content_type, doc = get_manifest(http, repo, ref)
    assert doc.get("mediaType", content_type) == content_type
    config_desc = doc["config"]
    assert isinstance(config_desc, dict)
    r = http.get(f"/v2/{repo}/blobs/{config_desc['digest']}")
    assert r.status_code == 200
    assert sha256(r.content) == config_desc["digest"]
    assert len(r.content) == config_desc["size"]
    config = json.loads(r.content)
    layers = doc["layers"]
    assert isinstance(layers, list)
    diff_ids = config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(layers)
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        assert layer["mediaType"] in GZIP_LAYERS
        blob = http.get(f"/v2/{repo}/blobs/{layer['digest']}")
        assert blob.status_code == 200
        assert sha256(blob.content) == layer["digest"]
        assert len(blob.content) == layer["size"]
        assert sha256(gzip.decompress(blob.content)) == diff_id
    return content_type, doc, config


def layer_files(http: httpx.Client, repo: str, doc: dict[str, object]) -> dict[str, bytes]:
    """Regular files of all layers of an image, path -> bytes (later layers win)."""
    files: dict[str, bytes] = {}
    layers = doc["layers"]
    assert isinstance(layers, list)
    for layer in layers:
        data = http.get(f"/v2/{repo}/blobs/{layer['digest']}").content
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    files[member.name.lstrip("./").lstrip("/")] = f.read()
    return files


@pytest.fixture(scope="module")
def base(cenv: ClientEnv) -> OciImage:
    """A umoci image pushed by skopeo to ``podman/base:v1`` (amd64)."""
    if missing("skopeo", "umoci"):
        pytest.skip(f"not installed: {missing('skopeo', 'umoci')}")
    image = build_umoci_image(cenv, cenv.root / "base-oci", "v1", architecture="amd64")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref("podman/base:v1"))
    return image


@pytest.fixture(scope="module")
def base_arm64(cenv: ClientEnv) -> OciImage:
    if missing("skopeo", "umoci"):
        pytest.skip(f"not installed: {missing('skopeo', 'umoci')}")
    image = build_umoci_image(cenv, cenv.root / "arm-oci", "v1", architecture="arm64")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref("podman/base-arm64:v1"))
    return image


def make_context(root: Path) -> tuple[Path, dict[str, bytes]]:
    """A build context with fresh random files and a FROM scratch / COPY-only Containerfile."""
    ctx = root / "ctx"
    (ctx / "etc").mkdir(parents=True)
    (ctx / "bin").mkdir()
    files = {
        "etc/os-release": b'ID=bud\nNAME="Moorage bud fixture"\n',
        "etc/random": secrets.token_bytes(8192),
        "bin/tool": secrets.token_bytes(20000),
        "bin/other": secrets.token_bytes(3000),
    }
    for path, data in files.items():
        (ctx / path).write_bytes(data)
    (ctx / "Containerfile").write_text(
        "FROM scratch\n"
        "COPY etc/ /etc/\n"
        "COPY bin/ /bin/\n"
        "ENV PATH=/bin\n"
        'LABEL org.opencontainers.image.title="bud fixture"\n'
        'CMD ["/bin/tool"]\n'
    )
    return ctx, files


@requires("podman")
def test_podman_pull_tag_push(cenv: ClientEnv, base: OciImage) -> None:
    src = f"{cenv.host}/podman/base:v1"
    pulled = cenv.podman("pull", "-q", src, timeout=120)
    image_id = pulled.stdout.strip().splitlines()[-1]
    assert f"sha256:{image_id}" == base.config_digest  # podman's image ID is the config digest

    inspected = json.loads(cenv.podman("image", "inspect", src).stdout)[0]
    assert inspected["Digest"] == base.digest
    assert inspected["RootFS"]["Layers"] == base.config["rootfs"]["diff_ids"]  # type: ignore[index]

    dst = f"{cenv.host}/podman/retag:v1"
    cenv.podman("tag", src, dst)
    cenv.podman("push", "-q", dst, timeout=120)

    with cenv.http() as http:
        content_type, doc, config = check_image(http, "podman/retag", "v1")
        assert content_type == OCI_MANIFEST
        config_desc = doc["config"]
        assert isinstance(config_desc, dict)
        assert config_desc["digest"] == base.config_digest
        assert config["history"] == base.config["history"]
        files = layer_files(http, "podman/retag", doc)
    assert files["etc/os-release"] == b'ID=fixture\nNAME="Moorage fixture"\n'
    assert len(files["bin/hello"]) == 2048

    tags = json.loads(
        cenv.skopeo("list-tags", "--tls-verify=false", cenv.ref("podman/retag")).stdout
    )
    assert tags["Tags"] == ["v1"]


@requires("podman")
def test_podman_push_docker_schema2(cenv: ClientEnv, base: OciImage) -> None:
    src = f"{cenv.host}/podman/base:v1"
    cenv.podman("pull", "-q", src, timeout=120)
    cenv.podman("push", "-q", "--format", "v2s2", src, f"{cenv.host}/podman/v2s2:v1", timeout=120)
    with cenv.http() as http:
        content_type, doc, config = check_image(http, "podman/v2s2", "v1")
        raw, _, _ = get_manifest(http, "podman/v2s2", "v1")
    assert content_type == DOCKER_MANIFEST
    assert doc["mediaType"] == DOCKER_MANIFEST
    config_desc = doc["config"]
    assert isinstance(config_desc, dict)
    assert config_desc["mediaType"] == DOCKER_CONFIG
    assert config["rootfs"]["diff_ids"] == base.config["rootfs"]["diff_ids"]  # type: ignore[index]
    # Pull it back with podman by digest.
    by_digest = f"{cenv.host}/podman/v2s2@{sha256(raw)}"
    cenv.podman("pull", "-q", by_digest, timeout=120)
    inspected = json.loads(cenv.podman("image", "inspect", by_digest).stdout)[0]
    assert by_digest in inspected["RepoDigests"]
    assert inspected["Id"] == config_desc["digest"].removeprefix("sha256:")


@requires("podman")
def test_podman_manifest_push_all(cenv: ClientEnv, base: OciImage, base_arm64: OciImage) -> None:
    local = f"{cenv.host}/podman/multi:v1"
    cenv.podman("manifest", "create", local)
    cenv.podman("manifest", "add", local, cenv.ref("podman/base:v1"), timeout=120)
    cenv.podman(
        "manifest", "add", "--arch", "arm64", local, cenv.ref("podman/base-arm64:v1"), timeout=120
    )
    cenv.podman("manifest", "push", "--all", local, cenv.ref("podman/multi:v1"), timeout=120)

    with cenv.http() as http:
        raw, content_type, index = get_manifest(http, "podman/multi", "v1")
        assert content_type in (OCI_INDEX, DOCKER_LIST)
        assert index.get("mediaType", content_type) == content_type
        entries = index["manifests"]
        assert isinstance(entries, list)
        by_arch = {e["platform"]["architecture"]: e for e in entries}
        assert set(by_arch) == {"amd64", "arm64"}
        for arch, child in (("amd64", base), ("arm64", base_arm64)):
            entry = by_arch[arch]
            assert entry["platform"]["os"] == "linux"
            assert entry["digest"] == child.digest
            assert entry["size"] == len(child.manifest)
            assert entry["mediaType"] == OCI_MANIFEST
            r = http.get(
                f"/v2/podman/multi/manifests/{child.digest}", headers={"Accept": OCI_MANIFEST}
            )
            assert r.status_code == 200
            assert r.content == child.manifest
            for digest in [child.config_digest, *child.layer_digests]:
                b = http.get(f"/v2/podman/multi/blobs/{digest}")
                assert b.status_code == 200
                assert b.content == child.blobs[digest]
    # skopeo sees the same list; and picks the arm64 child for an arm64 client.
    assert cenv.inspect_raw(cenv.ref("podman/multi:v1")) == raw
    info = json.loads(
        cenv.skopeo(
            "--override-arch", "arm64", "inspect", "--tls-verify=false", cenv.ref("podman/multi:v1")
        ).stdout
    )
    assert info["Layers"] == base_arm64.layer_digests


@requires("buildah")
@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_buildah_bud_and_push(cenv: ClientEnv, fmt: str) -> None:
    work = cenv.tmpdir(f"bud-{fmt}")
    ctx, files = make_context(work)
    tag = f"{cenv.host}/buildah/bud-{fmt}:v1"
    cenv.buildah(
        "bud",
        "--layers",
        "--format",
        fmt,
        "-f",
        str(ctx / "Containerfile"),
        "-t",
        tag,
        str(ctx),
        timeout=120,
    )
    cenv.buildah("push", tag, timeout=120)
    # and once more under a second name, with an explicit docker:// destination
    cenv.buildah("push", tag, cenv.ref(f"buildah/bud-{fmt}-copy:v1"), timeout=120)

    expected_type = DOCKER_MANIFEST if fmt == "docker" else OCI_MANIFEST
    expected_config = DOCKER_CONFIG if fmt == "docker" else OCI_CONFIG
    with cenv.http() as http:
        for repo in (f"buildah/bud-{fmt}", f"buildah/bud-{fmt}-copy"):
            content_type, doc, config = check_image(http, repo, "v1")
            assert content_type == expected_type
            config_desc = doc["config"]
            assert isinstance(config_desc, dict)
            assert config_desc["mediaType"] == expected_config
            layers = doc["layers"]
            assert isinstance(layers, list)
            assert len(layers) == 2  # one per COPY
            # re-compressed on push: the layer digest is the gzip's, not the tar's
            for layer, diff_id in zip(layers, config["rootfs"]["diff_ids"], strict=True):
                assert layer["digest"] != diff_id
            created_by = [h.get("created_by", "") for h in config["history"]]
            assert sum("COPY" in c for c in created_by) == 2
            assert config["config"]["Env"] == ["PATH=/bin"]
            assert config["config"]["Cmd"] == ["/bin/tool"]
            got = layer_files(http, repo, doc)
            for path, data in files.items():
                assert got[path] == data, path


@requires("buildah", "podman")
def test_podman_push_of_local_build_streams_chunked(cenv: ClientEnv) -> None:
    """A locally built image has no compressed form anywhere: podman gzips each layer while it
    uploads, as ``PATCH`` with ``Transfer-Encoding: chunked`` and no Content-Length. The push goes
    through a recording proxy so the test can see those headers."""
    work = cenv.tmpdir("podman-local")
    ctx, files = make_context(work)
    local = "localhost/podman-local:v1"
    cenv.buildah(
        "bud",
        "--format",
        "oci",
        "-f",
        str(ctx / "Containerfile"),
        "-t",
        local,
        str(ctx),
        timeout=120,
    )
    with SniffingProxy(cenv.registry.port) as proxy:
        cenv.podman(
            "push",
            "-q",
            "--tls-verify=false",
            "--creds",
            ":".join(ADMIN),
            local,
            f"docker://{proxy.host}/podman/local:v1",
            timeout=120,
        )
        sent = [r for r in proxy.requests() if r.path.startswith("/v2/podman/local/")]

    with cenv.http() as http:
        content_type, doc, _ = check_image(http, "podman/local", "v1")
        assert content_type == OCI_MANIFEST
        got = layer_files(http, "podman/local", doc)
    for path, data in files.items():
        assert got[path] == data, path

    layers = doc["layers"]
    assert isinstance(layers, list)
    assert len(layers) == 1  # bud without --layers commits one layer
    # Every blob went through POST + PATCH + PUT ?digest= (nothing to mount: the bytes are new);
    # the layer's PATCH streamed chunked, without a length.
    patches = [r for r in sent if r.method == "PATCH"]
    assert len(patches) == len(layers) + 1, sent
    chunked = [r for r in patches if r.headers.get("transfer-encoding", "").lower() == "chunked"]
    assert len(chunked) >= len(layers), [r.headers for r in patches]
    assert all("content-length" not in r.headers for r in chunked)
    for layer in layers:
        quoted = layer["digest"].replace(":", "%3A")
        assert [r for r in sent if r.method == "PUT" and f"digest={quoted}" in r.path]
