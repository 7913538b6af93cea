"""apk: the shared fixtures through a real layer, against osv-scalibr's and trivy's assertions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from moorage.scanning.inventory.apk import parse_installed, split_licenses
from moorage.scanning.inventory.model import Package
from tests.scanning.inventory.layer_tars import cases, expected, fixture_entries, image, layer

CASES = cases("apk")
# trivy translates old apk licence names to SPDX ids; this inventory keeps what the package says.
TRIVY_SPDX = {
    "GPL2": "GPL-2.0-only",
    "GPL": "GPL-2.0-or-later",
    "GPL2+": "GPL-2.0-or-later",
    "zlib": "Zlib",
    "openssl": "OpenSSL",
    "BSD": "BSD-3-Clause",
}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_fixture_matches_its_oracle(case: Path) -> None:
    want = expected(case)
    inventory = image(layer(*fixture_entries(case)))
    assert inventory.unreadable == {}
    got = {p.package.name: p.package for p in inventory.packages}
    assert set(got) == {p["name"] for p in want["packages"]}
    for entry in want["packages"]:
        package = got[entry["name"]]
        metadata = dict(package.metadata)
        assert (package.type, package.version, package.arch) == ("apk", entry["version"], "x86_64")
        assert package.source_name == (entry.get("origin") or package.name)
        assert package.source_version == entry.get("origin_version", package.version)
        assert (package.maintainer or "") == entry["maintainer"]
        assert package.path == "lib/apk/db/installed"
        if "license" in entry:  # osv-scalibr: the expression as written
            assert metadata["license"] == entry["license"]
        if "licenses" in entry:  # trivy: each licence, translated to SPDX
            assert [TRIVY_SPDX.get(x, x) for x in package.licenses] == entry["licenses"]
        if entry.get("commit"):
            assert metadata["commit"] == entry["commit"]
        if "digest" in entry:
            assert metadata["checksum"] == entry["digest"]
        if "depends_on" in entry:
            assert list(package.dependencies) == entry["depends_on"]
    if "os_release" in want:
        assert inventory.os is not None
        assert (inventory.os.id, inventory.os.version_id) == (
            want["os_release"]["ID"],
            want["os_release"]["VERSION_ID"],
        )


def parse(text: str) -> list[Package]:
    return parse_installed(io.BytesIO(text.encode()), "lib/apk/db/installed")


def test_records_without_name_or_version_are_skipped() -> None:
    got = parse("P:only-name\n\nV:1.0\n\nP:ok\nV:1.0-r0\nA:aarch64\n")
    assert [(p.name, p.version, p.arch) for p in got] == [("ok", "1.0-r0", "aarch64")]


def test_a_file_that_is_not_an_apk_database_is_refused() -> None:
    with pytest.raises(ValueError, match="not an apk installed database"):
        parse("P:musl\nV:1.2\nthis line is not a field\n")
    assert parse("") == []


@pytest.mark.parametrize(
    ("expression", "licences"),
    [
        ("MIT", ("MIT",)),
        ("MIT BSD GPL2+", ("MIT", "BSD", "GPL2+")),
        ("( Apache-2.0 OR MIT ) AND MPL-2.0", ("Apache-2.0", "MIT", "MPL-2.0")),
        ("(MIT OR Apache-2.0) AND MIT", ("MIT", "Apache-2.0")),
        ("GPL-2.0-or-later WITH Linux-syscall-note", ("GPL-2.0-or-later WITH Linux-syscall-note",)),
        ("", ()),
    ],
)
def test_licences_of_an_expression(expression: str, licences: tuple[str, ...]) -> None:
    assert split_licenses(expression) == licences


def test_dependencies_resolve_through_what_packages_provide() -> None:
    got = parse(
        "P:musl\nV:1.2.4-r2\np:so:libc.musl-x86_64.so.1=1\n\n"
        "P:busybox\nV:1.36.1-r5\nD:so:libc.musl-x86_64.so.1 !busybox-extras /bin/sh musl>=1.2\n"
        "p:/bin/sh cmd:busybox=1.36.1-r5\n"
    )
    deps = {p.name: p.dependencies for p in got}
    assert deps == {"musl": (), "busybox": ("musl@1.2.4-r2",)}
