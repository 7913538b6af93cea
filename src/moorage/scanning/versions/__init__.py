"""Version ordering per ecosystem: one scheme per ordering, one interface (see ``base``).

``scheme_for("Debian:12").parse("1:2.5.1-4") < ...``, ``scheme_for("PyPI").compare(a, b)``;
a version the rules cannot read raises :class:`moorage.errors.VersionUnparseable`, an unknown
ecosystem :class:`moorage.errors.EcosystemUnknown`. Pure code: imports nothing from Moorage but
``moorage.errors``.
"""

from moorage.scanning.versions.apk import ApkVersion
from moorage.scanning.versions.base import Version
from moorage.scanning.versions.dpkg import DpkgVersion
from moorage.scanning.versions.ecosystems import (
    ecosystem_base,
    is_distribution,
    known_ecosystems,
    scheme_for,
)
from moorage.scanning.versions.maven import MavenVersion
from moorage.scanning.versions.nuget import NugetVersion
from moorage.scanning.versions.packagist import PackagistVersion
from moorage.scanning.versions.pypi import PypiVersion
from moorage.scanning.versions.rpm import RpmVersion
from moorage.scanning.versions.rubygems import GemVersion
from moorage.scanning.versions.semver import GoVersion, NpmVersion, SemVer

__all__ = [
    "ApkVersion",
    "DpkgVersion",
    "GemVersion",
    "GoVersion",
    "MavenVersion",
    "NpmVersion",
    "NugetVersion",
    "PackagistVersion",
    "PypiVersion",
    "RpmVersion",
    "SemVer",
    "Version",
    "ecosystem_base",
    "is_distribution",
    "known_ecosystems",
    "scheme_for",
]
