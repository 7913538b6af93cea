"""rpm: SQLite, Berkeley DB and NDB databases, their header blobs, and what damage does."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from moorage.scanning.inventory import rpm_header as tags
from moorage.scanning.inventory.model import Package
from moorage.scanning.inventory.rpm import RpmAnalyzer, split_source_rpm
from moorage.scanning.inventory.rpm_bdb import bdb_values
from moorage.scanning.inventory.rpm_header import parse_header
from tests.scanning.inventory.layer_tars import (
    DATA,
    File,
    Symlink,
    cases,
    expected,
    fixture_entries,
    image,
    layer,
)

CASES = cases("rpm")
ANALYZER = RpmAnalyzer()


def scanned(case: Path) -> dict[str, Package]:
    inventory = image(layer(*fixture_entries(case)))
    assert inventory.unreadable == {}
    packages = [p.package for p in inventory.packages]
    named = {p.name: p for p in packages}
    assert len(named) == len(packages)
    return named


def _same(package: Package, entry: dict[str, Any]) -> None:
    evr = f"{entry['version']}-{entry['release']}"
    if entry["epoch"] is not None:
        evr = f"{entry['epoch']}:{evr}"
    assert (package.type, package.version, package.epoch, package.release, package.arch) == (
        "rpm",
        evr,
        entry["epoch"],
        entry["release"],
        entry["arch"],
    )
    metadata = dict(package.metadata)
    assert metadata["source_rpm"] == entry["source_rpm"]
    source_name, source_version = split_source_rpm(entry["source_rpm"])
    if entry["epoch"] is not None:
        source_version = f"{entry['epoch']}:{source_version}"
    assert (package.source_name, package.source_version) == (source_name, source_version)
    licence = entry.get("license") or (entry.get("licenses") or [None])[0]
    assert package.licenses == (licence,)
    for field, attribute in (("vendor", "vendor"), ("size", "installed_size")):
        if entry.get(field):
            assert getattr(package, attribute) == entry[field]
    if "modularitylabel" in entry:
        assert package.modularity_label == (entry["modularitylabel"] or None)
    for field in ("summary", "sigmd5"):
        if field in entry:
            assert metadata[field] == entry[field]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_fixture_matches_its_oracle(case: Path) -> None:
    want = expected(case)
    got = scanned(case)
    assert set(got) == {p["name"] for p in want["packages"]}
    for entry in want["packages"]:
        _same(got[entry["name"]], entry)
    for entry in want.get("rpm_reference", {}).get("packages", []):  # rpm 4.18 on the same file
        _same(got[entry["name"]], entry)


@pytest.mark.parametrize("case", [c for c in CASES if "go_rpmdb_want" in expected(c)])
def test_the_details_go_rpmdb_asserts(case: Path) -> None:
    want = expected(case)["go_rpmdb_want"]
    package = scanned(case)[want["Name"]]
    metadata = dict(package.metadata)
    assert package.version.endswith(f"{want['Version']}-{want['Release']}")
    assert (package.arch, package.licenses, package.vendor) == (
        want["Arch"],
        (want["License"],),
        want["Vendor"],
    )
    assert (package.installed_size, metadata["source_rpm"]) == (want["Size"], want["SourceRpm"])
    assert (metadata["summary"], metadata["sigmd5"]) == (want["Summary"], want["SigMD5"])


def test_a_symlinked_var_lib_rpm_is_not_read_twice() -> None:
    ndb = DATA / "rpm" / "sles15-bci-ndb" / "usr" / "lib" / "sysimage" / "rpm" / "Packages.db"
    inventory = image(
        layer(
            File("usr/lib/sysimage/rpm/Packages.db", ndb.read_bytes()),
            Symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
        )
    )
    assert len(inventory.packages) == 35
    assert {p.package.path for p in inventory.packages} == {"usr/lib/sysimage/rpm/Packages.db"}


RPMBUILD = shutil.which("rpmbuild")
SPEC = """Name: {name}
{epoch}Version: {version}
Release: {release}
Summary: Moorage test package {name}
License: {license}
{vendor}{label}BuildArch: noarch

%description
A package built by the test.

%files
"""


@pytest.mark.skipif(RPMBUILD is None, reason="rpmbuild (Debian package rpm) is not installed")
def test_a_database_written_by_rpm_itself(tmp_path: Path) -> None:
    """rpm 4.18 builds packages and installs them into a fresh SQLite rpmdb; its own listing
    (rpm -qa) is the oracle for what the analyser reads from the same file."""
    db = tmp_path / "db"
    specs = [
        dict(name="hello", epoch="Epoch: 3\n", version="1.2.3", release="4.el9",
             license="MIT AND (Apache-2.0 OR BSD-3-Clause)", vendor="Vendor: Moorage Test\n",
             label="ModularityLabel: perl:5.32:8060020220513051612:a10ee3a5\n"),
        dict(name="plain", epoch="", version="0.9~rc1", release="1", license="GPL-2.0-or-later",
             vendor="", label=""),
    ]  # fmt: skip
    for spec in specs:
        path = tmp_path / f"{spec['name']}.spec"
        path.write_text(SPEC.format(**spec))
        _run("rpmbuild", "--define", f"_topdir {tmp_path / 'top'}", "-bb", str(path))
    _run("rpm", "--dbpath", str(db), "--initdb")
    built = sorted(str(p) for p in (tmp_path / "top" / "RPMS").rglob("*.rpm"))
    _run("rpm", "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--noscripts", *built)
    listing = _run(
        "rpm", "--dbpath", str(db), "-qa", "--qf",
        "%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}|%{VENDOR}"
        "|%{MODULARITYLABEL}\\n",
    )  # fmt: skip
    data = (db / "rpmdb.sqlite").read_bytes()
    got = {p.name: p for p in ANALYZER.analyze("var/lib/rpm/rpmdb.sqlite", io.BytesIO(data), 0)}
    assert len(got) == len(listing.splitlines()) == 2
    for line in listing.splitlines():
        name, epoch, version, release, arch, source, licence, vendor, label = line.split("|")
        package = got[name]
        evr = f"{version}-{release}" if epoch == "0" else f"{epoch}:{version}-{release}"
        assert (package.version, package.arch, package.licenses) == (evr, arch, (licence,))
        assert dict(package.metadata)["source_rpm"] == source
        assert package.vendor == (None if vendor == "(none)" else vendor)
        assert package.modularity_label == (None if label == "(none)" else label)


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def header(*entries: tuple[int, int, bytes, int], extra: bytes = b"") -> bytes:
    """A header blob of (tag, type, data, count) entries, each value aligned to 8 bytes."""
    index, store = b"", b""
    for tag, kind, value, count in entries:
        store += b"\0" * (-len(store) % 8)
        index += struct.pack(">iIiI", tag, kind, len(store), count)
        store += value
    return struct.pack(">II", len(entries), len(store)) + index + store + extra


def string(tag: int, text: str) -> tuple[int, int, bytes, int]:
    return (tag, tags.STRING, text.encode() + b"\0", 1)


def basic(name: str = "openssl-libs") -> list[tuple[int, int, bytes, int]]:
    return [
        string(tags.NAME, name),
        string(tags.VERSION, "3.0.7"),
        string(tags.RELEASE, "24.el9"),
        (tags.EPOCH, tags.INT32, struct.pack(">I", 1), 1),
        string(tags.ARCH, "x86_64"),
        string(tags.SOURCERPM, "openssl-3.0.7-24.el9.src.rpm"),
        (tags.LONGSIZE, tags.INT64, struct.pack(">Q", 6 * 1024**3), 1),
        (tags.LICENSE, tags.I18NSTRING, b"ASL 2.0\0", 1),
    ]


def sqlite_db(tmp_path: Path, blobs: list[bytes], *, view: bool = False) -> bytes:
    path = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(path) as db:
        if view:
            db.execute("CREATE TABLE real (hnum INTEGER PRIMARY KEY, blob BLOB)")
            db.execute("CREATE VIEW Packages AS SELECT hnum, blob FROM real")
        else:
            db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        table = "real" if view else "Packages"
        db.executemany(f"INSERT INTO {table} (blob) VALUES (?)", [(b,) for b in blobs])
    db.close()
    return path.read_bytes()


def analyze(data: bytes) -> list[Package]:
    return ANALYZER.analyze("var/lib/rpm/rpmdb.sqlite", io.BytesIO(data), len(data))


def test_a_header_blob_and_its_dribble_entries(tmp_path: Path) -> None:
    dribble = [*basic(), string(tags.VENDOR, "Old"), string(tags.VENDOR, "Red Hat, Inc.")]
    (package,) = analyze(sqlite_db(tmp_path, [header(*dribble)]))
    assert (package.name, package.version, package.epoch) == ("openssl-libs", "1:3.0.7-24.el9", 1)
    assert (package.source_name, package.source_version) == ("openssl", "1:3.0.7-24.el9")
    assert (package.installed_size, package.licenses) == (6 * 1024**3, ("ASL 2.0",))
    assert package.vendor == "Red Hat, Inc."


def test_gpg_pubkeys_are_keys_not_packages(tmp_path: Path) -> None:
    key = header(string(tags.NAME, "gpg-pubkey"), string(tags.VERSION, "fd431d51"))
    got = analyze(sqlite_db(tmp_path, [key, header(*basic())]))
    assert [p.name for p in got] == ["openssl-libs"]


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (b"\0\0\0\2\0\0\0\0" + b"\0" * 8, "cut short"),
        (struct.pack(">II", 0x10000, 0), "index entries"),
        (struct.pack(">II", 1, 0x10000000), "claims"),
        (header((tags.NAME, tags.STRING, b"no terminator", 1)), "unterminated"),
        (header((tags.NAME, 42, b"x\0", 1)), "unknown type"),
        (header((tags.EPOCH, tags.INT32, b"\0\0\0\1", 4)), "runs past"),
        (header((tags.NAME, tags.STRING, b"a\0", 2)), "count 2"),
    ],
)
def test_a_damaged_header_says_what_is_wrong(blob: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_header(blob)


def test_a_header_offset_outside_its_data_is_refused() -> None:
    blob = bytearray(header(string(tags.NAME, "x")))
    struct.pack_into(">i", blob, 8 + 8, 1000)
    with pytest.raises(ValueError, match="outside its data"):
        parse_header(bytes(blob))
    struct.pack_into(">i", blob, 8 + 8, -5)
    with pytest.raises(ValueError, match="outside its data"):
        parse_header(bytes(blob))


def test_a_damaged_entry_makes_the_database_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rpm database entry 1: .*unterminated"):
        analyze(sqlite_db(tmp_path, [header(*basic()), header((tags.NAME, tags.STRING, b"x", 1))]))


def test_a_view_called_packages_is_not_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no Packages table"):
        analyze(sqlite_db(tmp_path, [header(*basic())], view=True))


def test_sqlite_that_is_not_rpm_and_damaged_sqlite(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text)")
    db.close()
    with pytest.raises(ValueError, match="no Packages table"):
        analyze(other.read_bytes())
    good = sqlite_db(tmp_path, [header(*basic())] * 50)
    with pytest.raises(ValueError, match="unreadable"):
        analyze(good[:100] + b"\xff" * (len(good) - 100))


def test_not_an_rpm_database() -> None:
    with pytest.raises(ValueError, match="not an rpm database"):
        analyze(b"just some text\n" * 100)
    assert analyze(b"") == []


def _bdb() -> bytearray:
    path = DATA / "rpm" / "ubi8-libuuid-bdb" / "var" / "lib" / "rpm" / "Packages"
    return bytearray(path.read_bytes())


def _overflow_pages(db: bytearray) -> list[int]:
    size = struct.unpack_from("<I", db, 20)[0]
    return [n for n in range(1, len(db) // size) if db[n * size + 25] == 7]


def test_bdb_overflow_chains_are_bounded() -> None:
    db = _bdb()
    page_size = struct.unpack_from("<I", db, 20)[0]
    pages = _overflow_pages(db)
    assert len(list(bdb_values(io.BytesIO(bytes(db)), len(db)))) >= 1
    looped = bytearray(db)
    first = pages[0]
    struct.pack_into("<I", looped, first * page_size + 16, first)  # next page: itself
    with pytest.raises(ValueError, match="chain breaks"):
        list(bdb_values(io.BytesIO(bytes(looped)), len(looped)))
    empty = bytearray(db)
    struct.pack_into("<H", empty, first * page_size + 22, 0)  # a page holding 0 bytes
    with pytest.raises(ValueError, match="holds 0 bytes"):
        list(bdb_values(io.BytesIO(bytes(empty)), len(empty)))


def test_bdb_damage_is_refused() -> None:
    db = _bdb()
    cut = bytes(db[: len(db) // 2])
    with pytest.raises(ValueError, match="claims"):
        list(bdb_values(io.BytesIO(cut), len(cut)))
    encrypted = bytearray(db)
    encrypted[24] = 1
    with pytest.raises(ValueError, match="encrypted"):
        list(bdb_values(io.BytesIO(bytes(encrypted)), len(encrypted)))
    odd = bytearray(db)
    struct.pack_into("<I", odd, 20, 1000)
    with pytest.raises(ValueError, match="page size"):
        list(bdb_values(io.BytesIO(bytes(odd)), len(odd)))


def test_ndb_damage_is_refused() -> None:
    path = DATA / "rpm" / "sles15-bci-ndb" / "usr" / "lib" / "sysimage" / "rpm" / "Packages.db"
    db = bytearray(path.read_bytes())
    bad_slot = bytearray(db)
    bad_slot[32:36] = b"Junk"
    with pytest.raises(ValueError, match="bad magic"):
        ANALYZER.analyze("usr/lib/sysimage/rpm/Packages.db", io.BytesIO(bytes(bad_slot)), len(db))
    many = bytearray(db)
    struct.pack_into("<I", many, 12, 100000)
    with pytest.raises(ValueError, match="slot pages"):
        ANALYZER.analyze("usr/lib/sysimage/rpm/Packages.db", io.BytesIO(bytes(many)), len(db))
    index, block = struct.unpack_from("<II", db, 32 + 4)
    moved = bytearray(db)
    struct.pack_into("<I", moved, 32 + 8, block + 1)
    with pytest.raises(ValueError, match="no blob where its slot points"):
        ANALYZER.analyze("usr/lib/sysimage/rpm/Packages.db", io.BytesIO(bytes(moved)), len(db))
    assert index != 0


def test_the_compressed_sqlite_fixture_is_the_original() -> None:
    """The shared fixture stores Mariner's rpmdb.sqlite gzip-compressed (see SOURCES.md)."""
    case = DATA / "rpm" / "cbl-mariner-2.0-sqlite"
    data = gzip.decompress((case / "var" / "lib" / "rpm" / "rpmdb.sqlite.gz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == expected(case)["original_sha256"]


def test_source_rpm_names() -> None:
    assert split_source_rpm("util-linux-2.32.1-42.el8_8.src.rpm") == (
        "util-linux",
        "2.32.1-42.el8_8",
    )
    assert split_source_rpm("kernel-5.14.0-362.el9.nosrc.rpm") == ("kernel", "5.14.0-362.el9")
    assert split_source_rpm("(none)") == (None, None)
    assert split_source_rpm("broken.src.rpm") == (None, None)
