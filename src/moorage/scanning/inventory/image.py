"""An image's inventory: its layers' findings merged as a container sees the file system.

Layers are applied bottom to top with the OCI image layer rules: a layer's whiteout removes
the path (and everything under it) from the layers below, an opaque directory hides everything
the layers below had under it, and then the layer's own entries go on top: a file replaces what
was at its path and anything below that path (a file over a directory), a symlink likewise.
Whiteouts apply only to lower layers, never to entries of their own layer.

Each package is attributed to the layer that introduced it: for a database file that every
layer rewrites (``var/lib/dpkg/status``), the first layer in which that package (the same name,
version and fields) is present and stays present in every layer up to the top; a package
removed in layer 5 is gone, one reinstalled later is attributed to its new layer.

Then, from the visible files: the OS (``osrelease.detect_os``, symlinks such as
``etc/os-release → ../usr/lib/os-release`` followed through the image), the Debian packages'
licences from their ``copyright`` files, and the files a participant could not read (so a scan
can say which database was damaged instead of reporting nothing).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from moorage.scanning.inventory.dpkg import DpkgCopyrightFinder, with_copyright_licenses
from moorage.scanning.inventory.layers import FileFindings, LayerInventory
from moorage.scanning.inventory.model import Facts, Package
from moorage.scanning.inventory.osrelease import OsInfo, OsReleaseFinder, detect_os

MAX_SYMLINK_HOPS = 40
"""The kernel's limit on symlinks followed while resolving one path."""


@dataclass(frozen=True)
class ImagePackage:
    package: Package
    layer_index: int
    """Position of the introducing layer in the image's layer list (0 = the base)."""
    layer_digest: str


@dataclass
class ImageInventory:
    packages: list[ImagePackage]
    os: OsInfo | None
    unreadable: dict[str, dict[str, str]] = field(default_factory=dict)
    """Visible path → participant name → why it could not read the file."""


@dataclass
class _Visible:
    layer: int
    findings: FileFindings
    since: dict[Package, int]
    """Each package at this path → the layer since which it has been continuously present."""


class _Tree:
    """The merged view: wanted files and symlinks a container would see, layer by layer."""

    def __init__(self) -> None:
        self.files: dict[str, _Visible] = {}
        self.symlinks: dict[str, str] = {}

    def apply(self, index: int, layer: LayerInventory) -> None:
        whiteouts = set(layer.whiteouts)
        # Below any of these, nothing of the lower layers stays: a removed path, an opaque
        # directory, a file or a symlink that now stands where a directory was.
        covering = whiteouts | set(layer.opaque_dirs) | set(layer.files) | set(layer.symlinks)
        everything = "" in layer.opaque_dirs
        for view, replaced_by in ((self.files, layer.symlinks), (self.symlinks, layer.files)):
            for path in list(view):
                exact = path in whiteouts or path in replaced_by
                if everything or exact or _under_any(path, covering):
                    del view[path]
        for path, findings in layer.files.items():
            before = self.files.get(path)
            since: dict[Package, int] = {}
            for package in findings.all_packages():
                kept = before.since.get(package) if before is not None else None
                since[package] = kept if kept is not None else index
            self.files[path] = _Visible(index, findings, since)
        self.symlinks.update(layer.symlinks)

    def resolve(self, path: str) -> str | None:
        """``path`` with every symlink on the way followed, or None for a loop."""
        parts = path.split("/")
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            candidate = "/".join([*done, part])
            target = self.symlinks.get(candidate)
            if target is None:
                done.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            base = "" if target.startswith("/") else "/".join(done)
            joined = posixpath.normpath(posixpath.join("/", base, target)).lstrip("/")
            parts = [*(p for p in joined.split("/") if p), *parts]
            done = []
        return "/".join(done)

    def found(self, finder: str, path: str) -> tuple[str, Facts] | None:
        """The file ``path`` resolves to and ``finder``'s facts there, if visible."""
        real = self.resolve(path)
        visible = self.files.get(real) if real is not None else None
        facts = visible.findings.facts.get(finder) if visible is not None else None
        return (real, facts) if real is not None and facts is not None else None

    def facts(self, finder: str, path: str) -> Facts | None:
        found = self.found(finder, path)
        return found[1] if found is not None else None

    def lookup(self, finder: str) -> Callable[[str], tuple[str, Facts] | None]:
        return lambda path: self.found(finder, path)


def _under_any(path: str, directories: set[str]) -> bool:
    """Whether some proper ancestor of ``path`` is in ``directories``."""
    parent = path
    while "/" in parent:
        parent = parent.rsplit("/", 1)[0]
        if parent in directories:
            return True
    return False


def merge_layers(layers: Sequence[tuple[str, LayerInventory]]) -> ImageInventory:
    """The image's inventory from its layers, base first, each with its digest."""
    tree = _Tree()
    for index, (_digest, inventory) in enumerate(layers):
        tree.apply(index, inventory)
    packages: list[ImagePackage] = []
    unreadable: dict[str, dict[str, str]] = {}
    for path in sorted(tree.files):
        visible = tree.files[path]
        if visible.findings.errors:
            unreadable[path] = dict(visible.findings.errors)
        found = with_copyright_licenses(
            visible.findings.all_packages(),
            lambda doc: tree.facts(DpkgCopyrightFinder.name, doc),
        )
        original = visible.findings.all_packages()
        for package, before in zip(found, original, strict=True):
            since = visible.since.get(before, visible.layer)
            packages.append(ImagePackage(package, since, layers[since][0]))
    return ImageInventory(packages, detect_os(tree.lookup(OsReleaseFinder.name)), unreadable)
