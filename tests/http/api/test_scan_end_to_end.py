"""From a push to a summary through the real scanner: an image whose layer holds a Debian 12
``os-release`` and a dpkg status database is pushed, a vulnerability archive written for the test
is imported, ``POST /api/v0/imagescan/scan/...`` queues the scan, the job runner runs the engine
(``moorage.scanning.engine``), and the summary, the search by CVE and an override read what it
wrote."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
import time
from typing import Any

import httpx

from tests.http.scan_world import BASE
from tests.http.ui import content
from tests.inprocess import InProcessApp
from tests.scanning.vulndb.archives import zip_bytes

OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
    b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
)
STATUS = b"""Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: tzdata
Status: install ok installed
Priority: required
Section: localization
Installed-Size: 2000
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data

"""
SITE = "usr/lib/python3/dist-packages"
SIX_METADATA = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n"
RECORD = {
    "schema_version": "1.6.0",
    "id": "DEBIAN-CVE-2023-45853",
    "aliases": ["CVE-2023-45853"],
    "modified": "2024-01-10T00:00:00Z",
    "published": "2023-10-14T00:00:00Z",
    "summary": "MiniZip integer overflow in zipOpenNewFileInZip4_64",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "zlib"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-3"}],
                }
            ],
        }
    ],
}


def _layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (
            ("etc/os-release", OS_RELEASE),
            ("var/lib/dpkg/status", STATUS),
            (f"{SITE}/six-1.16.0.dist-info/METADATA", SIX_METADATA),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


async def _push(client: httpx.AsyncClient, repo: str, tag: str) -> tuple[str, str]:
    layer = _layer()
    layer_digest = await content.blob(client, repo, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [content.digest_of(gzip.decompress(layer))]},
            "history": [{"created_by": "ADD rootfs.tar /"}],
        }
    ).encode()
    config_digest = await content.blob(client, repo, config)
    digest = await content.put_manifest(
        client,
        repo,
        tag,
        {
            "schemaVersion": 2,
            "mediaType": content.OCI_MANIFEST,
            "config": {
                "mediaType": content.OCI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": content.OCI_LAYER, "digest": layer_digest, "size": len(layer)}
            ],
        },
    )
    return digest, layer_digest


async def _done(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60.0
    while True:
        job: dict[str, Any] = (await client.get(f"/api/v0/jobs/{job_id}")).json()
        if job["status"] not in ("waiting", "running"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.2)


async def test_a_pushed_image_scanned_on_demand(inproc: InProcessApp) -> None:
    async with inproc.client() as admin:
        digest, layer = await _push(admin, "admin/e2e", "v1")
        archive = zip_bytes({"Debian/DEBIAN-CVE-2023-45853.json": json.dumps(RECORD).encode()})
        r = await admin.put(
            f"{BASE}/scan/update",
            params={"online": "false"},
            files={"file": ("all.zip", archive, "application/zip")},
        )
        assert r.status_code == 200, r.text
        r = await admin.post(f"{BASE}/scan/admin/e2e/v1/linux/amd64")
        assert r.status_code == 200, r.text
        (job,) = r.json()["jobs"]
        finished = await _done(admin, job["id"])
        logs = (await admin.get(f"/api/v0/jobs/{job['id']}/logs")).json()
        assert finished["status"] == "done", (finished, logs)
        (summary,) = (await admin.get(f"{BASE}/scansummary/repositories/admin/e2e/v1")).json()
        found = (await admin.get(f"{BASE}/scansummary/cve/CVE-2023-45853")).json()
        # The licences the scan found are searchable (their own indexed rows).
        by_licence = (await admin.get(f"{BASE}/scansummary/license/mit")).json()
        by_other = (await admin.get(f"{BASE}/scansummary/license/GPL-3.0")).json()
        override = await admin.post(
            f"{BASE}/layeroverride/{layer}",
            json={
                "component": "zlib1g",
                "cve": "CVE-2023-45853",
                "notes": "minizip is not shipped",
            },
        )
        (after,) = (await admin.get(f"{BASE}/scansummary/repositories/admin/e2e/v1")).json()
    assert summary["status"] == "scanned", [line["data"] for line in logs]
    assert (summary["critical"], summary["major"], summary["minor"]) == (1, 0, 0)
    (details,) = summary["layer_details"]
    assert details["sha256sum"] == layer
    components = {c["component"]: c for c in details["components"]}
    assert components["zlib1g"]["version"] == "1:1.2.13.dfsg-1"
    (vuln,) = components["zlib1g"]["vulns"]
    assert set(vuln["vuln"]["ids"]) == {"DEBIAN-CVE-2023-45853", "CVE-2023-45853"}
    assert vuln["vuln"]["fixedVersion"] == "1:1.2.13.dfsg-3"
    assert components["tzdata"]["vulns"] == []
    assert [(s["reponame"], s["tag"], s["manifestDigest"]) for s in found] == [
        ("e2e", "v1", digest)
    ]
    assert [s["manifestDigest"] for s in by_licence] == [digest] and by_other == []
    assert override.status_code == 200, override.text
    assert after["critical"] == 0
