"""Every analyser and fact finder a scan runs, and the one version string that names them.

A layer's inventory is cached in ``scan_layers`` under (layer digest, ``Catalog.version``): the
version string changes whenever an analyser or fact finder is added, removed or bumps its own
``version``, or the inventory's serialised format changes, so a cached inventory is only ever
reused by the very set of participants that produced it. The string is a digest of the sorted
``name=version`` list (the column holds 64 characters; the list is longer), prefixed by the
inventory format: ``f1-<40 hex digits>``; ``Catalog.describe()`` gives the list itself for logs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from moorage.scanning.inventory.apk import ApkAnalyzer
from moorage.scanning.inventory.dpkg import DpkgAnalyzer, DpkgCopyrightFinder
from moorage.scanning.inventory.golang import GoBinaryAnalyzer
from moorage.scanning.inventory.java import JavaArchiveAnalyzer
from moorage.scanning.inventory.layers import FORMAT_VERSION
from moorage.scanning.inventory.model import Analyzer, FactFinder
from moorage.scanning.inventory.npm import NpmAnalyzer
from moorage.scanning.inventory.osrelease import OsReleaseFinder
from moorage.scanning.inventory.python import PythonAnalyzer
from moorage.scanning.inventory.rpm import RpmAnalyzer
from moorage.scanning.inventory.ruby import GemspecAnalyzer

OS_ANALYZERS = frozenset({DpkgAnalyzer.name, ApkAnalyzer.name, RpmAnalyzer.name})
"""The OS package databases: a scan whose image holds one that cannot be read fails (its result
would leave out the distribution's packages); other unreadable files are noted."""


@dataclass(frozen=True, slots=True)
class Catalog:
    analyzers: tuple[Analyzer, ...]
    fact_finders: tuple[FactFinder, ...]

    def participants(self) -> dict[str, int]:
        """Name → version of every analyser and fact finder (names are unique)."""
        found: dict[str, int] = {}
        named: list[tuple[str, int]] = [(a.name, a.version) for a in self.analyzers]
        named += [(f.name, f.version) for f in self.fact_finders]
        for name, version in named:
            if name in found:
                raise ValueError(f"two scan participants are named {name!r}")
            found[name] = version
        return found

    def describe(self) -> str:
        """``format=1 apk=1 dpkg=1 …``: what the version string is a digest of."""
        listed = sorted(f"{name}={version}" for name, version in self.participants().items())
        return " ".join([f"format={FORMAT_VERSION}", *listed])

    @property
    def version(self) -> str:
        """The ``scan_layers.analyzers`` key of this set of participants."""
        digest = hashlib.sha256(self.describe().encode()).hexdigest()[:40]
        return f"f{FORMAT_VERSION}-{digest}"


def default_catalog(
    analyzers: Sequence[Analyzer] | None = None, fact_finders: Sequence[FactFinder] | None = None
) -> Catalog:
    """The scanner's participants: OS package databases (dpkg, apk, rpm), language packages
    (Python, npm, Go binaries, Java archives, Ruby gemspecs) and the OS release and Debian
    copyright facts. Fresh instances each call (the analysers hold no state between files)."""
    if analyzers is None:
        analyzers = (
            DpkgAnalyzer(),
            ApkAnalyzer(),
            RpmAnalyzer(),
            PythonAnalyzer(),
            NpmAnalyzer(),
            GoBinaryAnalyzer(),
            JavaArchiveAnalyzer(),
            GemspecAnalyzer(),
        )
    if fact_finders is None:
        fact_finders = (OsReleaseFinder(), DpkgCopyrightFinder())
    catalog = Catalog(tuple(analyzers), tuple(fact_finders))
    catalog.participants()  # refuses duplicate names now rather than at the first scan
    return catalog
