"""Merging layer inventories as a container sees them: replacement, whiteouts, opaque dirs."""

from __future__ import annotations

from moorage.scanning.inventory.image import ImageInventory
from tests.scanning.inventory.layer_tars import (
    File,
    Opaque,
    Symlink,
    Whiteout,
    image,
    layer,
)

STATUS = "var/lib/dpkg/status"


def status(*packages: tuple[str, str]) -> File:
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        for name, version in packages
    ]
    return File(STATUS, "\n".join(stanzas).encode())


def stanza(name: str, version: str) -> bytes:
    return f"Package: {name}\nArchitecture: amd64\nVersion: {version}\n".encode()


def found(inventory: ImageInventory) -> dict[str, tuple[str, int]]:
    """name → (version, index of the introducing layer)."""
    return {p.package.name: (p.package.version, p.layer_index) for p in inventory.packages}


def test_a_package_installed_in_layer_2_and_removed_in_layer_5_is_gone() -> None:
    layers = [
        layer(status(("base-files", "12.4"))),
        layer(status(("base-files", "12.4"), ("curl", "7.88.1-10"))),
        layer(File("etc/motd", b"hello")),
        layer(status(("base-files", "12.4"), ("curl", "7.88.1-10"), ("jq", "1.6-2.1"))),
        layer(status(("base-files", "12.4"), ("jq", "1.6-2.1"))),
    ]
    assert found(image(*layers[:4])) == {
        "base-files": ("12.4", 0),
        "curl": ("7.88.1-10", 1),
        "jq": ("1.6-2.1", 3),
    }
    merged = image(*layers)
    assert found(merged) == {"base-files": ("12.4", 0), "jq": ("1.6-2.1", 3)}
    assert {p.layer_digest for p in merged.packages} == {f"sha256:{0:064x}", f"sha256:{3:064x}"}


def test_an_upgrade_is_attributed_to_the_layer_that_made_it() -> None:
    merged = image(
        layer(status(("openssl", "3.0.9-1"), ("zlib1g", "1:1.2.13.dfsg-1"))),
        layer(status(("openssl", "3.0.11-1~deb12u2"), ("zlib1g", "1:1.2.13.dfsg-1"))),
    )
    assert found(merged) == {"openssl": ("3.0.11-1~deb12u2", 1), "zlib1g": ("1:1.2.13.dfsg-1", 0)}


def test_a_package_removed_and_reinstalled_belongs_to_the_reinstalling_layer() -> None:
    merged = image(
        layer(status(("a", "1"), ("b", "1"))),
        layer(status(("a", "1"))),
        layer(status(("a", "1"), ("b", "1"))),
    )
    assert found(merged) == {"a": ("1", 0), "b": ("1", 2)}


def test_a_whiteout_of_status_d_foo_removes_foo() -> None:
    merged = image(
        layer(
            File("var/lib/dpkg/status.d/foo", stanza("foo", "1.2.3")),
            File("var/lib/dpkg/status.d/bar", stanza("bar", "2.0")),
        ),
        layer(Whiteout("var/lib/dpkg/status.d/foo"), File("etc/hostname", b"x")),
    )
    assert found(merged) == {"bar": ("2.0", 0)}


def test_a_whiteout_of_a_directory_removes_everything_under_it() -> None:
    merged = image(
        layer(
            File("var/lib/dpkg/status.d/foo", stanza("foo", "1")),
            File("var/lib/dpkg/status.d/foobar", stanza("foobar", "1")),
            File("var/lib/dpkg/status.d-old/keep", stanza("keep", "1")),
        ),
        layer(Whiteout("var/lib/dpkg/status.d")),
    )
    assert found(merged) == {}


def test_an_opaque_dir_hides_the_lower_layers_but_not_its_own() -> None:
    merged = image(
        layer(
            File("var/lib/dpkg/status.d/old", stanza("old", "1")),
            File("var/lib/dpkg/status.d/kept", stanza("kept", "1")),
        ),
        layer(
            Opaque("var/lib/dpkg/status.d"), File("var/lib/dpkg/status.d/new", stanza("new", "2"))
        ),
        layer(File("var/lib/dpkg/status.d/later", stanza("later", "3"))),
    )
    assert found(merged) == {"new": ("2", 1), "later": ("3", 2)}


def test_a_whiteout_in_a_layer_does_not_remove_that_layers_own_file() -> None:
    merged = image(
        layer(File("var/lib/dpkg/status.d/foo", stanza("foo", "1"))),
        layer(
            Whiteout("var/lib/dpkg/status.d/foo"),
            File("var/lib/dpkg/status.d/foo", stanza("foo", "2")),
        ),
    )
    assert found(merged) == {"foo": ("2", 1)}


def test_a_symlink_over_a_directory_hides_what_was_under_it() -> None:
    merged = image(
        layer(File("var/lib/rpm/Packages", b""), status(("base", "1"))),
        layer(Symlink("var/lib/dpkg", "/nowhere")),
    )
    assert found(merged) == {}
    assert merged.unreadable == {}


def test_the_os_comes_from_os_release_through_its_symlink() -> None:
    merged = image(
        layer(
            File("usr/lib/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
            Symlink("etc/os-release", "../usr/lib/os-release"),
            File("etc/debian_version", b"12.5\n"),
        ),
    )
    assert merged.os is not None
    assert (merged.os.id, merged.os.version_id, merged.os.codename) == ("debian", "12", "bookworm")
    assert (merged.os.source, merged.os.point_release) == ("usr/lib/os-release", "12.5")


def test_a_later_os_release_wins_and_a_removed_one_falls_back() -> None:
    base = layer(
        File("etc/os-release", b"ID=alpine\nVERSION_ID=3.18.4\n"),
        File("etc/alpine-release", b"3.18.4\n"),
        File("etc/apk/repositories", b"https://mirror.invalid/alpine/v3.18/main\n"),
    )
    upgraded = layer(File("etc/apk/repositories", b"https://mirror.invalid/alpine/v3.19/main\n"))
    merged = image(base, upgraded)
    assert merged.os is not None and merged.os.apk_branch == "v3.19"
    assert merged.os.point_release == "3.18.4"
    fallback = image(base, layer(Whiteout("etc/os-release")))
    assert fallback.os is not None
    assert (fallback.os.id, fallback.os.source) == ("alpine", "etc/alpine-release")


def test_debian_licences_come_from_the_copyright_file_a_container_sees() -> None:
    copyright_text = b"Files: *\nLicense: GPL-2+\n See /usr/share/common-licenses/GPL-2.\n"
    merged = image(
        layer(status(("libfoo1", "1.0-1"), ("bar", "2"))),
        layer(
            File("usr/share/doc/libfoo-common/copyright", copyright_text),
            Symlink("usr/share/doc/libfoo1", "libfoo-common"),
        ),
    )
    licences = {p.package.name: p.package.licenses for p in merged.packages}
    assert licences == {"libfoo1": ("GPL-2+", "GPL-2"), "bar": ()}
    assert found(merged)["libfoo1"] == ("1.0-1", 0)  # the licence file does not move the package


def test_an_unreadable_database_is_reported_not_silently_empty() -> None:
    merged = image(
        layer(File("lib/apk/db/installed", b"P:musl\nV:1.2.4-r0\n")),
        layer(File("lib/apk/db/installed", b"this is not\nan apk database\n")),
    )
    assert found(merged) == {}
    assert merged.unreadable == {
        "lib/apk/db/installed": {
            "apk": "not an apk installed database: line 1 is 'this is not'",
        }
    }
