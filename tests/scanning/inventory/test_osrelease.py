"""OS detection: os-release parsing, the precedence of the release files, the apk branch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from moorage.scanning.inventory.model import Facts
from moorage.scanning.inventory.osrelease import (
    OsInfo,
    OsReleaseFinder,
    detect_os,
    newest_branch,
    parse_key_values,
)
from tests.scanning.inventory.layer_tars import DATA, cases, expected

FINDER = OsReleaseFinder()


def detect(files: dict[str, str]) -> OsInfo | None:
    facts: dict[str, Facts] = {}
    for path, text in files.items():
        data = text.encode()
        assert FINDER.wants(path, 0o644, len(data))
        facts[path] = FINDER.find(path, io.BytesIO(data), len(data))
    return detect_os(lambda path: (path, facts[path]) if path in facts else None)


def test_os_release_quoting_follows_the_shell_rules() -> None:
    text = (
        "# a comment\n"
        'NAME="Ubuntu"\n'
        "VERSION='22.04.3 LTS (Jammy Jellyfish)'\n"
        'PRETTY_NAME="Say \\"hi\\" \\$HOME"\n'
        "ID=ubuntu\n"
        "ID_LIKE=debian\n"
        'BROKEN="unbalanced\n'
        "not a line\n"
        "1BAD=key\n"
    )
    values = parse_key_values(text)
    assert values == {
        "NAME": "Ubuntu",
        "VERSION": "22.04.3 LTS (Jammy Jellyfish)",
        "PRETTY_NAME": 'Say "hi" $HOME',
        "ID": "ubuntu",
        "ID_LIKE": "debian",
        "BROKEN": "unbalanced",
    }


@pytest.mark.parametrize(
    "case",
    [c for c in [*cases("dpkg"), *cases("apk"), *cases("rpm")] if "os_release" in expected(c)],
)
def test_every_fixture_os_release_is_read_as_its_test_states(case: Path) -> None:
    want = expected(case)["os_release"]
    info = detect({"etc/os-release": (case / "etc" / "os-release").read_text()})
    assert info is not None
    assert info.id == want["ID"]
    assert info.version_id == want["VERSION_ID"]
    if "VERSION_CODENAME" in want:
        assert info.codename == want["VERSION_CODENAME"]


def test_etc_os_release_wins_over_usr_lib() -> None:
    info = detect(
        {
            "usr/lib/os-release": "ID=debian\nVERSION_ID=12\n",
            "etc/os-release": "ID=mycorp\nVERSION_ID=7\nID_LIKE='debian ubuntu'\n",
        }
    )
    assert info is not None
    assert (info.id, info.version_id, info.id_like, info.source) == (
        "mycorp",
        "7",
        ("debian", "ubuntu"),
        "etc/os-release",
    )


def test_debian_testing_takes_its_version_from_debian_version() -> None:
    info = detect(
        {
            "usr/lib/os-release": 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n'
            "VERSION_CODENAME=trixie\n",
            "etc/debian_version": "trixie/sid\n",
        }
    )
    assert info == OsInfo(
        "debian", None, "trixie", "Debian GNU/Linux trixie/sid", "usr/lib/os-release",
        point_release="trixie/sid",
    )  # fmt: skip
    stable = detect({"etc/debian_version": "11.9\n"})
    assert stable is not None and (stable.id, stable.version_id) == ("debian", "11")


def test_without_os_release_ubuntu_is_not_taken_for_debian() -> None:
    info = detect(
        {
            "etc/debian_version": "bookworm/sid\n",
            "etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n"
            'DISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION="Ubuntu 22.04.3 LTS"\n',
        }
    )
    assert info is not None
    assert (info.id, info.version_id, info.codename) == ("ubuntu", "22.04", "jammy")


@pytest.mark.parametrize(
    ("path", "line", "want"),
    [
        ("etc/redhat-release", "Red Hat Enterprise Linux release 8.8 (Ootpa)", ("rhel", "8.8")),
        ("etc/centos-release", "CentOS Linux release 7.9.2009 (Core)", ("centos", "7.9.2009")),
        ("etc/centos-release", "CentOS Stream release 9", ("centos", "9")),
        ("etc/fedora-release", "Fedora release 32 (Thirty Two)", ("fedora", "32")),
        ("etc/redhat-release", "Rocky Linux release 8.9 (Green Obsidian)", ("rocky", "8.9")),
        ("etc/redhat-release", "AlmaLinux release 9.3 (Shamrock Pampas Cat)", ("almalinux", "9.3")),
        ("etc/alpine-release", "3.19.1", ("alpine", "3.19.1")),
    ],
)  # fmt: skip
def test_release_files_without_os_release(path: str, line: str, want: tuple[str, ...]) -> None:
    info = detect({path: line + "\n"})
    assert info is not None
    assert (info.id, info.version_id) == want
    assert info.source == path
    if "(" in line:
        assert info.codename == line[line.index("(") + 1 : -1]


def test_the_most_specific_red_hat_family_file_wins() -> None:
    info = detect(
        {
            "etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
            "etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
            "etc/fedora-release": "Fedora release 39 (Thirty Nine)\n",
        }
    )
    assert info is not None and (info.id, info.source) == ("fedora", "etc/fedora-release")


def test_apk_repositories_name_the_newest_branch() -> None:
    repos = [
        "https://mirror.invalid/alpine/v3.18/main",
        "# https://mirror.invalid/alpine/v3.20/main",
        "@testing https://mirror.invalid/alpine/v3.9/community",
        "https://mirror.invalid/alpine/v3.19/community/",
    ]
    assert newest_branch([r for r in repos if not r.startswith("#")]) == "v3.19"
    assert newest_branch(["https://mirror.invalid/alpine/edge/testing", *repos[:1]]) == "edge"
    assert newest_branch(["/media/cdrom/apks"]) is None
    info = detect(
        {
            "etc/os-release": (
                DATA / "apk" / "alpine-3.18-scalibr" / "etc" / "os-release"
            ).read_text(),
            "etc/alpine-release": "3.18.0\n",
            "etc/apk/repositories": "\n".join(repos) + "\n",
        }
    )
    assert info is not None
    assert (info.version_id, info.point_release, info.apk_branch) == ("3.18.0", "3.18.0", "v3.19")


def test_nothing_known_is_no_os() -> None:
    assert detect({}) is None
    assert detect({"etc/redhat-release": "something else entirely\n"}) is None
    assert detect({"etc/os-release": "NAME=nothing\n"}) is None
    assert not FINDER.wants("etc/os-release", 0o644, 10 * 1024 * 1024)
