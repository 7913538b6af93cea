"""Which advisories apply to a package: its OSV ecosystem, the name and the version they use.

OS packages take their ecosystem from the image's OS (``inventory.osrelease.OsInfo``), as the
OSV schema names distribution streams:

* Debian: ``Debian:<major>`` (``12.5`` → ``Debian:12``; without ``VERSION_ID``, testing's
  codename gives the number; unstable has no stream);
* Ubuntu: ``Ubuntu:<version>:LTS`` for a long-term release (its name says ``LTS``, or it is an
  even year's ``.04``), else ``Ubuntu:<version>``. An image with Ubuntu Pro (ESM) packages
  installed (a version with ``+esm``) is in ``Ubuntu:Pro:<version>:LTS`` and also still in the
  plain stream: ``streams()`` gives both, Pro first;
* Alpine: ``Alpine:v<major>.<minor>`` of ``alpine-release``, or the newer branch its
  ``etc/apk/repositories`` installs from (``v3.19``); ``edge`` has no advisory stream;
  Wolfi and Chainguard: ``Wolfi``, ``Chainguard``;
* the rpm family: ``Red Hat:enterprise_linux:<major>`` (RHEL 10 and later
  ``…:<major>.<minor>``; CentOS is matched against the RHEL it rebuilds, as Trivy does), whose
  records add the repository (``Red Hat:enterprise_linux:9::appstream``: the lookup takes any
  longer stream, ``osv.matching.ecosystem_matches`` decides); ``Rocky Linux:<major>``,
  ``AlmaLinux:<major>``, ``SUSE:Linux Enterprise Server 15 SP5``, ``SUSE:Linux Enterprise
  Micro 5.5``, ``openSUSE:Leap 15.5``, ``openSUSE:Tumbleweed``, ``Mariner:2.0``,
  ``Azure Linux:3.0``, ``Photon OS:5.0``, ``Mageia:9``.

The name advisories use: the source package for dpkg (``Source``, matched at the source
version, which binNMUs ``+b1`` leave behind), the origin for apk; for rpm, the binary package
for Red Hat, Rocky, Alma, SUSE and openSUSE (their OSV records list binary RPMs: RHSA, RLSA,
ALSA, SUSE-SU) and the source RPM for Mariner, Azure Linux, Photon OS and Mageia (whose records
name source packages), each at the matching EVR. Language packages: ``PyPI`` (PEP 503 name),
``npm`` (``@scope/name``), ``Go`` (module path; the toolchain is ``stdlib``), ``Maven``
(``group:artifact``), ``RubyGems``. ``match_name`` is stored as the vulnerability database's
lookup key (``vulndb.records.package_key``), so a database update finds the components its
changed records name by an indexed equality.

A package no stream covers (unknown OS, Fedora, Oracle Linux, Amazon Linux, Alpine edge, an apk
package in a Debian image …) has no ecosystem and says why (``problem``): it is reported as not
matched, never as "no vulnerabilities".

Written by hand: these are naming tables and rules (the OSV schema's ecosystem list, each
distribution's release naming), not parsing; no library maps os-release to OSV ecosystems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.osrelease import OsInfo
from moorage.scanning.vulndb.records import package_key

OS_TYPES = frozenset({"deb", "apk", "rpm"})
LANGUAGES = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven", "gem": "RubyGems"}
_DEBIAN_CODENAMES = {
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}
_NO_STREAM = {
    "fedora": "Fedora",
    "ol": "Oracle Linux",
    "amzn": "Amazon Linux",
    "openeuler": "openEuler",
}
_RPM_SOURCE_NAMED = frozenset({"Mariner", "Azure Linux", "Photon OS", "Mageia"})
_MAJOR = re.compile(r"^(\d+)")
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)")
_PRO = "Ubuntu:Pro:"


@dataclass(frozen=True, slots=True)
class Distribution:
    """The advisory stream of an image's OS packages."""

    package_type: str | None  # deb | apk | rpm: the OS's own package kind (None: unknown OS)
    ecosystem: str | None  # ``Debian:12``, ``Ubuntu:Pro:22.04:LTS`` … (None: no stream)
    problem: str | None = None  # why there is no stream
    label: str | None = None  # ``debian 12``: image_scans.os


@dataclass(frozen=True, slots=True)
class MatchTarget:
    """What one package is matched as: None ecosystem with the reason when it cannot be."""

    ecosystem: str | None
    name: str | None  # the lookup key (``package_key``)
    version: str  # the version the advisories' ranges compare
    problem: str | None = None


def _major(version: str | None) -> str | None:
    found = _MAJOR.match(version or "")
    return found[1] if found else None


def _major_minor(version: str | None) -> str | None:
    found = _MAJOR_MINOR.match(version or "")
    return f"{found[1]}.{found[2]}" if found else None


def _branch_key(branch: str) -> tuple[int, ...]:
    return tuple(int(x) for x in branch.removeprefix("v").split("."))


def _is_pro(packages: Iterable[Package]) -> bool:
    return any(
        p.type == "deb" and ("+esm" in p.version or "+esm" in (p.source_version or ""))
        for p in packages
    )


def _ubuntu(os: OsInfo, packages: Iterable[Package]) -> str | None:
    version = _major_minor(os.version_id)
    if version is None:
        return None
    year, month = version.split(".")
    lts = "LTS" in (os.pretty_name or "") or (int(year) % 2 == 0 and month == "04")
    pro = _is_pro(packages)
    if pro and not lts:
        return f"Ubuntu:Pro:{version}"
    if pro:
        return f"Ubuntu:Pro:{version}:LTS"
    return f"Ubuntu:{version}:LTS" if lts else f"Ubuntu:{version}"


def _alpine(os: OsInfo) -> tuple[str | None, str | None]:
    release = _major_minor(os.point_release or os.version_id)
    branch = f"v{release}" if release else None
    repositories = os.apk_branch
    if repositories == "edge":
        return None, "Alpine edge: OSV publishes no advisories for edge"
    if repositories and (branch is None or _branch_key(repositories) > _branch_key(branch)):
        branch = repositories
    if branch is None:
        return None, "the Alpine release is not known"
    return f"Alpine:{branch}", None


def _suse(os: OsInfo) -> str | None:
    version = os.version_id or ""
    major, _, service_pack = version.partition(".")
    if not major.isdigit():
        return None
    if os.id == "sle-micro":
        return f"SUSE:Linux Enterprise Micro {version}"
    if service_pack and service_pack != "0":
        return f"SUSE:Linux Enterprise Server {major} SP{service_pack}"
    return f"SUSE:Linux Enterprise Server {major}"


def _rpm_stream(os: OsInfo) -> str | None:
    major = _major(os.version_id)
    if os.id in ("rhel", "centos"):
        if major is None:
            return None
        if int(major) >= 10:
            minor = _major_minor(os.version_id)
            return f"Red Hat:enterprise_linux:{minor or major + '.0'}"
        return f"Red Hat:enterprise_linux:{major}"
    if os.id == "rocky":
        return f"Rocky Linux:{major}" if major else None
    if os.id == "almalinux":
        return f"AlmaLinux:{major}" if major else None
    if os.id in ("sles", "sle-micro"):
        return _suse(os)
    if os.id == "opensuse-leap":
        return f"openSUSE:Leap {os.version_id}" if os.version_id else None
    if os.id == "opensuse-tumbleweed":
        return "openSUSE:Tumbleweed"
    simple = {"mariner": "Mariner", "azurelinux": "Azure Linux", "photon": "Photon OS"}
    if os.id in simple:
        version = _major_minor(os.version_id)
        return f"{simple[os.id]}:{version}" if version else None
    if os.id == "mageia":
        return f"Mageia:{major}" if major else None
    return None


_DEB_IDS = frozenset({"debian", "ubuntu"})
_APK_IDS = {"alpine": None, "wolfi": "Wolfi", "chainguard": "Chainguard"}
_RPM_IDS = frozenset(
    {
        "rhel",
        "centos",
        "rocky",
        "almalinux",
        "sles",
        "sle-micro",
        "opensuse-leap",
        "opensuse-tumbleweed",
        "mariner",
        "azurelinux",
        "photon",
        "mageia",
        *("fedora", "ol", "amzn", "openeuler"),
    }
)


def distribution(os: OsInfo | None, packages: Iterable[Package]) -> Distribution:
    """The stream of the image's OS packages (see the module's documentation)."""
    if os is None:
        return Distribution(None, None, "the image's operating system is not known")
    label = " ".join(p for p in (os.id, os.point_release or os.version_id) if p)
    name = os.pretty_name or label
    kind: str | None = None
    ecosystem: str | None = None
    problem: str | None = None
    if os.id in _DEB_IDS:
        kind = "deb"
        if os.id == "ubuntu":
            ecosystem = _ubuntu(os, packages)
        else:
            number = _major(os.version_id) or _DEBIAN_CODENAMES.get((os.codename or "").lower())
            ecosystem = f"Debian:{number}" if number else None
            if ecosystem is None:
                problem = f"{name}: Debian unstable has no advisory stream"
    elif os.id in _APK_IDS:
        kind = "apk"
        fixed = _APK_IDS[os.id]
        ecosystem, problem = (fixed, None) if fixed else _alpine(os)
    elif os.id in _RPM_IDS:
        kind = "rpm"
        if os.id in _NO_STREAM:
            problem = f"{name}: OSV publishes no advisories for {_NO_STREAM[os.id]}"
        else:
            ecosystem = _rpm_stream(os)
    else:
        problem = f"{name}: no vulnerability advisories are known for this distribution"
    if ecosystem is None and problem is None:
        problem = f"{name}: its release is not known"
    return Distribution(kind, ecosystem, problem, label or None)


def streams(ecosystem: str) -> tuple[str, ...]:
    """The ecosystems a component of ``ecosystem`` is matched in: a Pro (ESM) Ubuntu stream
    and the plain stream it extends; any other ecosystem alone."""
    if ecosystem.startswith(_PRO):
        return ecosystem, "Ubuntu:" + ecosystem.removeprefix(_PRO)
    return (ecosystem,)


def _base(ecosystem: str) -> str:
    return ecosystem.split(":", 1)[0]


def match_version(kind: str, ecosystem: str, version: str, source_version: str | None) -> str:
    """The version advisories compare for a component (a deb's source version; an rpm's
    source EVR where the records name source RPMs)."""
    if kind == "deb" or (kind == "rpm" and _base(ecosystem) in _RPM_SOURCE_NAMED):
        return source_version or version
    return version


def target(package: Package, dist: Distribution) -> MatchTarget:
    """How ``package`` is matched in an image of ``dist``."""
    kind = package.type
    if kind in OS_TYPES:
        if dist.package_type is not None and dist.package_type != kind:
            why = f"{kind} package in a {dist.label} image: no advisory stream covers it"
            return MatchTarget(None, None, package.version, why)
        if dist.ecosystem is None:
            return MatchTarget(None, None, package.version, dist.problem)
        ecosystem = dist.ecosystem
        name = package.name
        source_named = kind == "rpm" and _base(ecosystem) in _RPM_SOURCE_NAMED
        if kind in ("deb", "apk") or source_named:
            name = package.source_name or package.name
        version = match_version(kind, ecosystem, package.version, package.source_version)
        return MatchTarget(ecosystem, package_key(ecosystem, name), version)
    language = LANGUAGES.get(kind)
    if language is None:
        return MatchTarget(None, None, package.version, f"no advisories cover {kind} packages")
    name = package.name
    if kind == "npm" and package.namespace:
        name = f"@{package.namespace.removeprefix('@')}/{package.name}"
    elif kind == "maven":
        if not package.namespace:
            return MatchTarget(None, None, package.version, "a Maven artifact without a group ID")
        name = f"{package.namespace}:{package.name}"
    return MatchTarget(language, package_key(language, name), package.version)
