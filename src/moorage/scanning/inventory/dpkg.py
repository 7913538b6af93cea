"""dpkg: the installed packages of Debian, Ubuntu and distroless images, and their licences.

Files: ``var/lib/dpkg/status`` (one stanza per package) and distroless' ``var/lib/dpkg/status.d/
<name>`` (one or more stanzas per file; the ``<name>.md5sums`` and maintainer-script files beside
them are not databases). Stanzas are read with python-debian's deb822 parser.

Which stanzas are packages (the policy, tested on every fixture):

* A stanza whose ``Status`` current state (its third word) is ``installed``, ``triggers-awaited``,
  ``triggers-pending``, ``half-configured`` or ``unpacked``: the package's files are on disk,
  whatever the selection (``install``/``hold``/``deinstall``/``purge``) or the error flag say.
  ``deinstall reinstreq installed`` and ``purge ok installed`` are therefore kept (as osv-scalibr
  does; trivy and dpkg's own ``ii`` keep only ``install ok installed``), and so is
  ``install ok unpacked``, which osv-scalibr drops: its programs are there and run.
  ``half-installed`` (an unpack that stopped part way), ``config-files`` and ``not-installed``
  leave no usable package and are dropped.
* In ``status.d/`` a stanza without ``Status`` is kept (distroless writes none); in ``status``
  it is dropped, as dpkg treats it as not installed.
* A stanza without ``Package`` or ``Version`` is dropped (dpkg would not list it; syft's parser
  keeps a version-less one). A version that is not a valid dpkg version is kept as written: the
  matcher reports it as unparseable rather than hiding the package.
* A file in which a stanza says it is installed but has no ``Version`` is not a dpkg database at
  all (dpkg refuses to read it: "missing 'Version' field"); that is how vcpkg's ``status`` file,
  which shares the format, is told apart. It raises ``ValueError``.

Each package: ``source_name`` / ``source_version`` from ``Source: name (version)``, defaulting to
the binary's own name and version as ``dpkg-query``'s ``${source:Package}`` and
``${source:Version}`` do; ``epoch`` from the version; ``dependencies`` are the installed packages
(``name@version``) that ``Depends`` and ``Pre-Depends`` name in any alternative, as trivy lists
them; ``installed_size`` from ``Installed-Size`` (KiB).

Licences come from a second file, ``usr/share/doc/<package>/copyright`` (as syft): the fact finder
``DpkgCopyrightFinder`` reads the DEP-5 ``License:`` fields (the first line of each: its licence
expression) and every ``/usr/share/common-licenses/<name>`` the text refers to, in the order they
appear; the image merge attaches them (``with_copyright_licenses``). That reader is written by
hand: python-debian's ``debian.copyright`` reads only machine-readable files, and refuses the
free-form ones many packages still ship.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import IO, ClassVar

from debian import deb822

from moorage.scanning.inventory.model import Facts, Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
DOC = "usr/share/doc/"
NOT_DATABASES = (".md5sums", ".preinst", ".postinst", ".prerm", ".postrm", ".conffiles", ".list")
ON_DISK = frozenset({"installed", "triggers-awaited", "triggers-pending", "half-configured"})
ON_DISK_ALSO = frozenset({"unpacked"})
MAX_COPYRIGHT = 4 * 1024 * 1024
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)\s]+)\))?\s*$")
_DEPENDENCY_NAME = re.compile(r"^\s*([^\s(:\[<>=]+)")
_LICENSE_FIELD = re.compile(r"^License:[ \t]*(?P<value>\S.*?)\s*$", re.MULTILINE)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/(?P<name>[A-Za-z0-9][A-Za-z0-9_.+-]*)")


class DpkgAnalyzer:
    name: ClassVar[str] = "dpkg"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        if path == STATUS:
            return True
        if not path.startswith(STATUS_D):
            return False
        name = path[len(STATUS_D) :]
        return bool(name) and "/" not in name and not name.endswith(NOT_DATABASES)

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        return parse_status(file, path, distroless=path != STATUS)


def parse_status(file: IO[bytes], path: str, *, distroless: bool = False) -> list[Package]:
    """The packages of one dpkg status file (see the module's policy)."""
    stanzas = [
        dict(p) for p in deb822.Deb822.iter_paragraphs(file, use_apt_pkg=False, encoding="utf-8")
    ]
    if stanzas and not any(s.get("Package") for s in stanzas):
        raise ValueError("not a dpkg status database: no stanza names a package")
    kept: list[dict[str, str]] = []
    for stanza in stanzas:
        name = stanza.get("Package", "").strip()
        status = stanza.get("Status", "").split()
        state = status[2] if len(status) == 3 else None
        version = stanza.get("Version", "").strip()
        if name and state in ON_DISK | ON_DISK_ALSO and not version:
            raise ValueError(
                f"not a dpkg status database: {name!r} is installed without a Version,"
                " which dpkg refuses"
            )
        if not name or not version:
            continue
        if state is None and not (distroless and "Status" not in stanza):
            continue
        if state is not None and state not in ON_DISK | ON_DISK_ALSO:
            continue
        kept.append(stanza)
    installed = {s["Package"].strip(): s["Version"].strip() for s in kept}
    return [_package(stanza, path, installed) for stanza in kept]


def _package(stanza: dict[str, str], path: str, installed: dict[str, str]) -> Package:
    name = stanza["Package"].strip()
    version = stanza["Version"].strip()
    source_name, source_version = name, version
    source = _SOURCE.match(stanza.get("Source", "").strip())
    if source is not None:
        source_name = source["name"]
        source_version = source["version"] or version
    epoch_text, colon, _ = version.partition(":")
    epoch = int(epoch_text) if colon and epoch_text.isdigit() else None
    size_text = stanza.get("Installed-Size", "").strip()
    status = " ".join(stanza.get("Status", "").split())
    return Package(
        type="deb",
        name=name,
        version=version,
        path=path,
        source_name=source_name,
        source_version=source_version,
        arch=stanza.get("Architecture", "").strip() or None,
        epoch=epoch,
        maintainer=stanza.get("Maintainer", "").strip() or None,
        installed_size=int(size_text) * 1024 if size_text.isdigit() else None,
        dependencies=_dependencies(stanza, installed),
        metadata=(("status", status),) if status else (),
    )


def _dependencies(stanza: dict[str, str], installed: dict[str, str]) -> tuple[str, ...]:
    names: set[str] = set()
    for field in ("Depends", "Pre-Depends"):
        for group in stanza.get(field, "").split(","):
            for alternative in group.split("|"):
                match = _DEPENDENCY_NAME.match(alternative)
                if match and match[1] in installed:
                    names.add(match[1])
    return tuple(sorted(f"{n}@{installed[n]}" for n in names))


class DpkgCopyrightFinder:
    """Licences a Debian package's ``copyright`` file names."""

    name: ClassVar[str] = "dpkg-copyright"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        if not path.startswith(DOC) or not path.endswith("/copyright"):
            return False
        return path.count("/") == 4 and size <= MAX_COPYRIGHT

    def find(self, path: str, file: IO[bytes], size: int) -> Facts:
        return {"licenses": copyright_licenses(file.read(MAX_COPYRIGHT).decode("utf-8", "replace"))}


def copyright_licenses(text: str) -> list[str]:
    """DEP-5 ``License:`` expressions, then common-licenses references, first mention first."""
    found: list[str] = []
    for match in _LICENSE_FIELD.finditer(text):
        found.append(match["value"])
    for match in _COMMON_LICENSE.finditer(text):
        found.append(match["name"].rstrip("."))
    return list(dict.fromkeys(v for v in found if v))


def with_copyright_licenses(
    packages: list[Package], facts_at: Callable[[str], Facts | None]
) -> list[Package]:
    """Debian packages without licences get those of ``usr/share/doc/<name>/copyright``."""
    out: list[Package] = []
    for package in packages:
        if package.type == "deb" and not package.licenses:
            facts = facts_at(f"{DOC}{package.name}/copyright")
            licences = facts.get("licenses") if facts else None
            if isinstance(licences, list) and licences:
                package = replace(package, licenses=tuple(licences))
        out.append(package)
    return out
