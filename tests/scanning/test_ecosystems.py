"""Which advisory stream and name each package is matched in, per distribution (OSV's ecosystem
names), and the catalog's version string."""

from __future__ import annotations

import pytest

from moorage.scanning import ecosystems
from moorage.scanning.catalog import default_catalog
from moorage.scanning.inventory.dpkg import DpkgAnalyzer
from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.osrelease import OsInfo


def os_info(
    ident: str,
    version: str | None,
    *,
    pretty: str | None = None,
    codename: str | None = None,
    point: str | None = None,
    branch: str | None = None,
) -> OsInfo:
    return OsInfo(ident, version, codename, pretty, "etc/os-release", (), point, branch)


def deb(
    name: str, version: str, source: str | None = None, source_version: str | None = None
) -> Package:
    return Package(
        "deb", name, version, "var/lib/dpkg/status", source or name, source_version or version
    )


@pytest.mark.parametrize(
    ("info", "packages", "expected"),
    [
        (os_info("debian", "12", codename="bookworm"), [], "Debian:12"),
        (os_info("debian", None, codename="trixie"), [], "Debian:13"),  # testing: no VERSION_ID
        (os_info("ubuntu", "22.04", pretty="Ubuntu 22.04.3 LTS"), [], "Ubuntu:22.04:LTS"),
        (os_info("ubuntu", "24.04", pretty="Ubuntu Noble"), [], "Ubuntu:24.04:LTS"),
        (os_info("ubuntu", "23.10", pretty="Ubuntu 23.10"), [], "Ubuntu:23.10"),
        (
            os_info("ubuntu", "16.04", pretty="Ubuntu 16.04.7 LTS"),
            [deb("zlib1g", "1:1.2.8.dfsg-2ubuntu4.3+esm1", "zlib")],
            "Ubuntu:Pro:16.04:LTS",
        ),
        (os_info("alpine", "3.18.4", point="3.18.4"), [], "Alpine:v3.18"),
        (os_info("alpine", "3.18.4", branch="v3.19"), [], "Alpine:v3.19"),  # repositories newer
        (os_info("alpine", "3.18.4", branch="v3.17"), [], "Alpine:v3.18"),  # older: the release
        (os_info("wolfi", "20230201"), [], "Wolfi"),
        (os_info("rhel", "9.3"), [], "Red Hat:enterprise_linux:9"),
        (os_info("rhel", "10.0"), [], "Red Hat:enterprise_linux:10.0"),
        (os_info("centos", "8"), [], "Red Hat:enterprise_linux:8"),
        (os_info("rocky", "9.3"), [], "Rocky Linux:9"),
        (os_info("almalinux", "8.9"), [], "AlmaLinux:8"),
        (os_info("sles", "15.5"), [], "SUSE:Linux Enterprise Server 15 SP5"),
        (os_info("sles", "15"), [], "SUSE:Linux Enterprise Server 15"),
        (os_info("sle-micro", "5.5"), [], "SUSE:Linux Enterprise Micro 5.5"),
        (os_info("opensuse-leap", "15.5"), [], "openSUSE:Leap 15.5"),
        (os_info("opensuse-tumbleweed", "20240101"), [], "openSUSE:Tumbleweed"),
        (os_info("mariner", "2.0"), [], "Mariner:2.0"),
        (os_info("azurelinux", "3.0"), [], "Azure Linux:3.0"),
        (os_info("photon", "5.0"), [], "Photon OS:5.0"),
    ],
)
def test_distribution_streams(info: OsInfo, packages: list[Package], expected: str) -> None:
    found = ecosystems.distribution(info, packages)
    assert (found.ecosystem, found.problem) == (expected, None)


@pytest.mark.parametrize(
    ("info", "says"),
    [
        (None, "the image's operating system is not known"),
        (os_info("debian", None, codename="sid"), "Debian unstable has no advisory stream"),
        (os_info("alpine", "3.20.0", branch="edge"), "OSV publishes no advisories for edge"),
        (os_info("fedora", "39", pretty="Fedora Linux 39"), "no advisories for Fedora"),
        (os_info("amzn", "2023"), "no advisories for Amazon Linux"),
        (os_info("arch", None, pretty="Arch Linux"), "no vulnerability advisories are known"),
        (os_info("rhel", None), "its release is not known"),
    ],
)
def test_no_stream_says_why(info: OsInfo | None, says: str) -> None:
    found = ecosystems.distribution(info, [])
    assert found.ecosystem is None
    assert found.problem is not None and says in found.problem, found.problem


def test_a_pro_image_is_matched_in_both_streams() -> None:
    assert ecosystems.streams("Ubuntu:Pro:16.04:LTS") == (
        "Ubuntu:Pro:16.04:LTS",
        "Ubuntu:16.04:LTS",
    )
    assert ecosystems.streams("Debian:12") == ("Debian:12",)


def _target(package: Package, info: OsInfo | None = None) -> ecosystems.MatchTarget:
    return ecosystems.target(package, ecosystems.distribution(info, [package]))


def test_the_names_and_versions_advisories_use() -> None:
    debian = os_info("debian", "12")
    binnmu = deb("zlib1g", "1:1.2.13.dfsg-1+b1", "zlib", "1:1.2.13.dfsg-1")
    assert _target(binnmu, debian) == ecosystems.MatchTarget("Debian:12", "zlib", "1:1.2.13.dfsg-1")
    apk = Package("apk", "ssl_client", "1.36.1-r5", "lib/apk/db/installed", "busybox", "1.36.1-r5")
    assert _target(apk, os_info("alpine", "3.18.4")) == ecosystems.MatchTarget(
        "Alpine:v3.18", "busybox", "1.36.1-r5"
    )
    rpm = Package(
        "rpm", "openssl-libs", "1:3.0.7-24.el9", "var/lib/rpm/rpmdb.sqlite", "openssl",
        "1:3.0.7-24.el9",
    )  # fmt: skip
    assert _target(rpm, os_info("rhel", "9.3")) == ecosystems.MatchTarget(
        "Red Hat:enterprise_linux:9", "openssl-libs", "1:3.0.7-24.el9"
    )
    mariner = Package("rpm", "openssl-libs", "1.1.1k-28.cm2", "p", "openssl", "1.1.1k-28.cm2")
    assert _target(mariner, os_info("mariner", "2.0")) == ecosystems.MatchTarget(
        "Mariner:2.0", "openssl", "1.1.1k-28.cm2"
    )
    python = Package("pypi", "Zope.Interface", "5.0", "x/METADATA")
    assert _target(python) == ecosystems.MatchTarget("PyPI", "zope-interface", "5.0")
    scoped = Package("npm", "core", "7.0.0", "package-lock.json", namespace="babel")
    assert _target(scoped) == ecosystems.MatchTarget("npm", "@babel/core", "7.0.0")
    jar = Package("maven", "guava", "31.1-jre", "app.jar", namespace="com.google.guava")
    assert _target(jar) == ecosystems.MatchTarget("Maven", "com.google.guava:guava", "31.1-jre")
    go = Package("golang", "stdlib", "v1.19.8", "usr/bin/app")
    assert _target(go) == ecosystems.MatchTarget("Go", "stdlib", "v1.19.8")
    gem = Package("gem", "rack", "2.2.3", "specifications/rack-2.2.3.gemspec")
    assert _target(gem) == ecosystems.MatchTarget("RubyGems", "rack", "2.2.3")


def test_packages_no_stream_covers_say_why() -> None:
    apk_in_debian = Package("apk", "musl", "1.2.4-r2", "lib/apk/db/installed", "musl")
    found = _target(apk_in_debian, os_info("debian", "12"))
    assert (found.ecosystem, found.problem) == (
        None,
        "apk package in a debian 12 image: no advisory stream covers it",
    )
    assert _target(deb("bash", "5.2-1")).problem == "the image's operating system is not known"
    no_group = Package("maven", "guava", "31.1-jre", "app.jar")
    assert _target(no_group).problem == "a Maven artifact without a group ID"
    cargo = Package("cargo", "serde", "1.0.0", "Cargo.lock")
    assert _target(cargo).problem == "no advisories cover cargo packages"


def test_the_catalog_version_names_its_participants() -> None:
    catalog = default_catalog()
    version = catalog.version
    assert len(version) <= 64 and version.startswith("f1-")
    assert version == default_catalog().version  # stable
    assert "dpkg=1" in catalog.describe() and "os-release=1" in catalog.describe()

    class NewerDpkg(DpkgAnalyzer):
        version = 2

    analyzers = (NewerDpkg(), *catalog.analyzers[1:])
    assert default_catalog(analyzers).version != version  # a bumped analyser: new cache key
    with pytest.raises(ValueError, match="two scan participants are named 'dpkg'"):
        default_catalog((DpkgAnalyzer(), DpkgAnalyzer()))
