"""The data folder is private: mode 0700 for it and every folder in it, 0600 for every file.

It holds the SQLite database (accounts, sealed secrets), ``secret.key`` and the blobs of private
repositories, so no other local user may read any of it. New installs are created that way
(``moorage`` runs with umask 077 and the storage driver sets its modes); ``secure`` fixes an
install made before, on every start, and says what it changed; ``loose_entries`` is what
``moorage check`` reports.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from moorage.storage.filesystem import DIR_MODE, FILE_MODE, make_private_dirs

log = logging.getLogger("moorage.cli")
_SHOWN = 10  # entries named in a log line or a check line


@dataclass(frozen=True, slots=True)
class Loose:
    path: Path
    mode: int
    wanted: int

    def describe(self, root: Path) -> str:
        name = "." if self.path == root else str(self.path.relative_to(root))
        return f"{name} {self.mode:04o}->{self.wanted:04o}"


def _wanted(st: os.stat_result) -> int | None:
    """The private mode for a folder or file (None: a link or a special file, left alone)."""
    if stat.S_ISDIR(st.st_mode):
        return DIR_MODE
    if stat.S_ISREG(st.st_mode):
        return FILE_MODE
    return None


def _entries(root: Path, deep: bool) -> Iterator[Path]:
    """The folder itself and what is in it; ``deep``: everything below, else two levels (the
    database files, ``secret.key``, ``storage/`` and its ``blobs/`` and ``uploads/``)."""
    yield root
    if deep:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in (*dirnames, *filenames):
                yield Path(dirpath, name)
        return
    for child in root.iterdir():
        yield child
        if child.is_dir() and not child.is_symlink():
            yield from child.iterdir()


def loose_entries(root: Path, *, deep: bool = True) -> list[Loose]:
    """Folders and files under ``root`` that others (group or world) may use, or that are more
    open to their owner than the private mode."""
    out: list[Loose] = []
    for path in _entries(root, deep):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        wanted = _wanted(st)
        mode = stat.S_IMODE(st.st_mode)
        if wanted is not None and mode & 0o077:
            out.append(Loose(path, mode, wanted))
    return out


def secure(root: Path) -> list[str]:
    """Create the data folder (0700), or make an existing one private; returns what changed.

    Once the folder itself is 0700 nobody else can reach anything in it, so the whole tree is
    walked only when the folder was open (an install from before this rule): later starts
    check the top two levels only and stay quick on a store of millions of blobs."""
    root = root.resolve()
    if not root.exists():
        make_private_dirs(root)
        return []
    deep = bool(stat.S_IMODE(root.stat().st_mode) & 0o077)
    changed: list[str] = []
    failed: list[str] = []
    for entry in loose_entries(root, deep=deep):
        try:
            os.chmod(entry.path, entry.wanted, follow_symlinks=False)
        except OSError as exc:
            failed.append(f"{entry.describe(root)} ({exc.strerror})")
            continue
        changed.append(entry.describe(root))
    if changed:
        log.warning(
            "made the data folder private: modes changed to 0700 (folders) and 0600 (files)",
            extra={"data": str(root), "changed": len(changed), "examples": changed[:_SHOWN]},
        )
    if failed:
        log.error(
            "could not make these data folder entries private",
            extra={"data": str(root), "failed": len(failed), "examples": failed[:_SHOWN]},
        )
    return changed
