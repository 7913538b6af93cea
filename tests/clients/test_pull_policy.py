"""The pull policy with real clients against a real ``moorage serve``: skopeo and podman are
refused an unsigned image (the registry's reason reaches the user) and pull a signed one; podman
pulls a signed multi-platform index (the index, then its image by digest: the signature is on
the index). Signatures are cosign's tag-scheme format made with ``cryptography``
(``tests/trust/signature_craft.py``), its key registered through the signatureTrust API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clients.conftest import (
    OCI_MANIFEST,
    ClientEnv,
    OciImage,
    build_umoci_image,
    requires,
    write_oci_index_layout,
)
from tests.trust.signature_craft import (
    cosign_manifest,
    cosign_sign,
    new_key,
    public_pem,
    sha256,
    simple_signing,
)

pytestmark = [pytest.mark.clients, requires("skopeo", "umoci")]

REPO = "policy/app"
REFUSED = f"pull refused by the policy of repository {REPO}: no trusted signature"


def _ok(r: httpx.Response, status: int = 201) -> None:
    assert r.status_code == status, (r.status_code, r.text)


def _sign(http: httpx.Client, digest: str, key: Any) -> None:
    """cosign's signature of ``digest`` at its ``sha256-<hex>.sig`` tag."""
    payload = simple_signing(digest, f"registry.test/{REPO}")
    config = b'{"architecture":"","os":"","rootfs":{"type":"layers"}}'
    for blob in (payload, config):
        _ok(http.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob))
    body = cosign_manifest([(payload, cosign_sign(key, payload))], config)
    tag = f"sha256-{digest.split(':')[1]}.sig"
    _ok(
        http.put(
            f"/v2/{REPO}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
    )


@pytest.fixture(scope="module")
def images(cenv: ClientEnv) -> dict[str, OciImage]:
    """``unsigned`` and ``signed`` images and a signed ``multi`` index, pushed by skopeo;
    the key registered for the repository; then the policy set (requireSignature)."""
    root = cenv.root
    built = {
        name: build_umoci_image(cenv, root / f"pp-{name}", "v1", label=name)
        for name in ("unsigned", "signed")
    }
    children = {
        arch: build_umoci_image(cenv, root / f"pp-{arch}", "v1", architecture=arch)
        for arch in ("amd64", "arm64")
    }
    index, _ = write_oci_index_layout(root / "pp-multi", "multi", children)
    for name, image in built.items():
        cenv.skopeo("copy", "--dest-tls-verify=false", image.oci_ref, cenv.ref(f"{REPO}:{name}"))
    cenv.skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{root / 'pp-multi'}:multi",
        cenv.ref(f"{REPO}:multi"),
    )
    key = new_key()
    with cenv.http() as http:
        r = http.post(f"/api/v0/repositories/{REPO}/signatureTrust", json={"pem": public_pem(key)})
        _ok(r)
        _sign(http, built["signed"].digest, key)
        _sign(http, sha256(index), key)
        _ok(
            http.put(f"/api/v0/repositories/{REPO}/pullPolicy", json={"requireSignature": True}),
            200,
        )
    return {**built, **{f"multi-{arch}": image for arch, image in children.items()}}


def test_skopeo_is_refused_an_unsigned_image_and_copies_a_signed_one(
    cenv: ClientEnv, images: dict[str, OciImage]
) -> None:
    out = cenv.tmpdir("pp-skopeo")
    refused = cenv.skopeo(
        "copy", "--src-tls-verify=false", cenv.ref(f"{REPO}:unsigned"), f"oci:{out}:u", check=False
    )
    assert refused.returncode != 0
    assert REFUSED in refused.stderr, refused.stderr
    by_digest = cenv.skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        cenv.ref(f"{REPO}@{images['unsigned'].digest}"),
        check=False,
    )
    assert by_digest.returncode != 0 and REFUSED in by_digest.stderr, by_digest.stderr

    cenv.skopeo("copy", "--src-tls-verify=false", cenv.ref(f"{REPO}:signed"), f"oci:{out}:s")
    index = (out / "index.json").read_text()
    assert images["signed"].digest.split(":")[1] in index
    # What cosign reads to verify stays pullable.
    sig = f"sha256-{images['signed'].digest.split(':')[1]}.sig"
    cenv.skopeo("inspect", "--raw", "--tls-verify=false", cenv.ref(f"{REPO}:{sig}"))


@requires("podman")
def test_podman_is_refused_an_unsigned_image_and_pulls_signed_ones(
    cenv: ClientEnv, images: dict[str, OciImage]
) -> None:
    host = cenv.host
    refused = cenv.podman("pull", "-q", f"{host}/{REPO}:unsigned", check=False, timeout=120)
    assert refused.returncode != 0
    assert REFUSED in refused.stderr, refused.stderr

    pulled = cenv.podman("pull", "-q", f"{host}/{REPO}:signed", timeout=120)
    assert f"sha256:{pulled.stdout.split()[-1]}" == images["signed"].config_digest
    # A signed index: podman reads the index, then the linux/amd64 image by digest.
    pulled = cenv.podman("pull", "-q", "--arch", "amd64", f"{host}/{REPO}:multi", timeout=120)
    assert f"sha256:{pulled.stdout.split()[-1]}" == images["multi-amd64"].config_digest
