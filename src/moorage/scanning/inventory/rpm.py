"""rpm: the installed packages of Red Hat, CentOS, Fedora, SUSE, Mariner … from the rpm database.

The database is at ``var/lib/rpm/`` or ``usr/lib/sysimage/rpm/`` (rpm ≥ 4.16, where
``var/lib/rpm`` is often a symlink to it) in one of three formats, told apart by their first
bytes, not their names: SQLite ``rpmdb.sqlite`` (RHEL 9, Fedora ≥ 33, Mariner; read with the
``sqlite3`` module), Berkeley DB ``Packages`` (RHEL ≤ 8; ``rpm_bdb``) and NDB ``Packages.db``
(SUSE; ``rpm_ndb``). Each holds one header blob per package (``rpm_header``).

A package: ``name``, ``version`` = ``[epoch:]version-release`` (``epoch`` and ``release`` also
apart), ``arch``, the source RPM's name and version (``util-linux-2.32.1-42.el8_8.src.rpm`` →
``util-linux``, ``2.32.1-42.el8_8``; a source RPM's file name never carries the epoch, so the
binary's epoch is put in front, as rpm builds both from one spec), the ``LICENSE`` string as
written (one expression: ``GPLv2+ and LGPLv2+``), ``VENDOR``, ``MODULARITYLABEL`` and the
installed size (``LONGSIZE``, else ``SIZE``). ``gpg-pubkey`` entries are signing keys rpm keeps
in its database, not software, and are left out (as trivy does).

The SQLite file is copied to a private temporary file and opened read-only and immutable, with
``trusted_schema`` off and a progress budget, and ``Packages`` must be a table (not a view of
some other query); any SQLite error makes the database unreadable (``ValueError``).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import IO, ClassVar

from moorage.scanning.inventory import rpm_header as tags
from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.rpm_bdb import bdb_values, is_bdb_hash
from moorage.scanning.inventory.rpm_header import RpmHeader, parse_header
from moorage.scanning.inventory.rpm_ndb import is_ndb, ndb_blobs

DIRECTORIES = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
FILES = frozenset({"Packages", "Packages.db", "rpmdb.sqlite"})
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_STEPS = 50_000_000
"""SQLite virtual-machine steps allowed for reading one database (far above any real one)."""


class RpmAnalyzer:
    name: ClassVar[str] = "rpm"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        directory, _, base = path.rpartition("/")
        return base in FILES and f"{directory}/" in DIRECTORIES

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        head = file.read(512)
        if head.startswith(SQLITE_MAGIC):
            blobs: Generator[bytes, None, None] = _sqlite_blobs(file)
        elif is_ndb(head):
            blobs = ndb_blobs(file, size)
        elif is_bdb_hash(head):
            blobs = bdb_values(file, size)
        elif not head:
            return []
        else:
            raise ValueError("not an rpm database (neither SQLite, Berkeley DB nor NDB)")
        packages: list[Package] = []
        with contextlib.closing(blobs):
            for number, blob in enumerate(blobs):
                if len(blob) <= 8:
                    continue  # Berkeley DB's record 0: rpm's next-instance counter, no header
                try:
                    header = parse_header(blob)
                except ValueError as exc:
                    raise ValueError(f"rpm database entry {number}: {exc}") from exc
                package = header_package(header, path)
                if package is not None:
                    packages.append(package)
        return packages


def header_package(header: RpmHeader, path: str) -> Package | None:
    name = header.string(tags.NAME)
    version = header.string(tags.VERSION)
    release = header.string(tags.RELEASE)
    if not name or version is None or name == "gpg-pubkey":
        return None
    epoch = header.integer(tags.EPOCH)
    evr = f"{version}-{release}" if release else version
    if epoch is not None:
        evr = f"{epoch}:{evr}"
    source_rpm = header.string(tags.SOURCERPM)
    source_name, source_version = split_source_rpm(source_rpm) if source_rpm else (None, None)
    if source_version is not None and epoch is not None:
        source_version = f"{epoch}:{source_version}"
    licence = header.string(tags.LICENSE)
    sigmd5 = header.binary(tags.SIGMD5)
    metadata = {
        "summary": header.string(tags.SUMMARY),
        "source_rpm": source_rpm,
        "sigmd5": sigmd5.hex() if sigmd5 else None,
    }
    return Package(
        type="rpm",
        name=name,
        version=evr,
        path=path,
        source_name=source_name,
        source_version=source_version,
        arch=header.string(tags.ARCH),
        licenses=(licence,) if licence else (),
        epoch=epoch,
        release=release,
        modularity_label=header.string(tags.MODULARITYLABEL) or None,
        vendor=header.string(tags.VENDOR) or None,
        installed_size=header.integer(tags.LONGSIZE) or header.integer(tags.SIZE),
        metadata=tuple(sorted((k, v) for k, v in metadata.items() if v)),
    )


def split_source_rpm(filename: str) -> tuple[str | None, str | None]:
    """``util-linux-2.32.1-42.el8_8.src.rpm`` → (``util-linux``, ``2.32.1-42.el8_8``)."""
    stem = filename
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return None, None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None, None
    return parts[0], f"{parts[1]}-{parts[2]}"


def _sqlite_blobs(file: IO[bytes]) -> Generator[bytes, None, None]:
    with tempfile.TemporaryDirectory(prefix="moorage-rpmdb-") as directory:
        copy = Path(directory) / "rpmdb.sqlite"
        file.seek(0)
        with copy.open("wb") as out:
            shutil.copyfileobj(file, out, 1024 * 1024)
        steps = 0

        def budget() -> int:
            nonlocal steps
            steps += 1000
            return 1 if steps > SQLITE_STEPS else 0

        uri = f"{copy.as_uri()}?mode=ro&immutable=1"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                db.set_progress_handler(budget, 1000)
                db.execute("PRAGMA trusted_schema = OFF")
                db.execute("PRAGMA cell_size_check = ON")
                kind = db.execute(
                    "SELECT type FROM sqlite_master WHERE name = 'Packages'"
                ).fetchone()
                if kind is None or kind[0] != "table":
                    raise ValueError("SQLite file has no Packages table: not an rpm database")
                for (blob,) in db.execute("SELECT blob FROM Packages ORDER BY hnum"):
                    if not isinstance(blob, bytes):
                        raise ValueError("rpm SQLite database holds a header that is not a blob")
                    yield blob
        except sqlite3.Error as exc:
            raise ValueError(f"rpm SQLite database is unreadable: {exc}") from exc
