"""Repository names and tags, validated by the distribution specification's grammar."""

from __future__ import annotations

import re

from moorage.errors import NameInvalid, TagInvalid

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# distribution limits the name to 255 characters; so do clients that prefix a host.
MAX_NAME_LENGTH = 255


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(
            f"repository name must not be longer than {MAX_NAME_LENGTH} characters",
            detail={"name": name[:MAX_NAME_LENGTH]},
        )
    if not NAME_RE.fullmatch(name):
        raise NameInvalid("repository name must match " + NAME_RE.pattern, detail={"name": name})
    return name


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise TagInvalid("invalid tag: must match " + TAG_RE.pattern, detail={"tag": tag[:200]})
    return tag
