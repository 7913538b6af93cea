"""The layer reader: real tar layers (gzip, zstd, plain) with whiteouts, links and bad input."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
import tracemalloc
from typing import IO, ClassVar

import pytest
import zstandard

from moorage.errors import LayerInvalid
from moorage.scanning.inventory.layers import LayerInventory, normalize_path, read_layer
from moorage.scanning.inventory.model import Package
from tests.scanning.inventory.layer_tars import (
    DATA,
    Dir,
    File,
    HardLink,
    Opaque,
    Symlink,
    Whiteout,
    compress,
    fixture_entries,
    layer,
    read,
    tar_bytes,
)

STATUS = b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


class Recorder:
    """An analyser that records what it was handed and reports one package per file."""

    name: ClassVar[str] = "recorder"
    version: ClassVar[int] = 3

    def __init__(self, suffix: str = ".pkg", fail: bool = False) -> None:
        self.suffix = suffix
        self.fail = fail
        self.seen: list[tuple[str, bytes, int]] = []

    def wants(self, path: str, mode: int, size: int) -> bool:
        return path.endswith(self.suffix)

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        data = file.read()
        self.seen.append((path, data, size))
        if self.fail:
            raise ValueError("this file is damaged")
        return [Package("generic", path.rsplit("/", 1)[-1], str(len(data)), path)]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_each_compression_is_read_by_its_magic_bytes(compression: str) -> None:
    blob = layer(
        File("var/lib/dpkg/status", STATUS),
        File("etc/os-release", OS_RELEASE),
        File("usr/bin/other", b"\x7fELF"),
        compression=compression,  # type: ignore[arg-type]
    )
    inventory = read(blob)
    assert set(inventory.files) == {"var/lib/dpkg/status", "etc/os-release"}
    (package,) = inventory.files["var/lib/dpkg/status"].packages["dpkg"]
    assert (package.name, package.version, package.epoch) == ("zlib1g", "1:1.2.13.dfsg-1", 1)
    assert inventory.files["etc/os-release"].facts["os-release"]["VERSION_CODENAME"] == "bookworm"
    assert inventory.participants == {
        "dpkg": 1,
        "apk": 1,
        "rpm": 1,
        "os-release": 1,
        "dpkg-copyright": 1,
    }


def test_multi_frame_zstd_and_multi_member_gzip_are_read_whole() -> None:
    first = tar_bytes([File("a.pkg", b"one")], end_marker=False)
    rest = tar_bytes([File("b.pkg", b"two")])
    zstd = zstandard.ZstdCompressor()
    recorder = Recorder()
    for blob in (
        zstd.compress(first) + zstd.compress(rest),
        gzip.compress(first) + gzip.compress(rest),
    ):
        recorder.seen.clear()
        read_layer(io.BytesIO(blob), [recorder])
        assert [(p, d) for p, d, _ in recorder.seen] == [("a.pkg", b"one"), ("b.pkg", b"two")]


def test_gzip_members_padding_and_what_follows_the_last_member() -> None:
    """As ``gzip.GzipFile`` reads them: members one after another in reads of any size, zero
    padding after the last allowed, anything else after it refused."""
    files = [File(f"var/lib/dpkg/status.d/p{i}", STATUS) for i in range(40)]
    blob = gzip.compress(tar_bytes(files), compresslevel=1)
    cut = len(blob) // 3
    whole = read(blob)
    # A large member split over two members, and 1 MiB of zeros after: the same inventory.
    tar = tar_bytes(files)
    split = gzip.compress(tar[: len(tar) // 2]) + gzip.compress(tar[len(tar) // 2 :])
    assert read(split + b"\0" * (1024 * 1024)) == whole
    with pytest.raises(LayerInvalid, match="gzip layer is corrupt: data after its last member"):
        read(blob + b"\0\0junk")
    with pytest.raises(LayerInvalid, match="gzip layer is corrupt"):
        read(blob + gzip.compress(b"x")[:3] + b"\xff" * 64)  # a second member's bad header
    with pytest.raises(LayerInvalid, match="truncated"):
        read(blob[:cut])


def test_whiteouts_opaque_dirs_and_symlinks_are_recorded() -> None:
    inventory = read(
        layer(
            Whiteout("var/lib/dpkg/status.d/foo"),
            Whiteout("top-level"),
            Opaque("usr/lib/python3/dist-packages"),
            Opaque(""),
            Symlink("etc/os-release", "../usr/lib/os-release"),
            File(".wh..wh.plnk/123.456", b"aufs hard-link store"),
        )
    )
    assert inventory.whiteouts == ["var/lib/dpkg/status.d/foo", "top-level"]
    assert inventory.opaque_dirs == ["usr/lib/python3/dist-packages", ""]
    assert inventory.symlinks == {"etc/os-release": "../usr/lib/os-release"}
    assert inventory.files == {}


def test_paths_are_normalised_and_a_later_member_replaces_an_earlier() -> None:
    recorder = Recorder()
    inventory = read_layer(
        io.BytesIO(
            layer(
                File("./opt/a.pkg", b"first"),
                File("/opt//x/../a.pkg", b"second!"),
                File("opt/b.pkg", b"b"),
                Symlink("opt/b.pkg", "a.pkg"),
            )
        ),
        [recorder],
    )
    assert [p for p, _, _ in recorder.seen] == ["opt/a.pkg", "opt/a.pkg", "opt/b.pkg"]
    assert set(inventory.files) == {"opt/a.pkg"}
    assert inventory.files["opt/a.pkg"].packages["recorder"][0].version == "7"
    assert inventory.symlinks == {"opt/b.pkg": "a.pkg"}
    assert normalize_path("./a/./b/../c/") == "a/c"


@pytest.mark.parametrize("name", ["../etc/passwd", "a/../../etc/passwd", "./../x"])
def test_a_member_outside_the_root_is_refused(name: str) -> None:
    with pytest.raises(LayerInvalid, match="outside the layer root"):
        read(layer(File("ok", b""), File(name, b"root::0:0")))


def test_a_hard_link_escaping_the_root_is_refused() -> None:
    with pytest.raises(LayerInvalid, match="outside the layer root"):
        read(layer(HardLink("var/lib/dpkg/status", "../../host/status")))


def test_hard_links_share_what_their_target_holds() -> None:
    recorder = Recorder()
    inventory = read_layer(
        io.BytesIO(
            layer(
                File("db/real.pkg", b"12345"),
                HardLink("db/link.pkg", "db/real.pkg"),
                File("db/unread.txt", b"x"),
                HardLink("db/orphan.pkg", "db/unread.txt"),
            )
        ),
        [recorder],
    )
    assert len(recorder.seen) == 1  # the linked bytes are not read twice
    (linked,) = inventory.files["db/link.pkg"].packages["recorder"]
    assert (linked.path, linked.version) == ("db/link.pkg", "5")
    assert inventory.files["db/orphan.pkg"].errors == {
        "recorder": "hard link to 'db/unread.txt', which was not read"
    }


def test_an_unreadable_file_is_recorded_with_the_analysers_reason() -> None:
    inventory = read_layer(io.BytesIO(layer(File("x.pkg", b"junk"))), [Recorder(fail=True)])
    assert inventory.files["x.pkg"].errors == {"recorder": "this file is damaged"}
    assert inventory.files["x.pkg"].packages == {}


def test_a_file_over_the_cap_is_not_read_but_recorded() -> None:
    recorder = Recorder()
    inventory = read_layer(
        io.BytesIO(layer(File("big.pkg", b"x" * 5000), File("small.pkg", b"y"))),
        [recorder],
        max_file_size=4096,
    )
    assert [p for p, _, _ in recorder.seen] == ["small.pkg"]
    assert inventory.files["big.pkg"].errors == {
        "recorder": "file is 5000 bytes, over the 4096-byte limit"
    }


def test_a_file_larger_than_the_memory_spool_is_read_from_disk() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    recorder = Recorder()
    read_layer(io.BytesIO(layer(File("big.pkg", data))), [recorder], spool_memory=64 * 1024)
    assert recorder.seen == [("big.pkg", data, len(data))]


def test_the_inventory_round_trips_through_json() -> None:
    blob = layer(
        *fixture_entries(DATA / "dpkg" / "ubuntu-18.04-trivy-valid"),
        *fixture_entries(DATA / "rpm" / "sles15-bci-ndb"),
        File("etc/os-release", OS_RELEASE),
        Whiteout("etc/gone"),
        Opaque("opt"),
        Symlink("lib", "usr/lib"),
        File("var/lib/rpm/Packages", b"not a database"),
    )
    inventory = read(blob)
    text = json.dumps(inventory.to_dict(), sort_keys=True)
    again = LayerInventory.from_dict(json.loads(text))
    assert again == inventory
    assert json.dumps(again.to_dict(), sort_keys=True) == text
    assert inventory.files["var/lib/rpm/Packages"].errors["rpm"].startswith("not an rpm database")
    with pytest.raises(ValueError, match="format"):
        LayerInventory.from_dict({**inventory.to_dict(), "format": 99})


def test_an_empty_layer_is_an_empty_inventory() -> None:
    assert read(gzip.compress(b"\0" * 1024)) == read(layer())
    assert read(layer()).files == {}


def test_an_empty_blob_is_refused() -> None:
    with pytest.raises(LayerInvalid, match="empty"):
        read(b"")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_layer_cut_in_the_middle_of_a_file_is_refused(compression: str) -> None:
    blob = compress(tar_bytes([File("var/lib/dpkg/status", STATUS * 400)]), compression)  # type: ignore[arg-type]
    with pytest.raises(LayerInvalid, match=r"truncated|cut short|unexpected end"):
        read(blob[: len(blob) // 2])


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_a_tar_cut_between_members_is_refused(compression: str) -> None:
    """Without its end blocks a tar looks complete to tarfile: the reader still says why not."""
    blob = compress(tar_bytes([File("a", b"1"), File("b", b"2")], end_marker=False), compression)  # type: ignore[arg-type]
    with pytest.raises(LayerInvalid, match="end-of-archive"):
        read(blob)


def test_a_truncated_gzip_trailer_is_refused() -> None:
    blob = layer(File("etc/os-release", OS_RELEASE))
    with pytest.raises(LayerInvalid, match="truncated"):
        read(blob[:-4])


def test_a_corrupt_gzip_crc_is_refused() -> None:
    blob = bytearray(layer(File("etc/os-release", OS_RELEASE)))
    blob[-8] ^= 0xFF  # the CRC-32 in the trailer
    with pytest.raises(LayerInvalid, match="gzip layer is corrupt"):
        read(bytes(blob))


def test_garbage_is_not_a_tar() -> None:
    with pytest.raises(LayerInvalid, match="not a readable tar"):
        read(b"this is not a tar archive at all" * 40)
    with pytest.raises(LayerInvalid, match="gzip layer is corrupt"):
        read(b"\x1f\x8b" + b"\xff" * 100)
    with pytest.raises(LayerInvalid, match="zstd layer is corrupt"):
        read(b"\x28\xb5\x2f\xfd" + b"\xff" * 100)


def test_xz_and_bzip2_are_refused_by_name() -> None:
    with pytest.raises(LayerInvalid, match="xz"):
        read(b"\xfd7zXZ\x00\x00\x04")
    with pytest.raises(LayerInvalid, match="bzip2"):
        read(b"BZh91AY&SY")


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_a_claimed_2_gib_file_is_refused_in_bounded_memory() -> None:
    """The header says 2 GiB; the bytes stop after 256 KiB of a wanted file: an error, no 2 GiB."""
    blob = gzip.compress(_header("var/lib/dpkg/status", 2 * 1024**3) + b"P" * 256 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(LayerInvalid, match=r"unexpected end of data|truncated"):
            read(blob, max_file_size=64 * 1024 * 1024)
        with pytest.raises(LayerInvalid, match=r"unexpected end of data|truncated"):
            read(blob, max_file_size=3 * 1024**3)  # under the cap: copied, then cut short
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


def test_a_petabyte_claimed_by_a_pax_header_ends_at_the_real_end() -> None:
    """tarfile alone would loop for days skipping 10**15 bytes of a stream that has ended."""
    for name in ("usr/share/unwanted", "var/lib/dpkg/status"):
        pax = tarfile.TarInfo(name)
        pax.pax_headers = {"size": str(10**15)}
        blob = gzip.compress(pax.tobuf(format=tarfile.PAX_FORMAT) + b"x" * 4096)
        started = time.monotonic()
        with pytest.raises(LayerInvalid, match="truncated"):
            read(blob)
        assert time.monotonic() - started < 5


def test_a_huge_pax_header_is_refused_before_it_is_read() -> None:
    bomb = gzip.compress(_header("././@PaxHeader", 1024**3, tarfile.XHDTYPE) + b"\0" * 10 * 1024**2)
    tracemalloc.start()
    try:
        with pytest.raises(LayerInvalid, match="metadata"):
            read(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


def test_many_members_do_not_accumulate() -> None:
    entries = [File(f"usr/share/f{i}", b"") for i in range(6000)]
    blob = layer(*entries, File("var/lib/dpkg/status", STATUS))
    tracemalloc.start()
    try:
        inventory = read(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(inventory.files) == ["var/lib/dpkg/status"]
    assert peak < 3 * 1024 * 1024  # 1.5 MiB measured; 6,000 TarInfo objects kept add 3 MiB


def test_directories_and_devices_are_not_recorded() -> None:
    inventory = read(layer(Dir("var/lib/dpkg"), Dir("./"), File("dev/null", b"")))
    assert inventory.files == {} and inventory.symlinks == {}
