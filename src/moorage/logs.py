"""Structured logging: one JSON object per line (or plain text), never a secret.

Secrets are kept out by pattern, not by a list of known names, so a new parameter or a
library's exception text is covered too:

- a field, query parameter or ``name=value`` pair whose name looks like a credential
  (``key``, ``token``, ``secret``, ``pass``, ``auth``, ``sig``, ``credential``, ``session``,
  ``code``, ``cookie``, ``bearer``, ``jwt`` anywhere in it, any case, percent-encoded or not)
  has its string value replaced by ``REDACTED``;
- any value shaped like a token is replaced wherever it appears (messages, exception text,
  paths, nested extras): three base64url segments joined by dots (a JWT or a signed blob),
  a long mixed-case-and-digits high-entropy string (``secrets.token_urlsafe`` and base64), a
  ``Basic``/``Bearer`` credential, and the password of a ``scheme://user:password@host`` URL.

Digests, upload ids and request ids (lower-case hex) are not token-shaped and stay readable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import sys
from collections import Counter
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
REDACTED = "REDACTED"
# Matched against lower-cased text: a case-insensitive alternation is ten times slower.
_SECRET_WORDS = (
    "key", "token", "secret", "pass", "pwd", "auth", "sig", "credential", "session", "code",
    "cookie", "bearer", "jwt",
)  # fmt: skip


def _has_secret_word(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _SECRET_WORDS)


# Three base64url segments joined by dots: a JWT (header.payload.signature) or alike.
_DOTTED = re.compile(
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_-]{8,}={0,2}"
)
_WORD = re.compile(r"(?<![A-Za-z0-9+/_~.=-])[A-Za-z0-9+/_~.=-]{20,}")
_SCHEME_CREDENTIAL = re.compile(
    r"\b(basic|bearer|token|negotiate)(\s+)([A-Za-z0-9+/_~.=-]{6,})", re.I
)
_FLAG = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*")
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)(@)"
)
_NAMED = re.compile(
    r"""(?<![A-Za-z0-9_.%\[\]-])(?P<name>[A-Za-z0-9_.%\[\]-]+)(?P<q>["']?)(?P<sep>\s*[=:]\s*)(?P<vq>["']?)"""
    r"""(?P<value>[^\s&;,"'<>]+)"""
)


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a field or parameter name looks like it holds a credential."""
    return _has_secret_word(unquote_plus(name))


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def token_shaped(text: str) -> bool:
    """A JWT-like dotted triple, or a long high-entropy mix of upper, lower case and digits."""
    if "." in text and _DOTTED.fullmatch(text):
        return True
    if len(text) < 20 or text.islower() or text.isupper():
        return False
    upper = sum(map(str.isupper, text))
    lower = sum(map(str.islower, text))
    digits = sum(map(str.isdigit, text))
    return upper >= 2 and lower >= 2 and digits >= 2 and _entropy(text) >= 3.5


def _scrub_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if token_shaped(word):
        return REDACTED
    # A dotted triple inside a longer word (a JWT glued to punctuation).
    return _DOTTED.sub(REDACTED, word) if word.count(".") >= 2 else word


def _scrub_named(match: re.Match[str]) -> str:
    value = match.group("value")
    prefix = match.group(0)[: match.start("value") - match.start(0)]
    if not secret_name(match.group("name")):
        # ``https://host/?password=...``: look inside the value for further pairs.
        return prefix + _NAMED.sub(_scrub_named, value)
    if value == REDACTED or value.isdigit():
        return match.group(0)
    return prefix + REDACTED


def scrub(text: str) -> str:
    """Free text (a message, an exception, a path) with every secret-looking part replaced."""
    # Each pattern runs only where it could match (this is on every access-log line).
    if " " in text or "\t" in text:
        text = _SCHEME_CREDENTIAL.sub(rf"\1\2{REDACTED}", text)
    if "=" in text or ":" in text:
        if "://" in text and "@" in text:
            text = _URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
        if _has_secret_word(text):  # no credential-like word, no pair to redact
            text = _NAMED.sub(_scrub_named, text)
    # Tokens and JWTs mix cases; lower-case hex (digests, ids) and plain words are left alone.
    if len(text) >= 20 and text.lower() != text:
        text = _WORD.sub(_scrub_word, text)
    return text


def redact_query(query: str) -> str:
    """A query string (without ``?``) with credential-named or token-shaped values replaced.
    Names are compared decoded (``api%5Fkey``, ``X-Auth+Token``); the rest stays as sent."""
    parts = []
    for pair in re.split(r"([&;])", query):
        if pair in ("&", ";"):
            parts.append(pair)
            continue
        name, sep, value = pair.partition("=")
        if not sep:
            parts.append(REDACTED if scrub(unquote_plus(name)) != unquote_plus(name) else pair)
            continue
        decoded = unquote_plus(value)
        # A credential-like name, or a value that is (or hides, once decoded) a secret.
        secret = value and (secret_name(name) or scrub(decoded) != decoded)
        parts.append(f"{name}={REDACTED}" if secret else pair)
    return "".join(parts)


def redact(name: str, value: Any) -> Any:
    """A log field's value: strings under a credential-like name go; others are scrubbed."""
    if isinstance(value, str):
        return REDACTED if value and secret_name(name) else scrub(value)
    if isinstance(value, dict):
        return {k: redact(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        # A command line: the value after ``--password`` / ``--token`` goes as well.
        items, out, flagged = list(value), [], False
        for item in items:
            out.append(REDACTED if flagged and isinstance(item, str) else redact(name, item))
            flagged = isinstance(item, str) and bool(_FLAG.fullmatch(item)) and secret_name(item)
        return out
    if isinstance(value, bytes):
        return REDACTED if secret_name(name) else scrub(value.decode("utf-8", "replace"))
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(name, str(value))


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: redact(key, value)
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = scrub(record.exc_text)
        if record.stack_info:
            out["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        base = scrub(super().format(record))
        return f"{base} {extras}" if extras else base


LEVELS = ("debug", "info", "warning", "error", "critical")


def set_moorage_level(level: str) -> None:
    """The ``moorage`` loggers at ``level`` (one of LEVELS) from now on, in this process (the
    site setting ``logLevel``); "" hands them back to the root logger's level (``configure``).
    Only a change of the setting touches the logger (the value applied last is kept on it), so
    a level set by other means stays until the setting changes."""
    logger = logging.getLogger("moorage")
    applied = getattr(logger, "_moorage_setting", "")
    if level == applied:
        return
    logger.setLevel(getattr(logging, level.upper()) if level in LEVELS else logging.NOTSET)
    logger._moorage_setting = level  # type: ignore[attr-defined]


def configure(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "granian.access"):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error", "granian", "_granian"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True


def dict_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """The same formatting as ``configure``, as a ``logging.config`` dict (for server processes)."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"moorage": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "moorage"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("_granian", "granian")
        },
    }
