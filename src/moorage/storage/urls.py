"""The ``storage`` setting: a URL naming where blobs live, parsed into a typed
``StorageConfig`` (pure: no environment, no network). Credentials never come from the URL
(it is printed in logs and ``moorage check``): they come from the environment or the
``storage_access_key`` / ``storage_secret_key`` settings (moorage.storage.configured).

    file:///srv/moorage
    s3://BUCKET/PREFIX?endpoint=https://minio:9000&region=eu-west-1&path_style=true&redirect=true
    azblob://CONTAINER/PREFIX?account=NAME&endpoint=https://NAME.blob.core.windows.net&redirect=true
    gs://BUCKET/PREFIX?endpoint=http://127.0.0.1:4443&redirect=true
    swift://CONTAINER/PREFIX?auth_url=https://swift.example.org/auth/v1.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from moorage.errors import ConfigError

Kind = Literal["file", "s3", "azblob", "gcs", "swift"]
_SCHEMES: dict[str, Kind] = {
    "file": "file",
    "s3": "s3",
    "azblob": "azblob",
    "gs": "gcs",
    "gcs": "gcs",
    "swift": "swift",
}
# Query options each kind takes (besides redirect / redirect_seconds where presigning works).
_OPTIONS: dict[Kind, frozenset[str]] = {
    "file": frozenset(),
    "s3": frozenset({"endpoint", "region", "path_style"}),
    "azblob": frozenset({"endpoint", "account"}),
    "gcs": frozenset({"endpoint", "anonymous"}),
    "swift": frozenset({"auth_url", "endpoint"}),
}
_REDIRECTS: frozenset[Kind] = frozenset({"s3", "gcs", "azblob"})
_BUCKET_RULES: dict[Kind, tuple[re.Pattern[str], str]] = {
    "s3": (re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"), "3-63 of a-z 0-9 . -"),
    "azblob": (re.compile(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]"), "3-63 of a-z 0-9 -"),
    "gcs": (re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"), "3-222 of a-z 0-9 . _ -"),
    "swift": (re.compile(r"[^/\x00-\x1f]{1,256}"), "1-256 characters, no /"),
}
MAX_REDIRECT_SECONDS = 7 * 24 * 3600  # S3's own limit for SigV4 presigned URLs


@dataclass(frozen=True)
class StorageConfig:
    kind: Kind
    bucket: str = ""  # the bucket or container; empty for file
    prefix: str = ""  # the root inside it, no leading or trailing "/"
    path: Path | None = None  # file only
    options: dict[str, str] = field(default_factory=dict)
    redirect_seconds: int | None = None  # presigned redirects of this lifetime, or none

    def display(self) -> str:
        """The URL back, for logs: it never held a secret."""
        if self.kind == "file":
            return f"file://{self.path}"
        scheme = "gs" if self.kind == "gcs" else self.kind
        query = dict(self.options)
        if self.redirect_seconds is not None:
            query["redirect"] = "true"
            query["redirect_seconds"] = str(self.redirect_seconds)
        tail = f"/{quote(self.prefix)}" if self.prefix else ""
        return f"{scheme}://{quote(self.bucket)}{tail}" + (f"?{urlencode(query)}" if query else "")


def _fail(url: str, problem: str) -> ConfigError:
    shown = url if "@" not in url else "(a URL with credentials, not shown)"
    return ConfigError(f"invalid storage URL {shown[:300]!r}: {problem}")


def _bool(url: str, name: str, value: str) -> bool:
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise _fail(url, f"{name} must be true or false, not {value[:50]!r}")


def _http_url(url: str, name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(url, f"{name} must be an http:// or https:// URL, not {value[:100]!r}")
    if parts.username or parts.password:
        raise _fail(url, f"{name} must not hold credentials")
    return value.rstrip("/")


def _prefix(url: str, raw: str) -> str:
    prefix = unquote(raw).strip("/")
    if not prefix:
        return ""
    parts = prefix.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\x00" in prefix:
        raise _fail(url, "the prefix must be plain path segments (no //, . or ..)")
    return prefix


def parse_storage_url(url: str) -> StorageConfig:
    """``url`` → its ``StorageConfig``; a ConfigError naming the problem otherwise."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # a bad port raises here
    except ValueError as exc:
        raise _fail(text, str(exc)) from exc
    kind = _SCHEMES.get(parts.scheme.lower())
    if kind is None:
        known = ", ".join(f"{s}://" for s in ("file", "s3", "azblob", "gs", "swift"))
        raise _fail(text, f"unknown scheme {parts.scheme[:20]!r}; use one of {known}")
    if "@" in parts.netloc:
        raise _fail(
            text,
            "credentials do not belong in the URL (it is logged): use the environment "
            "(AWS_ACCESS_KEY_ID, AZURE_STORAGE_KEY, GOOGLE_APPLICATION_CREDENTIALS) or the "
            "storage_access_key / storage_secret_key settings",
        )
    if parts.fragment:
        raise _fail(text, "a URL fragment (#...) means nothing here")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise _fail(text, f"bad query string: {exc}") from exc
    if dupes := sorted(k for k, v in query.items() if len(v) > 1):
        raise _fail(text, f"option given twice: {', '.join(dupes)}")
    values = {k: v[0] for k, v in query.items()}

    if kind == "file":
        if parts.netloc not in ("", "localhost") or values:
            raise _fail(text, "file URLs are file:///absolute/path, with no host or options")
        path = unquote(parts.path)
        if not path.startswith("/") or "\x00" in path:
            raise _fail(text, "file URLs need an absolute path: file:///srv/moorage")
        return StorageConfig("file", path=Path(path))

    redirect = False
    redirect_seconds = 600
    if "redirect" in values:
        redirect = _bool(text, "redirect", values.pop("redirect"))
    if "redirect_seconds" in values:
        raw = values.pop("redirect_seconds")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_REDIRECT_SECONDS:
            raise _fail(text, f"redirect_seconds must be 1-{MAX_REDIRECT_SECONDS}")
        redirect_seconds = int(raw)
    if redirect and kind not in _REDIRECTS:
        raise _fail(text, f"redirect=true is not supported on {kind} (blobs are streamed)")
    unknown = sorted(set(values) - _OPTIONS[kind])
    if unknown:
        allowed = ", ".join(
            sorted(_OPTIONS[kind] | ({"redirect"} if kind in _REDIRECTS else set()))
        )
        raise _fail(text, f"unknown option {', '.join(unknown)} (takes: {allowed})")

    bucket = unquote(parts.netloc)
    rule, words = _BUCKET_RULES[kind]
    if not bucket:
        raise _fail(text, f"no bucket or container: {parts.scheme}://NAME/PREFIX")
    if not rule.fullmatch(bucket):
        raise _fail(text, f"bucket or container name {bucket[:80]!r} is not valid ({words})")
    options: dict[str, str] = {}
    for name in ("endpoint", "auth_url"):
        if name in values:
            options[name] = _http_url(text, name, values[name])
    if kind == "s3":
        options["region"] = values.get("region") or "us-east-1"
        if not re.fullmatch(r"[a-z0-9-]{1,40}", options["region"]):
            raise _fail(text, f"region {options['region'][:40]!r} is not a region name")
        if "path_style" in values:
            options["path_style"] = str(_bool(text, "path_style", values["path_style"])).lower()
    elif kind == "azblob":
        account = values.get("account", "")
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise _fail(text, "azblob needs account=NAME (3-24 of a-z 0-9)")
        options["account"] = account
    elif kind == "gcs":
        if "anonymous" in values:
            options["anonymous"] = str(_bool(text, "anonymous", values["anonymous"])).lower()
    elif kind == "swift" and "auth_url" not in options and "endpoint" not in options:
        raise _fail(text, "swift needs auth_url= (tempauth / v1) or endpoint= (a storage URL)")
    return StorageConfig(
        kind,
        bucket=bucket,
        prefix=_prefix(text, parts.path),
        options=options,
        redirect_seconds=redirect_seconds if redirect else None,
    )
