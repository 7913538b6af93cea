"""Repository names and tags, validated by the distribution specification's grammar."""

from __future__ import annotations

import re

from moorage.errors import NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# distribution limits the name to 255 characters; so do clients that prefix a host.
MAX_NAME_LENGTH = 255
# What the grammars say, in words (people read these; the patterns are in the detail).
NAME_RULE = (
    "a repository name is one or more parts separated by '/', each part made of lowercase "
    "letters and digits, optionally joined by '.', '_', '__' or dashes, starting and ending "
    "with a letter or digit (for example 'team/web-app' or 'library/python3.12')"
)
TAG_RULE = (
    "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-' "
    "(for example 'v1.2.3' or 'latest')"
)


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(
            f"repository name must not be longer than {MAX_NAME_LENGTH} characters",
            detail={"name": name[:MAX_NAME_LENGTH]},
        )
    if not NAME_RE.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name[:80]!r}: {NAME_RULE}",
            detail={"name": name, "pattern": NAME_RE.pattern},
        )
    return name


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalid(
            f"invalid tag {tag[:80]!r}: {TAG_RULE}",
            detail={"tag": tag[:200], "pattern": TAG_RE.pattern},
        )
    return tag
