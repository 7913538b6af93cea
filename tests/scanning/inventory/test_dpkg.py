"""dpkg: every shared fixture through a real layer, against its oracle and dpkg-query's listing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from debian import deb822

from moorage.scanning.inventory.dpkg import DpkgAnalyzer, copyright_licenses, parse_status
from moorage.scanning.inventory.image import ImageInventory
from moorage.scanning.inventory.model import Package
from tests.scanning.inventory.layer_tars import cases, expected, fixture_entries, image, layer

CASES = cases("dpkg")
# Where this project's policy (dpkg.py's docstring) differs from the oracle's tool, by design:
POLICY_EXTRA = {
    # osv-scalibr drops "install ok unpacked"; its files are on disk, so it is reported here.
    "debian-scalibr-statusfield": {"wantinstall_unpacked"},
}
POLICY_MISSING = {
    # syft's parser keeps a stanza without Version; dpkg would not list it, nor does this scanner.
    "distroless-syft-status.d-multiple": {"no-version"},
}


def scanned(case: Path) -> ImageInventory:
    return image(layer(*fixture_entries(case)))


def pre_depends(case: Path) -> dict[str, set[str]]:
    """Package → the names its Pre-Depends field lists, from the case's status file."""
    status = case / "var" / "lib" / "dpkg" / "status"
    if not status.exists():
        return {}
    with status.open("rb") as file:
        stanzas = list(deb822.Deb822.iter_paragraphs(file, use_apt_pkg=False))
    return {
        s.get("Package", ""): {
            d.split()[0].split(":")[0] for d in s.get("Pre-Depends", "").split(",") if d.strip()
        }
        for s in stanzas
    }


def by_name(inventory: ImageInventory) -> dict[str, Package]:
    packages = [p.package for p in inventory.packages if p.package.type == "deb"]
    named = {p.name: p for p in packages}
    assert len(named) == len(packages), "one package per name in these fixtures"
    return named


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_fixture_matches_its_oracle(case: Path) -> None:
    want = expected(case)
    inventory = scanned(case)
    got = by_name(inventory)
    if "expect_error" in want:
        assert got == {}
        (errors,) = inventory.unreadable.values()
        assert errors["dpkg"].startswith(want["expect_error"])
        return
    assert inventory.unreadable == {}
    names = {p["name"] for p in want["packages"]}
    extra, missing = POLICY_EXTRA.get(case.name, set()), POLICY_MISSING.get(case.name, set())
    if want.get("partial"):
        assert names <= set(got)
    else:
        assert set(got) == (names | extra) - missing
    pre = pre_depends(case)
    for entry in want["packages"]:
        if entry["name"] in missing:
            continue
        _check(got[entry["name"]], entry, pre.get(entry["name"], set()))
    if "stanza_count" in want:  # claircore's count-only oracle
        assert len(got) == want["stanza_count"]


def _check(package: Package, entry: dict[str, Any], pre_depends: set[str]) -> None:
    assert package.version == entry.get("version", package.version)
    assert package.arch == entry.get("arch", package.arch)
    # An oracle without source_name means "none given": dpkg-query then names the binary itself.
    assert package.source_name == (entry.get("source_name") or package.name)
    if "source_version" in entry:
        assert package.source_version == entry["source_version"]
    elif "source_name" not in entry:
        assert package.source_version == package.version
    if "file" in entry:
        assert package.path == entry["file"]
    if "maintainer" in entry:
        assert package.maintainer == entry["maintainer"]
    if "licenses_from_copyright" in entry:  # syft compares them as a set
        assert set(package.licenses) == set(entry["licenses_from_copyright"])
    if "depends_on" in entry:  # trivy reads Depends only; Pre-Depends are dependencies too
        pre = {d for d in package.dependencies if d.split("@")[0] in pre_depends}
        assert set(package.dependencies) - pre == set(entry["depends_on"]) - pre
    if "status" in entry:
        assert dict(package.metadata)["status"] == entry["status"]


REFERENCED = [c for c in CASES if expected(c).get("dpkg_reference", {}).get("count")]


@pytest.mark.parametrize("case", REFERENCED, ids=[c.name for c in REFERENCED])
def test_every_package_agrees_with_dpkg_query(case: Path) -> None:
    """dpkg itself (dpkg-query -W on the same file) as a second oracle: each package reported
    is one dpkg lists, with dpkg's version, source and arch, and every "ii" package is reported."""
    reference = {p["name"]: p for p in expected(case)["dpkg_reference"]["packages"]}
    got = by_name(scanned(case))
    for name, package in got.items():
        listed = reference[name]
        assert (package.version, package.source_name, package.source_version) == (
            listed["version"],
            listed["source_name"],
            listed["source_version"],
        )
        assert (package.arch or "") == listed["arch"]
    installed = {n for n, p in reference.items() if p["status_abbrev"] == "ii"}
    assert installed <= set(got)


def test_dpkg_refuses_a_file_this_scanner_reads() -> None:
    """syft's image-dpkg status starts with an empty "Package:" stanza: dpkg-query refuses the
    whole file, scanners (and this one) skip the stanza and read the rest (tolerant parsing)."""
    case = next(c for c in CASES if c.name == "debian-syft-image-dpkg")
    assert expected(case)["dpkg_reference"]["count"] == 0
    assert set(by_name(scanned(case))) == {"libpam-runtime"}


def parse(text: str, *, distroless: bool = False) -> dict[str, Package]:
    path = "var/lib/dpkg/status.d/x" if distroless else "var/lib/dpkg/status"
    return {p.name: p for p in parse_status(io.BytesIO(text.encode()), path, distroless=distroless)}


def test_the_status_policy_by_current_state() -> None:
    states = {
        "install ok installed": True,
        "hold ok installed": True,
        "deinstall reinstreq installed": True,
        "purge ok installed": True,
        "install ok unpacked": True,
        "install ok half-configured": True,
        "install ok triggers-awaited": True,
        "install ok triggers-pending": True,
        "install reinstreq half-installed": False,
        "deinstall ok config-files": False,
        "purge ok not-installed": False,
        "install ok": False,
    }
    text = "\n".join(
        f"Package: p{i}\nStatus: {status}\nVersion: 1.0\n" for i, status in enumerate(states)
    )
    got = parse(text)
    assert {dict(p.metadata)["status"] for p in got.values()} == {s for s, k in states.items() if k}


def test_status_d_stanzas_need_no_status_but_status_stanzas_do() -> None:
    text = "Package: foo\nVersion: 1.2.3\nArchitecture: amd64\n"
    assert set(parse(text, distroless=True)) == {"foo"}
    assert parse(text) == {}


def test_an_installed_stanza_without_version_means_not_a_dpkg_database() -> None:
    with pytest.raises(ValueError, match="not a dpkg status database"):
        parse("Package: curl\nStatus: install ok installed\nFeature: ssl\n")
    with pytest.raises(ValueError, match="no stanza names a package"):
        parse("Name: something\nVersion: 1\n")
    assert parse("") == {}


def test_fields_of_a_stanza() -> None:
    (package,) = parse(
        "Package: libgcc-s1\nStatus: install ok installed\nInstalled-Size: 140\n"
        "Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>\n"
        "Architecture: arm64\nMulti-Arch: same\nSource: gcc-12 (12.2.0-14)\n"
        "Version: 1:12.2.0-14+b1\nDepends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)\n"
    ).values()
    assert (package.name, package.version, package.epoch, package.arch) == (
        "libgcc-s1",
        "1:12.2.0-14+b1",
        1,
        "arm64",
    )
    assert (package.source_name, package.source_version) == ("gcc-12", "12.2.0-14")
    assert package.installed_size == 140 * 1024
    assert package.dependencies == ()  # neither dependency is in this file


def test_an_invalid_version_is_kept_for_the_matcher_to_report() -> None:
    got = parse("Package: odd\nStatus: install ok installed\nVersion: 1:5.#\n")
    assert got["odd"].version == "1:5.#"


def test_status_d_companion_files_are_not_databases() -> None:
    analyzer = DpkgAnalyzer()
    wanted = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/base-files",
        "var/lib/dpkg/status.d/python3.11",
    ]
    for path in wanted:
        assert analyzer.wants(path, 0o644, 10)
    for path in [
        "var/lib/dpkg/status.d/libssl3.md5sums",
        "var/lib/dpkg/status.d/libssl3.preinst",
        "var/lib/dpkg/status.d/nested/file",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/available",
    ]:
        assert not analyzer.wants(path, 0o644, 10)


def test_copyright_licences_in_the_order_they_appear() -> None:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-2+ or Artistic-2.0\n\n"
        "Files: debian/*\nLicense: GPL-2+\n\n"
        "License: GPL-2+\n On Debian systems see /usr/share/common-licenses/GPL-2.\n"
        " and /usr/share/common-licenses/Artistic\n"
    )
    assert copyright_licenses(text) == ["GPL-2+ or Artistic-2.0", "GPL-2+", "GPL-2", "Artistic"]
    assert copyright_licenses("free text without any licence field\n") == []
