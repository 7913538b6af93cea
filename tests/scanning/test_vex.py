"""OpenVEX import: statements stored per vulnerability and product, the findings they name
suppressed (``not_affected``, ``fixed``) or kept (``affected`` wins a conflict), counts
recomputed, documents replaced and deleted; malformed documents refused with nothing written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from moorage.db import scan_result_tables as st
from moorage.db.engine import Database
from moorage.scanning import purls, vex
from moorage.scanning.vex_document import MAX_ROWS, VexInvalid
from tests.scanning.scan_rows import (
    LAYER_APP,
    ComponentRow,
    FindingRow,
    Seeded,
    migrated,
    seed_scan,
)

IMAGE_A = "sha256:" + "0a" * 32
IMAGE_B = "sha256:" + "0b" * 32
CONTEXT = "https://openvex.dev/ns/v0.2.0"
LODASH_CVE, LODASH_GHSA = "CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"
OPENSSL_CVE = "CVE-2023-5678"
ZLIB_CVE = "CVE-2023-45853"

COMPONENTS = [
    ComponentRow(
        "deb",
        "libssl3",
        "3.0.11-1~deb12u2",
        "var/lib/dpkg/status",
        source_name="openssl",
        arch="amd64",
    ),
    ComponentRow(
        "deb", "zlib1g", "1:1.2.13.dfsg-1", "var/lib/dpkg/status", source_name="zlib", arch="amd64"
    ),
    ComponentRow(
        "npm",
        "lodash",
        "4.17.20",
        "app/node_modules/lodash/package.json",
        layer_index=1,
        layer_digest=LAYER_APP,
    ),
]
FINDINGS = [
    FindingRow("libssl3", OPENSSL_CVE, severity="critical"),
    FindingRow("zlib1g", ZLIB_CVE, severity="minor"),
    FindingRow("lodash", LODASH_CVE, (LODASH_GHSA,), severity="major"),
]


@pytest.fixture()
async def db(tmp_path: Path, database_factory: Callable[[], str | None]) -> AsyncIterator[Database]:
    async with migrated(tmp_path, database_factory()) as database:
        yield database


@pytest.fixture()
async def images(db: Database) -> dict[str, Seeded]:
    return {
        digest: await seed_scan(db, digest, COMPONENTS, FINDINGS, os="debian 12")
        for digest in (IMAGE_A, IMAGE_B)
    }


def oci(digest: str, name: str = "app") -> str:
    where = f"registry.example.com/team/{name}"
    return f"pkg:oci/{name}@{digest.replace(':', '%3A')}?repository_url={where}"


def document(doc_id: str, statements: list[dict[str, Any]], **fields: Any) -> bytes:
    doc = {
        "@context": CONTEXT,
        "@id": doc_id,
        "author": "Security Team <security@example.com>",
        "timestamp": "2026-11-30T10:00:00Z",
        "version": 1,
        "statements": statements,
        **fields,
    }
    return json.dumps(doc).encode()


def statement(
    vuln: str, products: list[dict[str, Any]], status: str, **more: Any
) -> dict[str, Any]:
    return {"vulnerability": {"name": vuln}, "products": products, "status": status, **more}


async def suppression(db: Database, seeded: Seeded, component: str, vuln: str) -> str | None:
    f = st.image_scan_findings.c
    async with db.read() as conn:
        value: str | None = (
            await conn.execute(
                select(f.suppressed_by).where(f.pk == seeded.findings[(component, vuln)])
            )
        ).scalar_one()
    return value


async def counts(db: Database, digest: str) -> tuple[int, int, int]:
    s = st.image_scans.c
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(s.critical, s.major, s.minor).where(s.manifest_digest == digest)
            )
        ).one()
    return (row.critical, row.major, row.minor)


async def statement_rows(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(select(func.count()).select_from(st.scan_vex_statements))
            ).scalar_one()
        )


async def test_an_image_statement_with_a_subcomponent_suppresses_that_finding_only(
    db: Database, images: dict[str, Seeded]
) -> None:
    raw = document(
        "https://vex.example.com/app/2026-11-30",
        [
            statement(
                LODASH_CVE,
                [{"@id": oci(IMAGE_A), "subcomponents": [{"@id": "pkg:npm/lodash@4.17.20"}]}],
                "not_affected",
                justification="vulnerable_code_not_in_execute_path",
                impact_statement="template() is never called with user input",
            )
        ],
    )
    assert await counts(db, IMAGE_A) == (1, 1, 1)
    outcome = await vex.import_document(db, raw, "admin")
    assert (len(outcome.document.rows), outcome.replaced) == (1, 0)
    assert outcome.applied.suppressed == 1

    by = await suppression(db, images[IMAGE_A], "lodash", LODASH_CVE)
    assert by is not None and by.startswith("vex:")
    assert await suppression(db, images[IMAGE_B], "lodash", LODASH_CVE) is None
    assert await suppression(db, images[IMAGE_A], "libssl3", OPENSSL_CVE) is None
    assert await counts(db, IMAGE_A) == (1, 0, 1)
    assert await counts(db, IMAGE_B) == (1, 1, 1)

    async with db.read() as conn:
        (reason,) = (await vex.reasons(conn, [by, "override:abc", "vex:nope"])).values()
    assert reason.document_id == "https://vex.example.com/app/2026-11-30"
    assert reason.justification == "vulnerable_code_not_in_execute_path"
    assert reason.impact_statement == "template() is never called with user input"
    assert reason.subcomponent == "pkg:npm/lodash@4.17.20"
    assert reason.created_by == "admin"


async def test_a_package_statement_applies_in_every_image_by_any_id(
    db: Database, images: dict[str, Seeded]
) -> None:
    # The statement names the GHSA; the findings' primary ID is the CVE (aliases merged).
    raw = document(
        "urn:uuid:7f1c2d3e-0000-4000-8000-000000000001",
        [statement(LODASH_GHSA, [{"identifiers": {"purl": "pkg:npm/lodash@4.17.20"}}], "fixed")],
    )
    outcome = await vex.import_document(db, raw, "admin")
    assert outcome.applied.images == 2 and outcome.applied.suppressed == 2
    for digest in (IMAGE_A, IMAGE_B):
        assert await suppression(db, images[digest], "lodash", LODASH_CVE) is not None
        assert await counts(db, digest) == (1, 0, 1)


@pytest.mark.parametrize(
    ("purl", "applies"),
    [
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", True),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2", True),  # qualifiers it leaves out: open
        ("pkg:deb/debian/libssl3", True),  # no version: every version
        ("pkg:deb/debian/libssl3@3.0.9-1", False),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=arm64", False),
        ("pkg:deb/ubuntu/libssl3@3.0.11-1~deb12u2", False),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-11", False),
        ("pkg:rpm/debian/libssl3@3.0.11-1~deb12u2", False),
    ],
)
async def test_os_package_purls_match_by_distribution_and_version(
    db: Database, images: dict[str, Seeded], purl: str, applies: bool
) -> None:
    raw = document(
        "https://vex.example.com/openssl",
        [
            statement(
                OPENSSL_CVE,
                [{"@id": purl}],
                "not_affected",
                justification="vulnerable_code_not_present",
            )
        ],
    )
    await vex.import_document(db, raw, "admin")
    found = await suppression(db, images[IMAGE_A], "libssl3", OPENSSL_CVE)
    assert (found is not None) is applies
    assert await counts(db, IMAGE_A) == ((0 if applies else 1), 1, 1)


async def test_a_package_product_with_subcomponents_needs_the_product_in_the_image(
    db: Database, images: dict[str, Seeded]
) -> None:
    other = "sha256:" + "0e" * 32
    lodash_only = await seed_scan(db, other, COMPONENTS[2:], FINDINGS[2:])
    raw = document(
        "https://vex.example.com/bundle",
        [
            statement(
                LODASH_CVE,
                [
                    {
                        "@id": "pkg:deb/debian/libssl3",
                        "subcomponents": [{"@id": "pkg:npm/lodash@4.17.20"}],
                    },
                    {
                        "@id": "pkg:gem/rails@7.1.0",
                        "subcomponents": [{"identifiers": {"purl": "pkg:npm/lodash"}}],
                    },
                ],
                "not_affected",
                justification="vulnerable_code_cannot_be_controlled_by_adversary",
            )
        ],
    )
    outcome = await vex.import_document(db, raw, "admin")
    assert len(outcome.document.rows) == 2
    for digest in (IMAGE_A, IMAGE_B):  # they hold libssl3 (the product) and lodash
        assert await suppression(db, images[digest], "lodash", LODASH_CVE) is not None
    assert await suppression(db, lodash_only, "lodash", LODASH_CVE) is None  # no product here
    assert await counts(db, other) == (0, 1, 0)


async def test_affected_wins_and_deleting_it_lets_the_suppression_back(
    db: Database, images: dict[str, Seeded]
) -> None:
    vendor = document(
        "https://vendor.example.com/vex/1",
        [
            statement(
                ZLIB_CVE,
                [{"@id": "pkg:deb/debian/zlib1g"}],
                "not_affected",
                justification="inline_mitigations_already_exist",
            )
        ],
    )
    ours = document(
        "https://vex.example.com/zlib-we-disagree",
        [
            statement(
                ZLIB_CVE,
                [{"@id": oci(IMAGE_B)}],
                "affected",
                action_statement="upgrade zlib1g to 1:1.2.13.dfsg-1+deb12u1",
            )
        ],
    )
    await vex.import_document(db, vendor, "admin")
    assert await counts(db, IMAGE_B) == (1, 1, 0)
    await vex.import_document(db, ours, "admin")
    assert await suppression(db, images[IMAGE_B], "zlib1g", ZLIB_CVE) is None
    assert await suppression(db, images[IMAGE_A], "zlib1g", ZLIB_CVE) is not None
    assert await counts(db, IMAGE_B) == (1, 1, 1)

    await vex.delete_document(db, "https://vex.example.com/zlib-we-disagree")
    assert await suppression(db, images[IMAGE_B], "zlib1g", ZLIB_CVE) is not None
    assert await counts(db, IMAGE_B) == (1, 1, 0)

    await vex.delete_document(db, "https://vendor.example.com/vex/1")
    assert await statement_rows(db) == 0
    for digest in (IMAGE_A, IMAGE_B):
        assert await suppression(db, images[digest], "zlib1g", ZLIB_CVE) is None
        assert await counts(db, digest) == (1, 1, 1)
    with pytest.raises(vex.NoSuchVexDocument):
        await vex.delete_document(db, "https://vendor.example.com/vex/1")


async def test_a_new_version_replaces_the_document(db: Database, images: dict[str, Seeded]) -> None:
    doc_id = "https://vex.example.com/app"
    first = document(
        doc_id,
        [
            statement(OPENSSL_CVE, [{"@id": oci(IMAGE_A)}], "fixed"),
            statement(ZLIB_CVE, [{"@id": oci(IMAGE_A)}], "under_investigation"),
        ],
    )
    await vex.import_document(db, first, "admin")
    assert await counts(db, IMAGE_A) == (0, 1, 1)  # under_investigation changes nothing
    second = document(
        doc_id,
        [
            statement(
                ZLIB_CVE,
                [{"@id": oci(IMAGE_A)}],
                "not_affected",
                justification="component_not_present",
            )
        ],
        version=2,
    )
    outcome = await vex.import_document(db, second, "admin")
    assert outcome.replaced == 2
    assert await statement_rows(db) == 1
    assert await counts(db, IMAGE_A) == (1, 1, 0)
    assert await suppression(db, images[IMAGE_A], "libssl3", OPENSSL_CVE) is None


async def test_overrides_keep_their_suppression_and_new_results_are_covered(
    db: Database, images: dict[str, Seeded]
) -> None:
    overridden = "sha256:" + "0c" * 32
    await seed_scan(
        db,
        overridden,
        COMPONENTS,
        [FindingRow("lodash", LODASH_CVE, (LODASH_GHSA,), "major", suppressed_by="override:o-1")],
    )
    raw = document(
        "https://vex.example.com/lodash",
        [statement(LODASH_CVE, [{"@id": "pkg:npm/lodash"}], "fixed")],
    )
    await vex.import_document(db, raw, "admin")
    f = st.image_scan_findings.c
    async with db.read() as conn:
        kept = (
            await conn.execute(select(f.suppressed_by).where(f.manifest_digest == overridden))
        ).scalar_one()
    assert kept == "override:o-1"

    # The engine writes a new result, then applies VEX to it in the same transaction.
    fresh = "sha256:" + "0d" * 32
    seeded = await seed_scan(db, fresh, COMPONENTS, FINDINGS)
    assert await counts(db, fresh) == (1, 1, 1)
    async with db.write() as conn:
        applied = await vex.apply(conn, [fresh])
    assert (applied.images, applied.suppressed) == (1, 1)
    assert await suppression(db, seeded, "lodash", LODASH_CVE) is not None
    assert await counts(db, fresh) == (1, 0, 1)


def _bad_documents() -> list[tuple[str, bytes, str]]:
    good = statement(OPENSSL_CVE, [{"@id": oci(IMAGE_A)}], "fixed")
    return [
        ("not json", b'{"@context": ', "not JSON"),
        ("a list", b"[]", "JSON object"),
        (
            "old context",
            document("x", [good], **{"@context": "https://openvex.dev/ns/v0.0.1"}),
            "@context",
        ),
        (
            "no author",
            json.dumps(
                {
                    "@context": CONTEXT,
                    "@id": "x",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "version": 1,
                    "statements": [good],
                }
            ).encode(),
            "author",
        ),
        ("version 0", document("x", [good], version=0), "version"),
        ("no statements", document("x", []), "statements"),
        ("bad timestamp", document("x", [good], timestamp="yesterday"), "timestamp"),
        ("unknown status", document("x", [{**good, "status": "wontfix"}]), "status"),
        (
            "not_affected without why",
            document("x", [{**good, "status": "not_affected"}]),
            "justification",
        ),
        (
            "unknown justification",
            document("x", [{**good, "status": "not_affected", "justification": "trust me"}]),
            "justification",
        ),
        (
            "affected without action",
            document("x", [{**good, "status": "affected"}]),
            "action_statement",
        ),
        (
            "0.0.1 vulnerability string",
            document("x", [{**good, "vulnerability": OPENSSL_CVE}]),
            "vulnerability",
        ),
        (
            "blank vulnerability",
            document("x", [{**good, "vulnerability": {"name": "  "}}]),
            "vulnerability",
        ),
        ("no products", document("x", [{**good, "products": []}]), "product"),
        (
            "cpe only",
            document(
                "x",
                [
                    {
                        **good,
                        "products": [
                            {
                                "identifiers": {
                                    "cpe23": "cpe:2.3:a:openssl:openssl:3.0.11:*:*:*:*:*:*:*"
                                }
                            }
                        ],
                    }
                ],
            ),
            "statements[0].products[0]",
        ),
        (
            "not a purl",
            document("x", [{**good, "products": [{"@id": "pkg:"}]}]),
            "statements[0].products[0]",
        ),
        (
            "image by tag",
            document("x", [{**good, "products": [{"@id": "pkg:oci/app@latest"}]}]),
            "digest",
        ),
        (
            "image as subcomponent",
            document(
                "x",
                [
                    {
                        **good,
                        "products": [
                            {"@id": oci(IMAGE_A), "subcomponents": [{"@id": oci(IMAGE_B)}]}
                        ],
                    }
                ],
            ),
            "subcomponents[0]",
        ),
        (
            "too many",
            document(
                "x",
                [
                    {
                        **good,
                        "products": [{"@id": f"pkg:npm/p{i}@1.0.0"} for i in range(MAX_ROWS + 1)],
                    }
                ],
            ),
            str(MAX_ROWS),
        ),
    ]


@pytest.mark.parametrize(
    ("case", "raw", "said"), _bad_documents(), ids=[c[0] for c in _bad_documents()]
)
async def test_malformed_documents_write_nothing(
    db: Database, images: dict[str, Seeded], case: str, raw: bytes, said: str
) -> None:
    with pytest.raises(VexInvalid) as refused:
        await vex.import_document(db, raw, "admin")
    assert refused.value.status == 400 and refused.value.code == "VEX_INVALID"
    assert said in refused.value.message, refused.value.message
    assert await statement_rows(db) == 0
    assert await counts(db, IMAGE_A) == (1, 1, 1)


def test_purl_matching_rules() -> None:
    component = purls.parse("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar")
    assert purls.matches(purls.parse("pkg:maven/org.apache.logging.log4j/log4j-core"), component)
    assert not purls.matches(purls.parse("pkg:maven/org.example/log4j-core@2.14.1"), component)
    assert not purls.matches(
        purls.parse("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=pom"), component
    )
    pypi = purls.component_purl(purls.ComponentIdentity("pypi", "Jinja2", "3.1.2"), purls.ImageOs())
    assert purls.matches(purls.parse("pkg:pypi/jinja2@3.1.2"), pypi)
