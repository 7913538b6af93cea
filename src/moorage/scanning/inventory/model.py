"""The inventory's vocabulary: a package found in a layer, and the analyser contract.

An analyser looks at one file at a time, chosen by its path (and mode and size), and says which
packages the file records. Paths are relative to the layer's root, without a leading ``/`` or
``./`` (``var/lib/dpkg/status``). Package types are Package URL types (``deb``, ``apk``,
``rpm``, ``pypi``, ``npm``, ``golang``, ``maven``, ``gem``); the vulnerability ecosystem an OS
package belongs to (``Debian:12``, ``Alpine:v3.18``) is decided from the image's OS, not by the
analyser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, ClassVar, Protocol


@dataclass(frozen=True)
class Package:
    """One installed piece of software, as the file that records it says."""

    type: str
    name: str
    version: str
    path: str
    """The file that records the package (for a nested jar: ``outer.jar!inner.jar``)."""
    source_name: str | None = None
    """dpkg ``Source``, apk ``origin``, the rpm's source RPM name: what advisories name."""
    source_version: str | None = None
    arch: str | None = None
    licenses: tuple[str, ...] = ()
    epoch: int | None = None
    """rpm and dpkg epochs, also kept inside ``version`` for dpkg (``1:2.5.1-4``)."""
    release: str | None = None
    """rpm release; ``version`` then holds ``[epoch:]version-release``."""
    namespace: str | None = None
    """Maven group ID, npm scope without the ``@`` … (the purl namespace)."""
    modularity_label: str | None = None
    dependencies: tuple[str, ...] = field(default=(), compare=False)
    vendor: str | None = None
    """rpm ``VENDOR`` (``Red Hat, Inc.``): tells a distribution's build from a third party's."""
    maintainer: str | None = None
    installed_size: int | None = None
    """Bytes on disk as the package database says (dpkg's ``Installed-Size`` is in KiB)."""
    metadata: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """Other fields of the record as sorted (key, value) pairs (dpkg ``status``, apk ``commit``)."""


class Analyzer(Protocol):
    """Finds packages in the files of a layer; a new ``version`` invalidates cached results."""

    name: ClassVar[str]
    version: ClassVar[int]

    def wants(self, path: str, mode: int, size: int) -> bool:
        """Whether the file at ``path`` (its tar mode bits and size) should be handed over."""
        ...

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        """The packages the file records; ``file`` is seekable and positioned at 0.

        A file that is not what the path suggested (not ELF, not a jar) gives ``[]``; a file that
        is what it claims but unreadable raises ``ValueError`` with the reason.
        """
        ...


Facts = dict[str, str | list[str]]
"""JSON-able facts a file states that are not packages: ``{"ID": "debian", "VERSION_ID": "12"}``."""


class FactFinder(Protocol):
    """Reads facts that are not packages from a file (the OS release, a package's licences).

    The layer reader hands files to fact finders as it does to analysers; the image merge sees
    the facts of the files a container would see, so a package's licences can come from a second
    file (``usr/share/doc/<package>/copyright``) and the OS from ``etc/os-release``.
    """

    name: ClassVar[str]
    version: ClassVar[int]

    def wants(self, path: str, mode: int, size: int) -> bool: ...

    def find(self, path: str, file: IO[bytes], size: int) -> Facts:
        """The facts the file states (``{}`` for none); ``ValueError`` when it is unreadable."""
        ...
