"""oras-py (in process) against a real ``moorage serve``: artifacts, subjects, the referrers API.

Gotchas from RECIPES-clients.md §9: file paths must be under the CWD (each test chdirs to its own
directory), ``insecure=True`` means plain HTTP, and ``subject`` must be an ``oras.oci.Subject``
built from the subject's HEAD (``Docker-Content-Digest``, ``Content-Length``), never re-serialised.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import (
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    ClientEnv,
    OciImage,
    SniffingProxy,
    build_umoci_image,
    requires,
    sha256,
)
from tests.conftest import ADMIN

oras_client = pytest.importorskip("oras.client")
oras_oci = pytest.importorskip("oras.oci")

pytestmark = [pytest.mark.one_database, pytest.mark.clients, requires("skopeo", "umoci")]

SBOM_TYPE = "application/vnd.example.sbom.v1"
SIG_TYPE = "application/vnd.example.signature.v1"


@pytest.fixture()
def workdir(
    cenv: ClientEnv, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = cenv.tmpdir(f"oras-{request.node.name}".replace("[", "-").replace("]", ""))
    monkeypatch.chdir(path)
    monkeypatch.setenv("DOCKER_CONFIG", str(cenv.root / "docker"))
    monkeypatch.setenv("HOME", str(cenv.root / "home"))
    return path


def oras(host: str) -> Any:
    client = oras_client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(*ADMIN)
    return client


def push_subject(cenv: ClientEnv, repo: str) -> tuple[OciImage, Any]:
    """Push a fresh umoci image to ``repo:v1`` with skopeo; the oras Subject from its HEAD."""
    image = build_umoci_image(cenv, cenv.root / f"{repo.replace('/', '-')}-oci", "v1")
    cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref(f"{repo}:v1"))
    with cenv.http() as http:
        head = http.head(f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_ACCEPT})
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == image.digest
    subject = oras_oci.Subject(
        mediaType=head.headers["content-type"].split(";")[0].strip(),
        digest=head.headers["Docker-Content-Digest"],
        size=int(head.headers["content-length"]),
    )
    assert subject.mediaType == OCI_MANIFEST
    assert subject.size == len(image.manifest)
    return image, subject


def referrers(http: httpx.Client, repo: str, digest: str, **params: str) -> httpx.Response:
    r = http.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0].strip() == OCI_INDEX
    return r


def test_artifact_with_subject_listed_by_referrers(cenv: ClientEnv, workdir: Path) -> None:
    repo = "oras/refs"
    image, subject = push_subject(cenv, repo)
    c = oras(cenv.host)

    with cenv.http() as http:
        empty = referrers(http, repo, image.digest).json()
    assert empty == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    (workdir / "sbom.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "fixture"}))
    (workdir / "sbom-config.json").write_text("{}")
    sbom_resp = c.push(
        target=f"{cenv.host}/{repo}:sbom",
        files=["sbom.json:application/spdx+json"],
        manifest_config=f"sbom-config.json:{SBOM_TYPE}",
        manifest_annotations={"org.example.kind": "sbom"},
        subject=subject,
    )
    assert sbom_resp.status_code == 201
    assert sbom_resp.headers["OCI-Subject"] == image.digest
    sbom_digest = sbom_resp.headers["Docker-Content-Digest"]

    (workdir / "sig.bin").write_bytes(secrets.token_bytes(64))
    (workdir / "sig-config.json").write_text('{"kind":"sig"}')
    sig_resp = c.push(
        target=f"{cenv.host}/{repo}:sig",
        files=["sig.bin:application/octet-stream"],
        manifest_config=f"sig-config.json:{SIG_TYPE}",
        subject=subject,
    )
    assert sig_resp.status_code == 201
    sig_digest = sig_resp.headers["Docker-Content-Digest"]

    with cenv.http() as http:
        sbom_raw = http.get(f"/v2/{repo}/manifests/{sbom_digest}", headers={"Accept": OCI_MANIFEST})
        sig_raw = http.get(f"/v2/{repo}/manifests/{sig_digest}", headers={"Accept": OCI_MANIFEST})
        assert sha256(sbom_raw.content) == sbom_digest
        assert sbom_raw.headers["OCI-Subject"] == image.digest
        sbom_doc = sbom_raw.json()
        assert sbom_doc["subject"] == {
            "mediaType": OCI_MANIFEST,
            "digest": image.digest,
            "size": len(image.manifest),
        }
        assert sbom_doc["config"]["mediaType"] == SBOM_TYPE

        listed = referrers(http, repo, image.digest)
        assert "OCI-Filters-Applied" not in listed.headers
        index = listed.json()
        by_digest = {d["digest"]: d for d in index["manifests"]}
        assert set(by_digest) == {sbom_digest, sig_digest}
        assert by_digest[sbom_digest] == {
            "mediaType": OCI_MANIFEST,
            "digest": sbom_digest,
            "size": len(sbom_raw.content),
            "artifactType": SBOM_TYPE,  # no artifactType field: the config's media type
            "annotations": {"org.example.kind": "sbom"},
        }
        assert by_digest[sig_digest]["artifactType"] == SIG_TYPE
        assert by_digest[sig_digest]["size"] == len(sig_raw.content)
        assert by_digest[sig_digest]["mediaType"] == OCI_MANIFEST

        filtered = referrers(http, repo, image.digest, artifactType=SBOM_TYPE)
        assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
        assert [d["digest"] for d in filtered.json()["manifests"]] == [sbom_digest]
        assert filtered.json()["manifests"][0]["artifactType"] == SBOM_TYPE

        none = referrers(http, repo, image.digest, artifactType="application/vnd.example.none")
        assert none.headers["OCI-Filters-Applied"] == "artifactType"
        assert none.json()["manifests"] == []

        # The referrers of an artifact, and of an unknown digest in the same repo, are empty.
        assert referrers(http, repo, sbom_digest).json()["manifests"] == []
        assert referrers(http, repo, sha256(b"nothing")).json()["manifests"] == []

    # The subject image itself is unchanged and still pulls.
    assert cenv.inspect_raw(cenv.ref(f"{repo}:v1")) == image.manifest


def test_pull_artifact_back(cenv: ClientEnv, workdir: Path) -> None:
    repo = "oras/pull"
    image, subject = push_subject(cenv, repo)
    c = oras(cenv.host)
    payload = secrets.token_bytes(50_000)
    (workdir / "data.bin").write_bytes(payload)
    (workdir / "notes.txt").write_text("hello from oras\n")
    (workdir / "tree" / "sub").mkdir(parents=True)
    (workdir / "tree" / "sub" / "leaf.txt").write_text("leaf\n")
    target = f"{cenv.host}/{repo}:artifact"
    pushed = c.push(
        target=target,
        files=["data.bin:application/octet-stream", "notes.txt:text/plain", "tree"],
        subject=subject,
    )
    assert pushed.status_code == 201

    out = workdir / "out"
    files = c.pull(target=target, outdir=str(out))
    assert sorted(Path(f).name for f in files) == ["data.bin", "notes.txt", "tree"]
    assert (out / "data.bin").read_bytes() == payload
    assert (out / "notes.txt").read_text() == "hello from oras\n"
    assert (out / "tree" / "sub" / "leaf.txt").read_text() == "leaf\n"

    manifest = c.get_manifest(target)
    assert manifest["subject"]["digest"] == image.digest
    titles = [
        layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]
    ]
    assert titles == ["data.bin", "notes.txt", "tree"]
    assert "artifact" in c.get_tags(f"{cenv.host}/{repo}")

    with cenv.http() as http:
        listed = referrers(http, repo, image.digest).json()["manifests"]
    assert [d["digest"] for d in listed] == [pushed.headers["Docker-Content-Digest"]]


def test_chunked_push(cenv: ClientEnv, workdir: Path) -> None:
    """``do_chunked=True``: POST, one PATCH per chunk (Content-Range + Content-Length), PUT."""
    repo = "oras/chunked"
    image, subject = push_subject(cenv, repo)
    payload = secrets.token_bytes(300_000)
    chunk = 64 * 1024
    (workdir / "big.bin").write_bytes(payload)

    with SniffingProxy(cenv.registry.port) as proxy:
        c = oras(proxy.host)
        target = f"{proxy.host}/{repo}:big"
        pushed = c.push(
            target=target,
            files=["big.bin:application/octet-stream"],
            subject=subject,
            do_chunked=True,
            chunk_size=chunk,
        )
        assert pushed.status_code == 201
        sent = [r for r in proxy.requests() if r.path.startswith(f"/v2/{repo}/")]
        out = workdir / "out"
        c.pull(target=target, outdir=str(out))
    assert (out / "big.bin").read_bytes() == payload

    patches = [r for r in sent if r.method == "PATCH"]
    expected = -(-len(payload) // chunk)
    assert len(patches) >= expected  # the payload's chunks (+ the config's, if chunked too)
    ranges = [r.headers.get("content-range") for r in patches]
    starts = [f"{i * chunk}-{min((i + 1) * chunk, len(payload)) - 1}" for i in range(expected)]
    assert all(s in ranges for s in starts), ranges
    assert all(r.headers.get("content-length") for r in patches)

    digest = sha256(payload)
    with cenv.http() as http:
        blob = http.get(f"/v2/{repo}/blobs/{digest}")
        assert blob.status_code == 200
        assert blob.content == payload
        listed = referrers(http, repo, image.digest).json()["manifests"]
    assert [d["digest"] for d in listed] == [pushed.headers["Docker-Content-Digest"]]
