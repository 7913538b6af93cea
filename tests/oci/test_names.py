"""Repository names and tags, by the distribution specification's grammar."""

from __future__ import annotations

import pytest

from moorage.errors import NameInvalid, TagInvalid
from moorage.oci.names import MAX_NAME_LENGTH, validate_name, validate_tag


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "ubuntu",
        "library/ubuntu",
        "a/b/c/d/e/f",
        "foo.bar",
        "foo_bar",
        "foo__bar",
        "foo-bar",
        "foo---bar",
        "a.b.c",
        "a-b_c.d__e",
        "0123/456",
        "my-org/my.team/my_app",
        "x" * MAX_NAME_LENGTH,
        ("abc/" * 64)[:254] + "z",  # 255 characters with many components
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "Ubuntu",
        "library/Ubuntu",
        "foo/",
        "/foo",
        "foo//bar",
        "/",
        "foo..bar",
        "foo.-bar",
        "foo-.bar",
        "foo___bar",  # at most two underscores
        "foo_-bar",
        "-foo",
        "foo-",
        ".foo",
        "foo.",
        "_foo",
        "foo_",
        "foo/-bar",
        "foo/bar.",
        "foo bar",
        "foo\tbar",
        "foo\n",
        "foo:bar",
        "foo@bar",
        "foo+bar",
        "localhost:5000/foo",
        "foo/../bar",
        "foo/./bar",
        "..",
        "café",
        "ﬀ",  # a ligature that NFKC-normalizes to ascii "ff"
        "foo\x00bar",
        "foo/bar/",
        "foo%2fbar",
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        validate_name(name)


def test_name_length_limit() -> None:
    assert validate_name("a" * 255) == "a" * 255
    with pytest.raises(NameInvalid, match="255"):
        validate_name("a" * 256)
    long_path = "/".join(["abcd"] * 52)  # 259 characters of otherwise valid components
    assert len(long_path) > 255
    with pytest.raises(NameInvalid):
        validate_name(long_path)
    with pytest.raises(NameInvalid) as info:
        validate_name("b" * 100_000)
    assert info.value.status == 400
    assert info.value.code == "NAME_INVALID"
    assert len(info.value.detail["name"]) <= 255


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "v1",
        "v1.2.3",
        "1.0.0-rc.1",
        "A",
        "UPPER_lower",
        "_underscore",
        "0",
        "sha256-abcdef.sig",  # cosign's tag scheme
        "a" * 128,
        "x.-_",
    ],
)
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "a" * 129,
        ".hidden",
        "-dash",
        "a:b",
        "sha256:" + "a" * 64,
        "a/b",
        "a+b",
        "a b",
        "a\n",
        "tag\x00",
        "é",
        "a@b",
    ],
)
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_tag_error_detail_is_bounded() -> None:
    with pytest.raises(TagInvalid) as info:
        validate_tag("t" * 10_000)
    assert info.value.code == "TAG_INVALID"
    assert len(info.value.detail["tag"]) <= 200
