"""SBOM export, SBOM referrers and OpenVEX import through /api/v0 in process: who may do what
(pull to export, push to store a referrer, administrators for VEX; a hidden repository answers
as a missing one), the downloads validated by the libraries' own validators, the referrer listed
by /v2's referrers API, index platforms, and bad input refused in DTR's envelope."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from sqlalchemy import select

from moorage.db import scan_result_tables as st
from moorage.db.engine import Database
from tests.http.ui import content
from tests.inprocess import InProcessApp
from tests.scanning.scan_rows import (
    ComponentRow,
    FindingRow,
    Seeded,
    debian_app_image,
    seed_scan,
)

SBOM = "/api/v0/imagescan/sbom"
VEX = "/api/v0/imagescan/vex"
CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
LODASH_CVE = "CVE-2021-23337"
COMPONENTS = [
    *debian_app_image(),
    ComponentRow("npm", "lodash", "4.17.20", "app/node_modules/lodash/package.json", layer_index=1),
]
FINDINGS = [FindingRow("lodash", LODASH_CVE, ("GHSA-35jh-r3h4-6jhm",), "major")]


@contextlib.asynccontextmanager
async def database(app: InProcessApp) -> AsyncIterator[Database]:
    db = Database(app.settings.database_url)
    try:
        yield db
    finally:
        await db.close()


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:500])
    (error,) = r.json()["errors"]
    assert error["code"] == code, error
    found: dict[str, Any] = error
    return found


@dataclass
class World:
    alice: tuple[str, str]
    bob: tuple[str, str]
    app: str  # digest of alice/app:1.0, scanned
    unscanned: str  # alice/app:next
    scan: Seeded


async def build(inproc: InProcessApp) -> World:
    async with inproc.client() as admin:
        alice = await content.user(admin, "alice")
        bob = await content.user(admin, "bob")
        await content.repository(admin, "alice", "app", "private", auth=alice)
    async with inproc.client(auth=alice) as c:
        app = await content.image(c, "alice/app", "1.0")
        unscanned = await content.image(c, "alice/app", "next")
    async with database(inproc) as db:
        scan = await seed_scan(db, app, COMPONENTS, FINDINGS, os="debian 12")
    return World(alice, bob, app, unscanned, scan)


async def test_export_cyclonedx_and_spdx_downloads(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        cdx = await c.get(f"{SBOM}/alice/app/1.0")
        spdx = await c.get(f"{SBOM}/alice/app/{w.app}", params={"format": "spdx"})
    assert cdx.status_code == 200, cdx.text
    assert cdx.headers["content-type"].startswith(CYCLONEDX)
    assert cdx.headers["content-disposition"] == 'attachment; filename="alice_app_1.0.cdx.json"'
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(cdx.text) is None
    doc = cdx.json()
    image = doc["metadata"]["component"]
    subject = PackageURL.from_string(image["purl"])
    assert (image["name"], image["version"]) == ("alice/app", w.app)
    assert subject.qualifiers == {"repository_url": "moorage.test/alice/app", "tag": "1.0"}
    assert len([c for c in doc["components"] if c["type"] == "library"]) == len(COMPONENTS)

    assert spdx.status_code == 200, spdx.text
    assert spdx.headers["content-type"].startswith(SPDX)
    label = w.app.partition(":")[2][:12]
    assert (
        spdx.headers["content-disposition"] == f'attachment; filename="alice_app_{label}.spdx.json"'
    )
    assert validate_full_spdx_document(JsonLikeDictParser().parse(spdx.json())) == []
    assert spdx.json()["name"] == f"alice/app@{w.app}"


async def test_who_may_export_and_what_is_refused(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.bob) as bob, inproc.client(auth=None) as anonymous:
        for client in (bob, anonymous):
            hidden = await client.get(f"{SBOM}/alice/app/1.0")
            missing = await client.get(f"{SBOM}/alice/nothere/1.0")
            error_of(hidden, 404, "NO_SUCH_REPOSITORY")
            assert hidden.text.replace("app", "X") == missing.text.replace("nothere", "X")
    async with inproc.client(auth=w.alice) as c:
        refused = error_of(await c.get(f"{SBOM}/alice/app/next"), 409, "NOT_SCANNED")
        assert refused["detail"] == {"digest": w.unscanned, "status": "not scanned"}
        error_of(await c.get(f"{SBOM}/alice/app/nope"), 404, "NO_SUCH_TAG")
        error_of(
            await c.get(f"{SBOM}/alice/app/1.0", params={"format": "xml"}),
            400,
            "INVALID_PARAMETERS",
        )
    async with inproc.client() as admin:  # public: anyone may pull, hence export
        await content.ok(
            await admin.patch("/api/v0/repositories/alice/app", json={"visibility": "public"})
        )
    async with inproc.client(auth=None) as anonymous:
        assert (await anonymous.get(f"{SBOM}/alice/app/1.0")).status_code == 200


async def test_an_sbom_stored_as_a_referrer_is_listed_by_the_registry(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client() as admin:
        await content.ok(
            await admin.patch("/api/v0/repositories/alice/app", json={"visibility": "public"})
        )
    async with inproc.client(auth=w.bob) as bob, inproc.client(auth=None) as anonymous:
        error_of(await bob.post(f"{SBOM}/alice/app/1.0/referrer"), 403, "NOT_AUTHORIZED")
        error_of(await anonymous.post(f"{SBOM}/alice/app/1.0/referrer"), 401, "NOT_AUTHENTICATED")
    async with inproc.client(auth=w.alice) as c:
        r = await c.post(f"{SBOM}/alice/app/1.0/referrer")
        assert r.status_code == 201, r.text
        stored = r.json()
        assert stored["subject"] == w.app and stored["artifactType"] == CYCLONEDX
        assert stored["created"] is True
        again = (await c.post(f"{SBOM}/alice/app/1.0/referrer")).json()
        assert again["digest"] == stored["digest"] and again["created"] is False
        spdx = (await c.post(f"{SBOM}/alice/app/1.0/referrer", params={"format": "spdx"})).json()

        listing = await c.get(f"/v2/alice/app/referrers/{w.app}")
        assert listing.status_code == 200, listing.text
        found = {m["digest"]: m for m in listing.json()["manifests"]}
        assert set(found) == {stored["digest"], spdx["digest"]}
        assert found[spdx["digest"]]["artifactType"] == SPDX
        only = await c.get(f"/v2/alice/app/referrers/{w.app}", params={"artifactType": SPDX})
        assert [m["digest"] for m in only.json()["manifests"]] == [spdx["digest"]]

        manifest = (await c.get(f"/v2/alice/app/manifests/{stored['digest']}")).json()
        assert manifest["subject"]["digest"] == w.app
        assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        (layer,) = manifest["layers"]
        blob = await c.get(f"/v2/alice/app/blobs/{layer['digest']}")
        export = await c.get(f"{SBOM}/alice/app/1.0")
        assert blob.content == export.content  # the same document, byte for byte
        assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(blob.text) is None

    async with inproc.client() as admin:
        await content.ok(await admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": True}))
    async with inproc.client(auth=w.alice) as c:
        error_of(await c.post(f"{SBOM}/alice/app/1.0/referrer"), 405, "UNSUPPORTED")
    async with inproc.client() as admin:
        await content.ok(
            await admin.post("/api/v0/meta/settings", json={"readOnlyRegistry": False})
        )


async def test_an_index_names_its_platform(inproc: InProcessApp) -> None:
    w = await build(inproc)
    async with inproc.client(auth=w.alice) as c:
        arm64 = await content.image(c, "alice/app", "arm", arch="arm64")
        platforms = [(w.app, "amd64"), (arm64, "arm64")]  # amd64: the scanned image
        index = await content.index(c, "alice/app", "multi", platforms)
        several = error_of(await c.get(f"{SBOM}/alice/app/multi"), 400, "INVALID_INPUT")
        assert several["detail"] == {"platforms": ["linux/amd64", "linux/arm64"]}
        r = await c.get(f"{SBOM}/alice/app/multi", params={"os": "linux", "arch": "amd64"})
        assert r.status_code == 200, r.text
        assert r.json()["metadata"]["component"]["version"] == w.app
        error_of(
            await c.get(f"{SBOM}/alice/app/multi", params={"arch": "arm64"}), 409, "NOT_SCANNED"
        )

    # A VEX statement on the index covers its platforms' images.
    statement = {
        "vulnerability": {"name": LODASH_CVE},
        "products": [
            {"@id": f"pkg:oci/app@{index}", "subcomponents": [{"@id": "pkg:npm/lodash@4.17.20"}]}
        ],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    async with inproc.client() as admin:
        r = await admin.post(
            VEX, content=vex_document("https://vex.example.com/multi", [statement])
        )
        assert r.status_code == 201, r.text
        assert r.json()["findingsSuppressed"] == 1
    async with database(inproc) as db, db.read() as conn:
        f = st.image_scan_findings.c
        by = (
            await conn.execute(select(f.suppressed_by).where(f.manifest_digest == w.app))
        ).scalar_one()
        assert by is not None and by.startswith("vex:")
        s = st.image_scans.c
        assert (
            await conn.execute(select(s.major).where(s.manifest_digest == w.app))
        ).scalar_one() == 0


def vex_document(doc_id: str, statements: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": doc_id,
            "author": "Alice's security team",
            "timestamp": "2026-11-30T10:00:00Z",
            "version": 1,
            "statements": statements,
        }
    ).encode()


async def test_vex_documents_are_for_administrators(inproc: InProcessApp) -> None:
    w = await build(inproc)
    doc_id = "https://vex.example.com/app/lodash"
    raw = vex_document(
        doc_id,
        [
            {
                "vulnerability": {"name": LODASH_CVE},
                "products": [{"@id": "pkg:npm/lodash@4.17.20"}],
                "status": "fixed",
            }
        ],
    )
    async with inproc.client(auth=w.alice) as alice, inproc.client(auth=None) as anonymous:
        error_of(await alice.post(VEX, content=raw), 403, "NOT_AUTHORIZED")
        error_of(await alice.get(VEX), 403, "NOT_AUTHORIZED")
        error_of(await alice.delete(VEX, params={"id": doc_id}), 403, "NOT_AUTHORIZED")
        error_of(await anonymous.post(VEX, content=raw), 401, "NOT_AUTHENTICATED")
    async with inproc.client() as admin:
        bad = error_of(await admin.post(VEX, content=b'{"@context": "x"}'), 400, "VEX_INVALID")
        assert bad["detail"]["problems"]
        huge = b'{"pad": "' + b"x" * (inproc.settings.max_request_body + 1) + b'"}'
        error_of(await admin.post(VEX, content=huge), 413, "REQUEST_TOO_LARGE")
        assert (await admin.get(VEX)).json() == []

        r = await admin.post(VEX, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 201, r.text
        assert r.json() == {
            "id": doc_id,
            "author": "Alice's security team",
            "version": 1,
            "statements": 1,
            "replaced": 0,
            "imagesEvaluated": 1,
            "findingsSuppressed": 1,
        }
        (listed,) = (await admin.get(VEX)).json()
        assert listed["id"] == doc_id and listed["importedBy"] == "admin"
        assert listed["importedAt"].endswith("Z")
        (one,) = listed["statements"]
        assert (one["vulnerability"], one["product"], one["status"]) == (
            LODASH_CVE,
            "pkg:npm/lodash@4.17.20",
            "fixed",
        )
        assert (await admin.get(VEX, params={"id": doc_id})).json() == [listed]
        error_of(await admin.get(VEX, params={"id": "urn:nothing"}), 404, "NO_SUCH_VEX_DOCUMENT")

        assert (await admin.delete(VEX, params={"id": doc_id})).status_code == 204
        error_of(await admin.delete(VEX, params={"id": doc_id}), 404, "NO_SUCH_VEX_DOCUMENT")
        assert (await admin.get(VEX)).json() == []
    async with database(inproc) as db, db.read() as conn:
        s = st.image_scans.c
        assert (
            await conn.execute(select(s.major).where(s.manifest_digest == w.app))
        ).scalar_one() == 1
