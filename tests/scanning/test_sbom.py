"""SBOM export from stored scans: CycloneDX 1.5 checked by cyclonedx-python-lib's JSON schema
validator, SPDX 2.3 by spdx-tools' ``validate_full_spdx_document``; the image as the subject,
every stored component with its purl, licences and layer; a scan that is not finished refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from sqlalchemy import update

from moorage.db import scan_result_tables as st
from moorage.db.engine import Database
from moorage.scanning import sbom
from moorage.scanning.sbom_cyclonedx import licence_choice
from moorage.scanning.sbom_source import NotScanned, SbomTarget, load
from tests.scanning.scan_rows import (
    LAYER_APP,
    LAYER_BASE,
    ComponentRow,
    debian_app_image,
    dpkg,
    migrated,
    rpm,
    seed_scan,
)

DIGEST = "sha256:" + "c3" * 32
HOST = "registry.example.com:5000"
TARGET = SbomTarget("team/app", DIGEST, tag="1.0", registry_host=HOST)


@pytest.fixture()
async def db(tmp_path: Path, database_factory: Callable[[], str | None]) -> AsyncIterator[Database]:
    async with migrated(tmp_path, database_factory()) as database:
        yield database


def cyclonedx_valid(content: bytes) -> dict[str, Any]:
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(content.decode())
    assert errors is None, errors
    doc: dict[str, Any] = json.loads(content)
    return doc


def spdx_valid(content: bytes) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(content)
    document = JsonLikeDictParser().parse(raw)
    assert validate_full_spdx_document(document) == []
    return raw


def expected_purl(c: ComponentRow, distro: str, namespace: str) -> PackageURL:
    """What purl-spec says each fixture package is, from the row's own fields."""
    if c.type == "deb":
        qualifiers = {"arch": c.arch or "", "distro": distro}
        if c.source_name and c.source_name != c.name:
            upstream = c.source_name
            if c.source_version and c.source_version != c.version:
                upstream += f"@{c.source_version}"
            qualifiers["upstream"] = upstream
        return PackageURL("deb", namespace, c.name, c.version, qualifiers)
    return PackageURL(c.type, c.namespace, c.name, c.version)


async def test_cyclonedx_describes_the_image_and_every_component(db: Database) -> None:
    rows = debian_app_image()
    await seed_scan(db, DIGEST, rows, os="debian 12")
    result = await load(db, DIGEST)
    doc = cyclonedx_valid(sbom.render(sbom.Format.CYCLONEDX, result, TARGET).content)

    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.5")
    image = doc["metadata"]["component"]
    assert image["type"] == "container"
    assert (image["name"], image["version"]) == ("team/app", DIGEST)
    subject = PackageURL.from_string(image["purl"])
    assert (subject.type, subject.name, subject.version) == ("oci", "app", DIGEST)
    assert subject.qualifiers == {"repository_url": f"{HOST}/team/app", "tag": "1.0"}

    (os_part,) = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert (os_part["name"], os_part["version"]) == ("debian", "12")
    libraries = [c for c in doc["components"] if c["type"] == "library"]
    assert len(libraries) == len(rows)
    by_purl = {PackageURL.from_string(c["purl"]).to_string(): c for c in libraries}
    places = {
        (
            PackageURL.from_string(c["purl"]).to_string(),
            tuple(
                sorted(
                    (p["name"], p["value"])
                    for p in c["properties"]
                    if "layer" in p["name"] or p["name"].endswith(":path")
                )
            ),
        )
        for c in libraries
    }
    for row in rows:
        want = expected_purl(row, "debian-12", "debian").to_string()
        where = (
            ("moorage:layer:digest", row.layer_digest),
            ("moorage:layer:index", str(row.layer_index)),
            ("moorage:package:path", row.path),
        )
        assert (want, where) in places, (want, where)
    attr = by_purl["pkg:deb/debian/attr@1:2.5.1-4?arch=amd64&distro=debian-12"]
    assert attr["version"] == "1:2.5.1-4"
    assert {p["value"] for p in attr["properties"]} >= {LAYER_BASE, "0"}
    maven = by_purl["pkg:maven/com.example/multi-license@1.0.0"]
    assert maven["group"] == "com.example"
    assert "pkg:pypi/unidecode@0.4.1" in by_purl  # the library's PEP 503 normalisation
    assert {p["value"] for p in by_purl["pkg:npm/bootstrap@5.0.2"]["properties"]} >= {
        LAYER_APP,
        "1",
    }

    (deps,) = [d for d in doc["dependencies"] if d["ref"] == image["bom-ref"]]
    refs = {c["bom-ref"] for c in doc["components"]}
    assert set(deps["dependsOn"]) == refs


async def test_cyclonedx_licences_by_id_name_or_one_expression(db: Database) -> None:
    extra = [
        ComponentRow(
            "pypi",
            "dual",
            "1.0",
            "site-packages/dual/METADATA",
            licenses=("MIT OR Apache-2.0", "BSD-3-Clause"),
        ),
        ComponentRow(
            "pypi",
            "mixed",
            "1.0",
            "site-packages/mixed/METADATA",
            licenses=("MIT OR Apache-2.0", "BSD-style"),
        ),
        ComponentRow(
            "pypi", "unknown", "1.0", "site-packages/unknown/PKG-INFO", licenses=("UNKNOWN",)
        ),
    ]
    await seed_scan(db, DIGEST, [*debian_app_image(), *extra])
    doc = cyclonedx_valid(
        sbom.render(sbom.Format.CYCLONEDX, await load(db, DIGEST), TARGET).content
    )
    by_name = {c["name"]: c for c in doc["components"]}

    def licences(name: str) -> list[dict[str, str]]:
        found = [c for c in doc["components"] if c["name"] == name]
        every = [lic["license"] for c in found for lic in c.get("licenses", [])]
        return sorted(every, key=json.dumps)

    # Debian's short names GPL-1 and GPL-2 are not SPDX IDs; LGPL-2.1 is (deprecated).
    assert licences("libpam-runtime") == [{"id": "LGPL-2.1"}, {"name": "GPL-1"}, {"name": "GPL-2"}]
    assert licences("tv4") == [{"id": "MIT"}, {"name": "Public Domain"}]
    assert licences("test-unit") == [{"id": "Ruby"}, {"name": "BSDL"}, {"name": "PSFL"}]
    assert licences("distlib") == [  # two copies, two metadata files
        {"name": "Python Software Foundation License"},
        {"name": "Python license"},
    ]
    assert by_name["dual"]["licenses"] == [{"expression": "(MIT OR Apache-2.0) AND (BSD-3-Clause)"}]
    # One of two not SPDX: both by name, the expression's text kept as written.
    assert licences("mixed") == [{"name": "BSD-style"}, {"name": "MIT OR Apache-2.0"}]
    assert "licenses" not in by_name["unknown"]  # "UNKNOWN" claims nothing


def test_licence_choice_never_mixes_an_expression_with_licences() -> None:
    (one,) = licence_choice(["Apache-2.0 OR MIT"])
    assert isinstance(one, LicenseExpression)
    assert all(isinstance(x, DisjunctiveLicense) for x in licence_choice(["MIT", "GPL-2+"]))
    assert licence_choice([]) == []
    assert len(licence_choice(["MIT", "MIT"])) == 1


async def test_spdx_document_is_valid_and_describes_the_image(db: Database) -> None:
    rows = debian_app_image()
    await seed_scan(db, DIGEST, rows)
    doc = spdx_valid(sbom.render(sbom.Format.SPDX, await load(db, DIGEST), TARGET).content)

    assert doc["spdxVersion"] == "SPDX-2.3"
    packages = {p["SPDXID"]: p for p in doc["packages"]}
    image = packages["SPDXRef-Image"]
    assert (image["name"], image["versionInfo"], image["primaryPackagePurpose"]) == (
        "team/app",
        DIGEST,
        "CONTAINER",
    )
    relations = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in doc["relationships"]
    }
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image") in relations
    contained = {
        rel for src, kind, rel in relations if src == "SPDXRef-Image" and kind == "CONTAINS"
    }
    assert contained == set(packages) - {"SPDXRef-Image"}
    assert packages["SPDXRef-OperatingSystem"]["primaryPackagePurpose"] == "OPERATING_SYSTEM"

    purls = {}
    for p in doc["packages"]:
        (ref,) = p.get("externalRefs", [None])
        if ref:
            assert (ref["referenceCategory"], ref["referenceType"]) == ("PACKAGE_MANAGER", "purl")
            purls[ref["referenceLocator"]] = p
    for row in rows:
        assert expected_purl(row, "debian-12", "debian").to_string() in purls
    pam = purls["pkg:deb/debian/libpam-runtime@1.1.8-3.6?arch=all&distro=debian-12&upstream=pam"]
    declared = pam["licenseDeclared"]
    refs = {e["licenseId"]: e for e in doc["hasExtractedLicensingInfos"]}
    for text in ("GPL-1", "GPL-2"):  # Debian short names, not SPDX: declared as LicenseRef
        (ident,) = [i for i, e in refs.items() if e["extractedText"] == text]
        assert ident in declared
    tv4 = purls["pkg:npm/tv4@1.3.0"]
    assert "MIT" in tv4["licenseDeclared"] and "LicenseRef-Public-Domain" in tv4["licenseDeclared"]
    assert purls["pkg:pypi/setuptools@51.3.3"]["licenseDeclared"] == "NOASSERTION"
    notes = {a["comment"] for a in pam["annotations"]}
    assert f"moorage:layer:digest={LAYER_BASE}" in notes
    assert "moorage:package:path=var/lib/dpkg/status" in notes


async def test_os_packages_take_their_distribution(db: Database) -> None:
    ubuntu = dpkg("dpkg/ubuntu-18.04-trivy-valid")
    await seed_scan(db, DIGEST, ubuntu, os="ubuntu 18.04")
    fedora = "sha256:" + "d4" * 32
    await seed_scan(db, fedora, rpm("rpm/fedora32-scalibr-epoch-bdb"), os="fedora 32")

    doc = cyclonedx_valid(
        sbom.render(sbom.Format.CYCLONEDX, await load(db, DIGEST), TARGET).content
    )
    purls = {c["purl"] for c in doc["components"] if "purl" in c}
    assert len(purls) == len(ubuntu)
    for row in ubuntu:
        assert expected_purl(row, "ubuntu-18.04", "ubuntu").to_string() in purls
    spdx_valid(sbom.render(sbom.Format.SPDX, await load(db, DIGEST), TARGET).content)

    target = SbomTarget("team/fedora", fedora, registry_host=HOST)
    cdx = cyclonedx_valid(
        sbom.render(sbom.Format.CYCLONEDX, await load(db, fedora), target).content
    )
    (hello,) = [c for c in cdx["components"] if c["name"] == "hello"]
    assert PackageURL.from_string(hello["purl"]).to_dict() == {
        "type": "rpm",
        "namespace": "fedora",
        "name": "hello",
        "version": "0.0.1-rls",  # the epoch is a qualifier (purl-spec)
        "qualifiers": {"arch": "x86_64", "distro": "fedora-32", "epoch": "1"},
        "subpath": None,
    }
    spdx = spdx_valid(sbom.render(sbom.Format.SPDX, await load(db, fedora), target).content)
    (pkg,) = [p for p in spdx["packages"] if p["name"] == "hello"]
    assert pkg["licenseDeclared"] == "LicenseRef-GPL"  # RPM's "GPL" is no SPDX ID


async def test_same_scan_same_document_and_unique_references(db: Database) -> None:
    twice = [
        ComponentRow("npm", "lodash", "4.17.20", "app/node_modules/lodash/package.json"),
        ComponentRow(
            "npm",
            "lodash",
            "4.17.20",
            "app/vendor/node_modules/lodash/package.json",
            layer_index=1,
            layer_digest=LAYER_APP,
        ),
    ]
    await seed_scan(db, DIGEST, twice)
    result = await load(db, DIGEST)
    for fmt in sbom.Format:
        first = sbom.render(fmt, result, TARGET).content
        assert sbom.render(fmt, await load(db, DIGEST), TARGET).content == first
    cdx = cyclonedx_valid(sbom.render(sbom.Format.CYCLONEDX, result, TARGET).content)
    refs = [c["bom-ref"] for c in cdx["components"]]
    assert len(refs) == len(set(refs)) == 3  # the OS and both copies
    spdx = spdx_valid(sbom.render(sbom.Format.SPDX, result, TARGET).content)
    assert len({p["SPDXID"] for p in spdx["packages"]}) == 4

    async with db.write() as conn:  # a new scan: a new document
        later = result.completed_at + dt.timedelta(hours=1)
        await conn.execute(update(st.image_scans).values(completed_at=later))
    again = cyclonedx_valid(
        sbom.render(sbom.Format.CYCLONEDX, await load(db, DIGEST), TARGET).content
    )
    assert again["serialNumber"] != cdx["serialNumber"]


async def test_an_image_without_packages_still_makes_valid_documents(db: Database) -> None:
    await seed_scan(db, DIGEST, [], os=None)
    result = await load(db, DIGEST)
    cdx = cyclonedx_valid(sbom.render(sbom.Format.CYCLONEDX, result, TARGET).content)
    assert cdx.get("components", []) == []
    spdx = spdx_valid(sbom.render(sbom.Format.SPDX, result, TARGET).content)
    assert [p["SPDXID"] for p in spdx["packages"]] == ["SPDXRef-Image"]


@pytest.mark.parametrize(
    ("status", "reason", "said"),
    [
        ("queued", None, "queued"),
        ("scanning", None, "scanning"),
        ("failed", "layer sha256:ab is not a tar archive", "not a tar archive"),
    ],
)
async def test_no_sbom_without_a_finished_scan(
    db: Database, status: str, reason: str | None, said: str
) -> None:
    with pytest.raises(NotScanned) as never:
        await load(db, DIGEST)
    assert never.value.status == 409 and never.value.detail["status"] == "not scanned"
    await seed_scan(db, DIGEST, dpkg("dpkg/debian-12-scalibr-valid"), status=status, reason=reason)
    with pytest.raises(NotScanned) as refused:
        await sbom.export(db, sbom.Format.SPDX, TARGET)
    assert said in refused.value.message
    assert refused.value.detail["status"] == status


def test_download_names_are_safe() -> None:
    doc = sbom.Sbom(
        sbom.Format.SPDX,
        SbomTarget("team/app", DIGEST, tag='x";\r\nEvil'),
        b"",
        dt.datetime.now(dt.UTC),
    )
    assert doc.filename == "team_app_x____Evil.spdx.json"
    by_digest = sbom.Sbom(
        sbom.Format.CYCLONEDX, SbomTarget("a/b", DIGEST), b"", dt.datetime.now(dt.UTC)
    )
    assert by_digest.filename == f"a_b_{'c3' * 6}.cdx.json"
