"""The OSV ecosystem names and the ordering each one uses."""

from __future__ import annotations

import pytest

from moorage.errors import EcosystemUnknown
from moorage.scanning.versions import (
    ApkVersion,
    DpkgVersion,
    GemVersion,
    GoVersion,
    MavenVersion,
    NpmVersion,
    NugetVersion,
    PackagistVersion,
    PypiVersion,
    RpmVersion,
    SemVer,
    is_distribution,
    known_ecosystems,
    scheme_for,
)


@pytest.mark.parametrize(
    ("ecosystem", "scheme"),
    [
        ("Debian:12", DpkgVersion),
        ("Debian", DpkgVersion),
        ("Ubuntu:22.04:LTS", DpkgVersion),
        ("Ubuntu:Pro:18.04:LTS", DpkgVersion),
        ("Alpine:v3.18", ApkVersion),
        ("Wolfi", ApkVersion),
        ("Red Hat:enterprise_linux:9::appstream", RpmVersion),
        ("Rocky Linux:9", RpmVersion),
        ("AlmaLinux:8", RpmVersion),
        ("SUSE:Linux Enterprise Server 15 SP5", RpmVersion),
        ("openSUSE:Leap 15.5", RpmVersion),
        ("Mageia:9", RpmVersion),
        ("Mariner", RpmVersion),
        ("Azure Linux:3", RpmVersion),
        ("PyPI", PypiVersion),
        ("npm", NpmVersion),
        ("Go", GoVersion),
        ("crates.io", SemVer),
        ("Hex", SemVer),
        ("Maven", MavenVersion),
        ("Maven:https://repo.maven.apache.org/maven2/", MavenVersion),
        ("RubyGems", GemVersion),
        ("NuGet", NugetVersion),
        ("Packagist", PackagistVersion),
    ],
)
def test_scheme_for(ecosystem: str, scheme: type) -> None:
    assert scheme_for(ecosystem) is scheme


@pytest.mark.parametrize("name", ["", "pypi", "debian:12", "Cobol", "GIT", "Linux"])
def test_unknown_ecosystem_is_an_error(name: str) -> None:
    with pytest.raises(EcosystemUnknown):
        scheme_for(name)


def test_distributions() -> None:
    assert is_distribution("Debian:12") and is_distribution("Alpine:v3.18")
    assert not is_distribution("PyPI") and not is_distribution("Go")
    assert "Debian" in known_ecosystems() and "npm" in known_ecosystems()
