"""Which version ordering each OSV ecosystem uses.

OSV names an ecosystem ``Base[:suffix]`` (``Debian:12``, ``Ubuntu:Pro:22.04:LTS``,
``Alpine:v3.18``, ``Red Hat:rhel_aus:8.4::appstream``); the ordering depends on the base alone.
The names are those of the OSV schema's ecosystem list (https://ossf.github.io/osv-schema/).
"""

from __future__ import annotations

from moorage.errors import EcosystemUnknown
from moorage.scanning.versions.apk import ApkVersion
from moorage.scanning.versions.base import Version
from moorage.scanning.versions.dpkg import DpkgVersion
from moorage.scanning.versions.maven import MavenVersion
from moorage.scanning.versions.nuget import NugetVersion
from moorage.scanning.versions.packagist import PackagistVersion
from moorage.scanning.versions.pypi import PypiVersion
from moorage.scanning.versions.rpm import RpmVersion
from moorage.scanning.versions.rubygems import GemVersion
from moorage.scanning.versions.semver import GoVersion, NpmVersion, SemVer

_DISTRIBUTIONS: dict[str, type[Version]] = {
    "Debian": DpkgVersion,
    "Ubuntu": DpkgVersion,
    "Alpine": ApkVersion,
    "Wolfi": ApkVersion,
    "Chainguard": ApkVersion,
    "MinimOS": ApkVersion,
    "Red Hat": RpmVersion,
    "Rocky Linux": RpmVersion,
    "AlmaLinux": RpmVersion,
    "SUSE": RpmVersion,
    "openSUSE": RpmVersion,
    "Mageia": RpmVersion,
    "Mariner": RpmVersion,
    "Azure Linux": RpmVersion,
    "openEuler": RpmVersion,
    "Photon OS": RpmVersion,
}
_LANGUAGES: dict[str, type[Version]] = {
    "PyPI": PypiVersion,
    "npm": NpmVersion,
    "Go": GoVersion,
    "crates.io": SemVer,
    "Hex": SemVer,
    "Maven": MavenVersion,
    "RubyGems": GemVersion,
    "NuGet": NugetVersion,
    "Packagist": PackagistVersion,
}


def ecosystem_base(ecosystem: str) -> str:
    """``Debian`` for ``Debian:12``: the part before the first colon."""
    return ecosystem.split(":", 1)[0].strip()


def scheme_for(ecosystem: str) -> type[Version]:
    """The version scheme of an OSV ecosystem; :class:`EcosystemUnknown` for any other name."""
    base = ecosystem_base(ecosystem)
    scheme = _DISTRIBUTIONS.get(base) or _LANGUAGES.get(base)
    if scheme is None:
        raise EcosystemUnknown(f"no version ordering is known for the ecosystem {ecosystem!r}")
    return scheme


def is_distribution(ecosystem: str) -> bool:
    """Whether the ecosystem is an OS distribution (its suffix names a release or stream)."""
    return ecosystem_base(ecosystem) in _DISTRIBUTIONS


def known_ecosystems() -> list[str]:
    """Every base name :func:`scheme_for` accepts."""
    return sorted([*_DISTRIBUTIONS, *_LANGUAGES])
