"""The scan engine on real images pushed to the in-process app: layer-by-layer inventories,
exact findings from a vulnerability archive of real (and adapted) OSV records, whiteouts,
the layer cache (storage reads counted), failures that say why, overrides and VEX, indexes.

Expected findings are worked out from the records (see each test): the installed version inside
a record's range, or not, by the ecosystem's ordering."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from moorage.db import scan_result_tables as sr
from moorage.db.engine import as_utc
from moorage.oci.digest import Digest
from moorage.registry.context import RegistryContext
from moorage.registry.layout import blob_key
from moorage.scanning import engine, layer_overrides, vex
from moorage.scanning.engine_match import RecordKeeper
from moorage.scanning.engine_results import NO_DATABASE
from moorage.storage.base import StorageDriver
from tests.auth.creds_helpers import app_services
from tests.http.v2.helpers import OCI_MANIFEST, descriptor
from tests.http.v2.inproc_push import push_blob
from tests.inprocess import InProcessApp, running_app
from tests.scanning import engine_images as ei
from tests.scanning.inventory.layer_tars import File, compress, layer, tar_bytes
from tests.scanning.scan_results import Found, components, counts, findings, id_rows, rows_of, state

# Debian image (base: Debian 12 with zlib1g, a binNMU of source zlib 1:1.2.13.dfsg-1; app: zipp
# 3.15.0, setuptools 65.0.0 and a package-lock; top: a whiteout removing setuptools):
# - zlib: DEBIAN-CVE-2018-25032 and DSA-5111-1 (fixed 1:1.2.13.dfsg-2, both upstream
#   CVE-2018-25032: one finding), DEBIAN-CVE-2022-37434 fixed in 1:1.2.11.dfsg-4.1 (older:
#   not affected); the Ubuntu records of zlib are another distribution's;
# - zipp 3.15.0 < 3.19.1 (GHSA-jfmj-5v4g-7637, CVSS 3.0 6.2);
# - debug 2.6.8 < 2.6.9 (GHSA-gxpj-cx7g-858c, 5.3); minimist 1.2.0 in [1.0.0, 1.2.3)
#   (GHSA-vh95-rmgr-6w4m, 5.6); qs 6.10.1 in [6.10.0, 6.10.3) (GHSA-hrpp-h998-j3pp, 7.5);
#   ms 2.0.0 is the fix of GHSA-w9mr-4mfr-499f and past GHSA-3fx5-fwvr-xrjg's 0.7.1;
# - setuptools 65.0.0 < 65.5.1 (PYSEC-2022-43012) is whited out: no finding.
DEBIAN_FINDINGS = {
    Found(
        "zlib1g",
        0,
        "CVE-2018-25032",
        ("CVE-2018-25032", "DEBIAN-CVE-2018-25032", "DSA-5111-1"),
        "critical",
        7.5,
        "1:1.2.13.dfsg-2",
    ),
    Found(
        "zipp", 1, "CVE-2024-5569", ("CVE-2024-5569", "GHSA-jfmj-5v4g-7637"), "major", 6.2, "3.19.1"
    ),
    Found(
        "debug",
        1,
        "CVE-2017-16137",
        ("CVE-2017-16137", "GHSA-gxpj-cx7g-858c"),
        "major",
        5.3,
        "2.6.9",
    ),
    Found(
        "minimist",
        1,
        "CVE-2020-7598",
        ("CVE-2020-7598", "GHSA-vh95-rmgr-6w4m"),
        "major",
        5.6,
        "1.2.3",
    ),
    Found(
        "qs",
        1,
        "CVE-2022-24999",
        ("CVE-2022-24999", "GHSA-hrpp-h998-j3pp"),
        "critical",
        7.5,
        "6.10.3",
    ),
}


def _alpine(component: str, fixes: dict[str, str]) -> set[Found]:
    return {
        Found(component, 0, cve, (cve, f"ALPINE-{cve}"), "unknown", None, fixed)
        for cve, fixed in fixes.items()
    }


# Alpine 3.18 image: busybox and ssl_client 1.36.1-r5 (origin busybox), libcrypto3 and libssl3
# 3.1.4-r2 (origin openssl), against the ALPINE-CVE records (Alpine:v3.18, no severity given):
# busybox fixed in 1.36.1-r6 (CVE-2023-42366) and -r7 (CVE-2023-42363..5); openssl in 3.1.4-r3
# (CVE-2023-6129) and -r4 (CVE-2023-6237); every older fix is below the installed versions.
BUSYBOX = {
    "CVE-2023-42363": "1.36.1-r7",
    "CVE-2023-42364": "1.36.1-r7",
    "CVE-2023-42365": "1.36.1-r7",
    "CVE-2023-42366": "1.36.1-r6",
}
OPENSSL = {"CVE-2023-6129": "3.1.4-r3", "CVE-2023-6237": "3.1.4-r4"}
ALPINE_FINDINGS = (
    _alpine("busybox", BUSYBOX)
    | _alpine("ssl_client", BUSYBOX)
    | _alpine("libcrypto3", OPENSSL)
    | _alpine("libssl3", OPENSSL)
)


@pytest.fixture()
async def app(
    tmp_path: Path, database_factory: Callable[[], str | None]
) -> AsyncIterator[InProcessApp]:
    """The in-process app without a job runner: these tests run the engine themselves, and no
    background job (the re-match an import queues) changes a result under them."""
    async with running_app(tmp_path / "data", database_factory(), job_workers=0) as running:
        yield running


def counting(app: InProcessApp) -> tuple[RegistryContext, ei.CountingStorage]:
    registry = app_services(app).registry
    storage = ei.CountingStorage(registry.storage)
    return dataclasses.replace(registry, storage=storage), storage


async def _database(app: InProcessApp, tmp_path: Path, *skip: str) -> None:
    await ei.import_records(app_services(app).db, tmp_path / "vulndb", ei.engine_records(*skip))


async def test_a_debian_image_layer_by_layer(app: InProcessApp, tmp_path: Path) -> None:
    async with app.client() as c:
        pushed = await ei.push_image(
            c, "admin/app", "v1", [ei.debian_base(), ei.application(), ei.without_setuptools()]
        )
    await _database(app, tmp_path, "DEBIAN-CVE-2023-45853")
    ctx, storage = counting(app)
    (outcome,) = await engine.scan(ctx, pushed.digest)
    assert (outcome.status, outcome.os) == ("scanned", "debian 12"), outcome
    db = ctx.db
    assert await findings(db, pushed.digest) == DEBIAN_FINDINGS
    assert await counts(db, pushed.digest) == (2, 3, 0)
    # Every ID of a finding is a row of its own (a search by DSA finds the image).
    assert {"DSA-5111-1", "DEBIAN-CVE-2018-25032", "GHSA-hrpp-h998-j3pp"} <= await id_rows(
        db, pushed.digest
    )
    found = await components(db, pushed.digest)
    layers = {key: (row.layer_index, row.layer_digest) for key, row in found.items()}
    assert layers == {
        ("deb", "base-files"): (0, pushed.layers[0]),
        ("deb", "zlib1g"): (0, pushed.layers[0]),
        ("pypi", "zipp"): (1, pushed.layers[1]),
        ("npm", "debug"): (1, pushed.layers[1]),
        ("npm", "ms"): (1, pushed.layers[1]),
        ("npm", "minimist"): (1, pushed.layers[1]),
        ("npm", "qs"): (1, pushed.layers[1]),
    }
    zlib = found[("deb", "zlib1g")]
    assert (zlib.source_name, zlib.source_version) == ("zlib", "1:1.2.13.dfsg-1")
    assert (zlib.ecosystem, zlib.match_name, zlib.match_problem) == ("Debian:12", "zlib", None)
    assert (found[("pypi", "zipp")].ecosystem, found[("npm", "qs")].ecosystem) == ("PyPI", "npm")
    row = await state(db, pushed.digest)
    assert (row.status, row.reason, row.os, row.vulndb_generation) == (
        "scanned",
        None,
        "debian 12",
        1,
    )
    detail = json.loads(row.os_detail)
    assert (detail["id"], detail["version_id"], detail["ecosystem"]) == (
        "debian",
        "12",
        "Debian:12",
    )
    assert detail["platform"] == {"os": "linux", "architecture": "amd64"}
    assert row.completed_at is not None
    # Each layer blob was streamed once.
    assert [storage.layer_reads(d) for d in pushed.layers] == [1, 1, 1]


async def test_a_layer_is_read_once_whatever_holds_it(app: InProcessApp, tmp_path: Path) -> None:
    async with app.client() as c:
        first = await ei.push_image(c, "admin/one", "v1", [ei.debian_base(), ei.application()])
        other = layer(ei.dist_info("zipp", "3.19.1"))
        second = await ei.push_image(c, "admin/two", "v1", [ei.debian_base(), other])
    await _database(app, tmp_path)
    ctx, storage = counting(app)
    await engine.scan(ctx, first.digest)
    assert storage.reads and all(n == 1 for n in storage.reads.values()), storage.reads
    before = dict(storage.reads)
    (again,) = await engine.scan(ctx, first.digest)  # a rescan: every layer from the cache
    assert storage.reads == before
    assert again.layers is not None and (again.layers.read, again.layers.cached) == (0, 2)
    (outcome,) = await engine.scan(ctx, second.digest)  # the shared base is not read again
    assert first.layers[0] == second.layers[0]
    assert storage.layer_reads(second.layers[0]) == 1
    assert storage.layer_reads(second.layers[1]) == 1
    assert outcome.layers is not None and (outcome.layers.read, outcome.layers.cached) == (1, 1)
    # zipp 3.19.1 is the fix: the second image has the base's zlib finding only.
    assert {f.component for f in await findings(ctx.db, second.digest)} == {"zlib1g"}


async def test_an_alpine_image_and_its_newer_branch(app: InProcessApp, tmp_path: Path) -> None:
    async with app.client() as c:
        plain = await ei.push_image(c, "admin/alpine", "v1", [ei.alpine_base()])
        repositories = "https://dl-cdn.alpinelinux.org/alpine/v3.19/main\n"
        newer = await ei.push_image(
            c, "admin/alpine", "v2", [ei.alpine_base(repositories=repositories)]
        )
    await _database(app, tmp_path)
    ctx, _ = counting(app)
    await engine.scan(ctx, plain.digest)
    assert await findings(ctx.db, plain.digest) == ALPINE_FINDINGS
    assert await counts(ctx.db, plain.digest) == (0, 0, 0)  # the records give no severity
    found = await components(ctx.db, plain.digest)
    assert {k: (r.ecosystem, r.match_name) for k, r in found.items()} == {
        ("apk", "busybox"): ("Alpine:v3.18", "busybox"),
        ("apk", "ssl_client"): ("Alpine:v3.18", "busybox"),
        ("apk", "libcrypto3"): ("Alpine:v3.18", "openssl"),
        ("apk", "libssl3"): ("Alpine:v3.18", "openssl"),
    }
    # The same packages installed from v3.19's repositories are matched in v3.19, which the
    # archive has no records for.
    await engine.scan(ctx, newer.digest)
    newer_found = await components(ctx.db, newer.digest)
    assert {r.ecosystem for r in newer_found.values()} == {"Alpine:v3.19"}
    assert await findings(ctx.db, newer.digest) == set()


async def test_scans_share_the_parsed_records_of_the_generation_in_force(
    app: InProcessApp, tmp_path: Path
) -> None:
    """A keeper's records serve the next scan against the same generation and are dropped for
    a new one; the findings are those of a scan that parses its records afresh."""
    async with app.client() as c:
        first = await ei.push_image(c, "admin/one", "v1", [ei.debian_base(), ei.application()])
        second = await ei.push_image(
            c, "admin/two", "v1", [ei.debian_base(), layer(ei.dist_info("zipp", "3.15.0"))]
        )
    await _database(app, tmp_path, "DEBIAN-CVE-2023-45853")
    ctx, _ = counting(app)
    keeper = RecordKeeper()
    await engine.scan(ctx, first.digest, records=keeper)
    kept = keeper.kept
    assert kept is not None and keeper.generation == 1
    parsed = kept.misses
    assert parsed == len(kept) > 0 and kept.hits == 0
    (outcome,) = await engine.scan(ctx, second.digest, records=keeper)
    assert outcome.status == "scanned", outcome
    assert keeper.kept is kept and kept.misses == parsed and kept.hits > 0  # nothing parsed again
    shared = await findings(ctx.db, second.digest)
    await engine.scan(ctx, second.digest)  # the records parsed afresh: the same result
    assert await findings(ctx.db, second.digest) == shared
    assert {f.vuln_id for f in shared} == {"CVE-2018-25032", "CVE-2024-5569"}

    await ei.import_records(ctx.db, tmp_path / "v2", ei.engine_records(), name="v2.zip")
    await engine.scan(ctx, first.digest, records=keeper)
    assert keeper.generation == 2 and keeper.kept is not kept  # the old parses are dropped
    again = keeper.kept
    assert again is not None and again.hits == 0 and again.misses > 0
    with_keeper = await findings(ctx.db, first.digest)
    await engine.scan(ctx, first.digest)
    assert await findings(ctx.db, first.digest) == with_keeper
    assert "CVE-2023-45853" in {f.vuln_id for f in with_keeper}  # the new generation's record


async def _corrupt(storage: StorageDriver, digest: str, data: bytes) -> None:
    await storage.put_bytes(blob_key(Digest.parse(digest)), data)


async def test_failed_scans_say_why_and_keep_no_stale_result(
    app: InProcessApp, tmp_path: Path
) -> None:
    ctx, _ = counting(app)
    db = ctx.db
    async with app.client() as c:
        good = await ei.push_image(c, "admin/fail", "good", [ei.debian_base(), ei.application()])
        gzip_junk = compress(b"\x00" * 600, "gzip")[:-8] + b"garbage!"
        corrupt = await ei.push_image(c, "admin/fail", "corrupt", [ei.debian_base(), gzip_junk])
        missing = await ei.push_image(c, "admin/fail", "missing", [layer(ei.dist_info("x", "1"))])
        bad_db = layer(
            File("etc/os-release", ei.DEBIAN_RELEASE),
            File("var/lib/dpkg/status", b"Package: broken\nStatus: install ok installed\n"),
        )
        broken = await ei.push_image(c, "admin/fail", "dpkg", [bad_db])
        truncated = compress(tar_bytes([ei.dist_info("y", "2")], end_marker=False), "gzip")
        cut = await ei.push_image(c, "admin/fail", "cut", [truncated])

    # No database yet: failed, the reason says so, the inventory is kept for the first import.
    (outcome,) = await engine.scan(ctx, good.digest)
    assert (outcome.status, outcome.reason) == ("failed", NO_DATABASE)
    row = await state(db, good.digest)
    assert (row.status, row.reason, (row.critical, row.major, row.minor)) == (
        "failed",
        NO_DATABASE,
        (0, 0, 0),
    )
    assert (await rows_of(db, good.digest))[:2] == (8, 0)  # 2 deb, 2 pypi, 4 npm

    await _database(app, tmp_path)
    await engine.scan(ctx, good.digest)
    assert (await state(db, good.digest)).status == "scanned"

    (outcome,) = await engine.scan(ctx, corrupt.digest)
    assert outcome.status == "failed" and outcome.reason is not None
    assert f"layer 2 of 2 ({corrupt.layers[1]})" in outcome.reason, outcome.reason
    assert "corrupt" in outcome.reason or "truncated" in outcome.reason, outcome.reason

    await ctx.storage.delete(blob_key(Digest.parse(missing.layers[0])))
    (outcome,) = await engine.scan(ctx, missing.digest)
    assert outcome.reason == f"the layer {missing.layers[0]} is missing from storage"

    (outcome,) = await engine.scan(ctx, broken.digest)
    assert outcome.reason is not None
    assert outcome.reason.startswith("the dpkg package database var/lib/dpkg/status cannot be read")

    (outcome,) = await engine.scan(ctx, cut.digest)
    assert outcome.reason is not None and "truncated" in outcome.reason, outcome.reason

    for digest in (corrupt.digest, missing.digest, broken.digest, cut.digest):
        row = await state(db, digest)
        assert row.status == "failed" and row.reason, digest
        assert await rows_of(db, digest) == (0, 0, 0), digest

    # A later failure replaces an earlier result: no stale counts next to "failed".
    assert await counts(db, good.digest) != (0, 0, 0)
    await _corrupt(ctx.storage, good.layers[1], b"")  # the cache still has it: still scanned
    await engine.scan(ctx, good.digest)
    assert (await state(db, good.digest)).status == "scanned"
    async with db.write() as conn:
        await conn.execute(sr.scan_layers.delete())
    (outcome,) = await engine.scan(ctx, good.digest)
    assert outcome.status == "failed"
    assert await rows_of(db, good.digest) == (0, 0, 0)
    assert await counts(db, good.digest) == (0, 0, 0)


async def test_what_is_no_image_is_not_scanned(app: InProcessApp, tmp_path: Path) -> None:
    ctx, storage = counting(app)
    await _database(app, tmp_path)
    async with app.client() as c:
        blob = b'{"spdxVersion": "SPDX-2.3"}'
        empty = b"{}"
        await push_blob(c, "admin/art", blob)
        await push_blob(c, "admin/art", empty)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": descriptor("application/vnd.oci.empty.v1+json", empty),
            "layers": [descriptor("application/spdx+json", blob)],
        }
        r = await c.put(
            "/v2/admin/art/manifests/sbom",
            content=json.dumps(doc).encode(),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        digest = r.headers["Docker-Content-Digest"]
    (outcome,) = await engine.scan(ctx, digest)
    assert outcome.status == "skipped"
    assert await state(ctx.db, digest) is None
    assert storage.reads == {}
    (outcome,) = await engine.scan(ctx, "sha256:" + "0" * 64)
    assert (outcome.status, outcome.reason) == ("failed", "the manifest is not in any repository")
    assert await state(ctx.db, "sha256:" + "0" * 64) is None


async def test_overrides_and_vex_statements_suppress(app: InProcessApp, tmp_path: Path) -> None:
    async with app.client() as c:
        pushed = await ei.push_image(c, "admin/supp", "v1", [ei.debian_base(), ei.application()])
    await _database(app, tmp_path, "DEBIAN-CVE-2023-45853")
    ctx, _ = counting(app)
    db = ctx.db
    await engine.scan(ctx, pushed.digest)
    assert await counts(db, pushed.digest) == (2, 3, 0)
    override = await layer_overrides.create(
        db,
        layer_digest=pushed.layers[1],
        component="qs",
        component_version="",
        vuln_id="GHSA-hrpp-h998-j3pp",  # an alias of the finding's CVE
        notes="qs is only used with trusted input",
        actor="admin",
    )
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://vex.example.invalid/app/1",
        "author": "Security team",
        "timestamp": "2025-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2020-7598"},
                "products": [{"@id": "pkg:npm/minimist@1.2.0"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        ],
    }
    await vex.import_document(db, json.dumps(document).encode(), "admin")
    # A new result (a rescan) applies both as it is written.
    await engine.scan(ctx, pushed.digest)
    found = {(f.component, f.vuln_id): f.suppressed for f in await findings(db, pushed.digest)}
    assert found == {
        ("zlib1g", "CVE-2018-25032"): None,
        ("zipp", "CVE-2024-5569"): None,
        ("setuptools", "CVE-2022-40897"): None,  # PYSEC-2022-43012: no severity given
        ("debug", "CVE-2017-16137"): None,
        ("minimist", "CVE-2020-7598"): "vex",
        ("qs", "CVE-2022-24999"): "override",
    }
    # Suppressed findings are kept, and counted nowhere.
    assert await counts(db, pushed.digest) == (1, 2, 0)
    async with db.read() as conn:
        f = sr.image_scan_findings
        by = {r[0] for r in await conn.execute(f.select().with_only_columns(f.c.suppressed_by))}
    assert f"override:{override.id}" in by


async def test_an_index_is_scanned_platform_by_platform(app: InProcessApp, tmp_path: Path) -> None:
    async with app.client() as c:
        amd = await ei.push_image(c, "admin/multi", "sha256-less", [ei.debian_base()])
        arm = await ei.push_image(c, "admin/multi", "arm", [ei.alpine_base()], architecture="arm64")
        index = await ei.push_index(
            c, "admin/multi", "v1", [(amd, "linux", "amd64"), (arm, "linux", "arm64")]
        )
    await _database(app, tmp_path)
    ctx, _ = counting(app)
    outcomes = await engine.scan(ctx, index)
    assert [(o.digest, o.status, o.platform) for o in outcomes] == [
        (amd.digest, "scanned", "linux/amd64"),
        (arm.digest, "scanned", "linux/arm64"),
    ]
    assert await state(ctx.db, index) is None  # results are the platforms' images
    assert await findings(ctx.db, arm.digest) == ALPINE_FINDINGS
    assert {f.component for f in await findings(ctx.db, amd.digest)} == {"zlib1g"}
    # Scanned since a moment before: not scanned twice.
    since = (await state(ctx.db, amd.digest)).completed_at
    again = await engine.scan(ctx, index, current_since=as_utc(since))
    assert [o.status for o in again] == ["current", "current"]
