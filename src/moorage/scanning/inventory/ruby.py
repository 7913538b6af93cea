"""Ruby gems: the ``specifications/*.gemspec`` (and ``specifications/default/*.gemspec``) files
RubyGems writes for every installed gem.

These files are Ruby source. Running them is out of the question (they are code from the
image), and no Python library reads them, so the subset that RubyGems itself writes is parsed by
hand, bounded (``MAX_SIZE`` bytes, line by line):

* the block ``Gem::Specification.new do |<var>|``; only ``<var>.<attribute> = <value>``
  assignments inside it count (a file that assigns through another name is refused, as trivy
  refuses it);
* ``name``, ``version``, ``license`` and ``licenses``, as RubyGems' setters treat them: a
  later assignment replaces an earlier one, ``license = x`` means ``licenses = [x]`` and
  ``licenses = "x"`` is ``Array("x")``, so ``["x"]``. Here RubyGems (the reference: what
  ``Gem::Specification.load`` makes of the file) and trivy disagree: trivy ignores a
  ``licenses`` that is not an array literal (its test "another variable name"); we follow
  RubyGems, and the test checks every fixture against ``ruby`` itself;
* values: string literals (``"..."`` with backslash escapes, ``'...'``, ``%q``/``%Q`` with any
  of ``<{([|`` as delimiters), each optionally ``.freeze``; ``Gem::Version.new(<string>)`` for the
  version; an array of string literals (or ``%w[...]``); anything after the value
  (``# comment``, ``if s.respond_to? ...``) is ignored, and a value of any other form (a
  variable, a method call) is not read.

A gemspec without a name or a version raises ``ValueError``. Type ``gem``.
"""

from __future__ import annotations

import re
from typing import IO, ClassVar

from moorage.scanning.inventory.model import Package

MAX_SIZE = 1024 * 1024
_BLOCK = re.compile(r"Gem::Specification\.new\s+do\s*\|\s*([A-Za-z_]\w*)\s*\|")
_PAIRS = {"<": ">", "{": "}", "(": ")", "[": "]", "|": "|"}
_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "0": "\0", "e": "\x1b"}
_FREEZE = re.compile(r"\s*\.freeze\b")


def is_gemspec_path(path: str) -> bool:
    parent, _, base = path.rpartition("/")
    if not base.endswith(".gemspec") or len(base) == len(".gemspec"):
        return False
    return parent.endswith("specifications") or parent.endswith("specifications/default")


def read_string(text: str, at: int) -> tuple[str, int] | None:
    """A Ruby string literal at ``text[at:]`` (then ``.freeze``), and where it ends."""
    percent = re.match(r"%([qQ]?)([<{(\[|])", text[at:])
    if text.startswith(('"', "'"), at):
        start, end_char, open_char, double = at + 1, text[at], "", text[at] == '"'
    elif percent:
        start, end_char = at + percent.end(), _PAIRS[percent.group(2)]
        open_char = "" if percent.group(2) == end_char else percent.group(2)
        double = percent.group(1) != "q"
    else:
        return None
    out: list[str] = []
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if double:
                out.append(_ESCAPES.get(following, following))
            else:
                out.append(following if following in ("\\", end_char) else char + following)
            index += 2
            continue
        if open_char and char == open_char:
            depth += 1
        elif char == end_char:
            if depth == 0:
                index += 1
                freeze = _FREEZE.match(text, index)
                return "".join(out), freeze.end() if freeze else index
            depth -= 1
        out.append(char)
        index += 1
    return None  # unterminated


def read_value(text: str) -> str | list[str] | None:
    """The value of an assignment: a string, ``Gem::Version.new(<string>)`` or a string array."""
    text = text.strip()
    version = re.match(r"Gem::Version\.new\s*\(\s*", text)
    if version:
        found = read_string(text, version.end())
        return found[0] if found else None
    words = re.match(r"%w([\[({<])(.*?)([\])}>])", text)
    if words:
        return words.group(2).split()
    if text.startswith("["):
        items: list[str] = []
        index = 1
        while True:
            while index < len(text) and text[index] in " \t,":
                index += 1
            if index < len(text) and text[index] == "]":
                return items
            found = read_string(text, index)
            if found is None:
                return None
            items.append(found[0])
            index = found[1]
    found = read_string(text, 0)
    return found[0] if found else None


def parse_gemspec(text: str) -> tuple[str, str, tuple[str, ...]]:
    """(name, version, licences) of a gemspec; ``ValueError`` without a name or a version."""
    block = _BLOCK.search(text)
    if block is None:
        raise ValueError("no Gem::Specification.new block")
    assignment = re.compile(
        rf"^\s*{re.escape(block.group(1))}\.(name|version|licenses|license)\s*=(?!=)\s*(.*)$"
    )
    name = version = ""
    licenses: list[str] = []
    for line in text[block.end() :].splitlines():
        match = assignment.match(line)
        if not match:
            continue
        attribute, value = match.group(1), read_value(match.group(2))
        if attribute == "name" and isinstance(value, str):
            name = value.strip()
        elif attribute == "version" and isinstance(value, str):
            version = value.strip()
        elif attribute == "license" and isinstance(value, str):
            licenses = [value]
        elif attribute == "licenses" and value is not None:
            licenses = value if isinstance(value, list) else [value]
    if not name:
        raise ValueError("gemspec without a name")
    if not version:
        raise ValueError("gemspec without a version")
    return name, version, tuple(dict.fromkeys(x.strip() for x in licenses if x.strip()))


class GemspecAnalyzer:
    """Installed Ruby gems, from the specifications RubyGems keeps."""

    name: ClassVar[str] = "gemspec"
    version: ClassVar[int] = 1

    def wants(self, path: str, mode: int, size: int) -> bool:
        return is_gemspec_path(path)

    def analyze(self, path: str, file: IO[bytes], size: int) -> list[Package]:
        data = file.read(MAX_SIZE + 1)
        if len(data) > MAX_SIZE:
            raise ValueError(f"gemspec is larger than {MAX_SIZE} bytes")
        name, version, licenses = parse_gemspec(data.decode("utf-8", "replace"))
        return [Package(type="gem", name=name, version=version, path=path, licenses=licenses)]
