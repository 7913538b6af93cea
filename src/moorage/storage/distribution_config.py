"""The CNCF distribution ``storage:`` block (what DTR's ``/api/v0/admin/settings/registry/simple``
takes, and what ``config.yml`` of a registry holds) translated to Moorage's storage URL
(moorage.storage.urls) and credentials, and back (with the secrets redacted).

Pure: no environment, no network (secrets are sealed by the caller's function). The block's text
is read with PyYAML (``safe_load``, aliases refused: a few bytes of anchors must not become a
huge tree); JSON is read as JSON. The translation itself is hand-written: it is a table of
distribution's field names, which no library holds. Every field is either translated, accepted
and ignored (a tuning knob Moorage does not need, named in ``IGNORED``), accepted only at its
default (``DEFAULTS``: anything else would ask for a behaviour Moorage does not have), or
refused by name: nothing is silently dropped.

    storage:
      s3: {bucket: blobs, region: eu-west-1, regionendpoint: http://minio:9000,
           forcepathstyle: true, accesskey: AK, secretkey: SK, rootdirectory: /moorage}
      delete: {enabled: true}
      redirect: {disable: true}

is ``s3://blobs/moorage?endpoint=http://minio:9000&region=eu-west-1&path_style=true`` with the
access key ``AK`` and the secret key ``SK``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

from moorage.errors import ConfigError, Conflict, InvalidSettings
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import StorageConfig, parse_storage_url

REDACTED = "<redacted>"  # what GET shows for a secret; sent back, it keeps the stored one
DRIVERS = ("filesystem", "s3", "gcs", "azure", "swift")
_FIELDS: dict[str, frozenset[str]] = {
    "filesystem": frozenset({"rootdirectory"}),
    "s3": frozenset(
        {"bucket", "region", "regionendpoint", "forcepathstyle", "accesskey", "secretkey"}
        | {"rootdirectory", "secure"}
    ),
    "gcs": frozenset({"bucket", "rootdirectory"}),
    "azure": frozenset(
        {"accountname", "accountkey", "container", "realm", "serviceurl", "rootdirectory"}
    ),
    "swift": frozenset({"username", "password", "authurl", "container", "prefix", "authversion"}),
}
# Tuning knobs of distribution's drivers that Moorage's drivers size for themselves.
IGNORED: dict[str, frozenset[str]] = {
    "filesystem": frozenset({"maxthreads"}),
    "s3": frozenset(
        {"chunksize", "multipartcopychunksize", "multipartcopymaxconcurrency"}
        | {"multipartcopythresholdsize", "useragent", "loglevel"}
    ),
    "gcs": frozenset({"chunksize"}),
    "azure": frozenset(),
    "swift": frozenset({"chunksize"}),
}
_KEYSTONE = [
    "tenant",
    "tenantid",
    "domain",
    "domainid",
    "tenantdomain",
    "tenantdomainid",
    "trustid",
    "region",
    "endpointtype",
]
# Fields accepted only at their default value, with the reason another value is refused.
DEFAULTS: dict[str, dict[str, tuple[Any, str]]] = {
    "s3": {
        "v4auth": (True, "Moorage signs S3 requests with SigV4 only"),
        "skipverify": (False, "TLS certificates are always verified"),
        "encrypt": (False, "server-side encryption is the bucket's default encryption here"),
        "keyid": ("", "server-side encryption is the bucket's default encryption here"),
        "usedualstack": (False, "dual-stack endpoints are not supported"),
        "accelerate": (False, "transfer acceleration is not supported"),
        "storageclass": ("STANDARD", "objects are written in the bucket's default class"),
        "objectacl": ("private", "objects are always private"),
        "sessiontoken": ("", "give AWS_SESSION_TOKEN in each replica's environment"),
    },
    "gcs": {
        "keyfile": ("", "set GOOGLE_APPLICATION_CREDENTIALS to the key file on each replica"),
        "credentials": ("", "set GOOGLE_APPLICATION_CREDENTIALS to the key file on each replica"),
    },
    "azure": {},
    "swift": {
        "insecureskipverify": (False, "TLS certificates are always verified"),
        **{name: ("", "v1 auth (tempauth) only, not Keystone") for name in _KEYSTONE},
    },
    "filesystem": {},
}


class InvalidStorageSettings(InvalidSettings):
    """The storage block cannot be used; ``detail`` names each refused field."""


class StorageUnreachable(InvalidSettings):
    code, default_message = "STORAGE_UNREACHABLE", "the storage cannot be written and read"


class StorageNotEmpty(Conflict):
    code, default_message = (
        "STORAGE_NOT_EMPTY",
        "the registry holds blobs: copy them to the new storage first",
    )


class StoragePinned(Conflict):
    code, default_message = ("STORAGE_PINNED", "the storage is set by the configuration")


@dataclass(frozen=True)
class Translated:
    """A storage block as Moorage runs it: the URL, and the credentials in clear."""

    url: str
    access_key: str | None = None
    secret_key: str | None = None


class _Problems:
    def __init__(self) -> None:
        self.found: list[dict[str, str]] = []

    def add(self, setting: str, msg: str) -> None:
        self.found.append({"setting": setting, "msg": msg})

    def raise_any(self) -> None:
        if self.found:
            named = ", ".join(p["setting"] for p in self.found)
            raise InvalidStorageSettings(f"invalid storage settings: {named}", detail=self.found)


def _refuse(setting: str, msg: str) -> InvalidStorageSettings:
    return InvalidStorageSettings(
        f"invalid storage settings: {setting}", detail=[{"setting": setting, "msg": msg}]
    )


def _load_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise _refuse("storage", "YAML anchors and aliases (&, *) are not accepted here")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise _refuse("storage", f"neither JSON nor YAML{at}") from exc


def parse_body(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """The ``storage:`` block from a request body: JSON or YAML text of ``{storage: {...}}``
    (DTR's form), of ``storage: "<YAML text>"``, of a whole distribution ``config.yml`` (only
    ``version`` may stand beside ``storage``) or of the block itself (``{s3: {...}}``)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refuse("storage", "the body is not UTF-8 text") from exc
    doc: Any = _load_text(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(doc, dict):
        raise _refuse("storage", "the body is a mapping: {storage: {s3: {...}}} or {s3: {...}}")
    if "storage" in doc:
        others = sorted(str(k) for k in doc if k not in ("storage", "version"))
        if others:
            raise _refuse(
                others[0][:100],
                "only the storage block is read here; remove " + ", ".join(others)[:300],
            )
        doc = doc["storage"]
        if isinstance(doc, str):
            doc = _load_text(doc)
            if isinstance(doc, dict) and set(doc) == {"storage"}:
                doc = doc["storage"]
    if not isinstance(doc, dict):
        raise _refuse("storage", "storage is a mapping with one driver: {s3: {...}}")
    return {str(k): v for k, v in doc.items()}


def _text(problems: _Problems, where: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.add(where, "a text value")
        return ""
    return str(value).strip()


def _flag(problems: _Problems, where: str, value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.add(where, "true or false")
    return default


def _section(problems: _Problems, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(where, "a mapping")
        return {}
    return {str(k): v for k, v in value.items()}


def _extras(problems: _Problems, block: dict[str, Any], driver: str) -> bool:
    """``delete``, ``redirect``, ``cache``, ``maintenance``, ``tag``: refused where they ask for
    something Moorage does not do; returns whether redirects were asked for."""
    delete = _section(problems, "storage.delete", block.get("delete"))
    for key, value in delete.items():
        if key != "enabled":
            problems.add(f"storage.delete.{key}"[:100], "delete takes only enabled")
        elif not _flag(problems, "storage.delete.enabled", value, True):
            problems.add(
                "storage.delete.enabled",
                "Moorage always deletes what GC and the API remove: only true is accepted",
            )
    redirect = _section(problems, "storage.redirect", block.get("redirect"))
    wants = False
    for key, value in redirect.items():
        if key != "disable":
            problems.add(f"storage.redirect.{key}"[:100], "redirect takes only disable")
        else:
            wants = not _flag(problems, "storage.redirect.disable", value, True)
    cache = _section(problems, "storage.cache", block.get("cache"))
    for key, value in cache.items():
        if key == "blobdescriptor":
            if _text(problems, "storage.cache.blobdescriptor", value) not in (
                "",
                "inmemory",
                "redis",
            ):
                problems.add("storage.cache.blobdescriptor", "inmemory or redis (ignored)")
        elif key != "blobdescriptorsize":
            problems.add(f"storage.cache.{key}"[:100], "cache takes blobdescriptor (ignored)")
    maintenance = _section(problems, "storage.maintenance", block.get("maintenance"))
    for key, value in maintenance.items():
        if key == "readonly":
            section = _section(problems, "storage.maintenance.readonly", value)
            if _flag(problems, "storage.maintenance.readonly", section.get("enabled"), False):
                problems.add(
                    "storage.maintenance.readonly.enabled",
                    "read-only mode is readOnlyRegistry in /api/v0/meta/settings",
                )
        elif key != "uploadpurging":  # the uploadpurge cron does it (docs/jobs.md)
            problems.add(f"storage.maintenance.{key}"[:100], "takes readonly and uploadpurging")
    return wants and driver in ("s3", "gcs", "azure")


def _secret(
    problems: _Problems, where: str, value: Any, stored: str | None, *, required: bool
) -> str | None:
    text = _text(problems, where, value)
    if text == REDACTED:
        if stored is None:
            problems.add(where, f"{REDACTED} keeps a stored secret, and none is stored: send it")
        return stored
    if not text and required:
        problems.add(where, "required")
    return text or None


def to_url(
    block: Mapping[str, Any],
    *,
    stored_access: str | None = None,
    stored_secret: str | None = None,
) -> Translated:
    """``block`` (the mapping under ``storage:``) → Moorage's URL and credentials. A secret
    sent as ``REDACTED`` is the stored one passed in (GET's answer may be sent back).
    InvalidStorageSettings names every refused field at once."""
    problems = _Problems()
    body = dict(block)
    drivers = [k for k in body if k not in ("delete", "redirect", "cache", "maintenance", "tag")]
    if len(drivers) != 1:
        found = ", ".join(drivers) if drivers else "none"
        raise _refuse("storage", f"exactly one storage driver is needed (found: {found[:200]})")
    driver = drivers[0]
    if driver not in DRIVERS:
        raise _refuse(
            f"storage.{driver}"[:100],
            f"unknown storage driver {driver[:50]!r}: Moorage runs {', '.join(DRIVERS)}",
        )
    fields = _section(problems, f"storage.{driver}", body[driver])
    problems.raise_any()
    for key, value in fields.items():
        where = f"storage.{driver}.{key}"[:120]
        if key in _FIELDS[driver] or key in IGNORED[driver]:
            continue
        if key in DEFAULTS[driver]:
            default, reason = DEFAULTS[driver][key]
            given = (
                _flag(problems, where, value, default)
                if isinstance(default, bool)
                else _text(problems, where, value)
            )
            if given not in ("", default):
                problems.add(where, f"only {json.dumps(default)}: {reason}")
            continue
        takes = ", ".join(sorted(_FIELDS[driver] | DEFAULTS[driver].keys()))
        problems.add(where, f"unknown {driver} field (takes: {takes})")
    redirect = _extras(problems, body, driver)
    value = {k: fields.get(k) for k in _FIELDS[driver]}
    translated = _translate(problems, driver, value, redirect, stored_access, stored_secret)
    problems.raise_any()
    assert translated is not None
    try:
        parse_storage_url(translated.url)
    except ConfigError as exc:
        raise _refuse(f"storage.{driver}", exc.message) from exc
    return translated


def _translate(
    problems: _Problems,
    driver: str,
    f: dict[str, Any],
    redirect: bool,
    stored_access: str | None,
    stored_secret: str | None,
) -> Translated | None:
    def text(name: str, *, required: bool = False) -> str:
        got = _text(problems, f"storage.{driver}.{name}", f.get(name))
        if required and not got:
            problems.add(f"storage.{driver}.{name}", "required")
        return got

    def prefix(name: str) -> str:
        return "/" + text(name).strip("/") if text(name).strip("/") else ""

    query: dict[str, str] = {}
    if redirect:
        query["redirect"] = "true"
    if driver == "filesystem":
        root = text("rootdirectory", required=True)
        if root and not root.startswith("/"):
            problems.add("storage.filesystem.rootdirectory", "an absolute path")
        return Translated("file://" + root.rstrip("/"))
    if driver == "s3":
        bucket = text("bucket", required=True)
        endpoint = text("regionendpoint")
        secure = _flag(problems, "storage.s3.secure", f.get("secure"), True)
        if endpoint and "://" not in endpoint:
            endpoint = ("https://" if secure else "http://") + endpoint
        region = text("region") or ("us-east-1" if endpoint else "")
        if not region:
            problems.add("storage.s3.region", "required (or a regionendpoint)")
        path_style = _flag(
            problems, "storage.s3.forcepathstyle", f.get("forcepathstyle"), bool(endpoint)
        )
        if endpoint:
            query["endpoint"] = endpoint
        query |= {"region": region, "path_style": str(path_style).lower()}
        access = _secret(
            problems, "storage.s3.accesskey", f.get("accesskey"), stored_access, required=False
        )
        secret = _secret(
            problems, "storage.s3.secretkey", f.get("secretkey"), stored_secret, required=False
        )
        if bool(access) != bool(secret):
            problems.add("storage.s3.secretkey", "accesskey and secretkey go together")
        return Translated(_url("s3", bucket, prefix("rootdirectory"), query), access, secret)
    if driver == "gcs":
        return Translated(_url("gs", text("bucket", required=True), prefix("rootdirectory"), query))
    if driver == "azure":
        account = text("accountname", required=True)
        serviceurl = text("serviceurl")
        realm = text("realm") or "core.windows.net"
        query["account"] = account
        endpoint = serviceurl.rstrip("/") or f"https://{account}.blob.{realm}"
        if endpoint != f"https://{account}.blob.core.windows.net":
            query["endpoint"] = endpoint
        key = _secret(
            problems, "storage.azure.accountkey", f.get("accountkey"), stored_secret, required=True
        )
        container = text("container", required=True)
        return Translated(_url("azblob", container, prefix("rootdirectory"), query), None, key)
    # swift
    version = _text(problems, "storage.swift.authversion", f.get("authversion"))
    if version not in ("", "0", "1"):
        problems.add(
            "storage.swift.authversion", "1: Moorage logs in with v1 auth (tempauth), not Keystone"
        )
    query["auth_url"] = text("authurl", required=True)
    user = _secret(
        problems, "storage.swift.username", f.get("username"), stored_access, required=True
    )
    password = _secret(
        problems, "storage.swift.password", f.get("password"), stored_secret, required=True
    )
    container = text("container", required=True)
    return Translated(_url("swift", container, prefix("prefix"), query), user, password)


def _url(scheme: str, bucket: str, prefix: str, query: dict[str, str]) -> str:
    return f"{scheme}://{bucket}{prefix}" + (f"?{urlencode(query)}" if query else "")


def to_block(
    url: str, *, has_access: bool = False, has_secret: bool = False, read_only: bool = False
) -> dict[str, Any]:
    """The storage URL back as distribution's block, secrets shown as ``REDACTED`` when
    there are some (``has_access`` / ``has_secret``)."""
    config = parse_storage_url(url)
    block: dict[str, Any] = {_driver(config): _fields(config, has_access, has_secret)}
    block["delete"] = {"enabled": True}
    if config.kind in ("s3", "gcs", "azblob"):
        block["redirect"] = {"disable": config.redirect_seconds is None}
    block["maintenance"] = {"readonly": {"enabled": read_only}}
    return block


def _driver(config: StorageConfig) -> str:
    return {"file": "filesystem", "azblob": "azure", "gcs": "gcs"}.get(config.kind, config.kind)


def _fields(config: StorageConfig, has_access: bool, has_secret: bool) -> dict[str, Any]:
    root = f"/{config.prefix}" if config.prefix else ""
    opts = config.options
    if config.kind == "file":
        return {"rootdirectory": str(config.path)}
    if config.kind == "s3":
        endpoint = opts.get("endpoint", "")
        return {
            "bucket": config.bucket,
            "region": opts.get("region", "us-east-1"),
            "regionendpoint": endpoint,
            "forcepathstyle": opts.get("path_style") != "false",
            "secure": not endpoint.startswith("http://"),
            "v4auth": True,
            "rootdirectory": root,
            "accesskey": REDACTED if has_access else "",
            "secretkey": REDACTED if has_secret else "",
        }
    if config.kind == "gcs":
        return {"bucket": config.bucket, "rootdirectory": root}
    if config.kind == "azblob":
        account = opts["account"]
        endpoint = opts.get("endpoint", f"https://{account}.blob.core.windows.net")
        host = urlsplit(endpoint).hostname or ""
        fields: dict[str, Any] = {"accountname": account, "container": config.bucket}
        if endpoint.startswith("https://") and host.startswith(f"{account}.blob."):
            fields["realm"] = host.removeprefix(f"{account}.blob.")
        else:
            fields["serviceurl"] = endpoint
        fields |= {"rootdirectory": root, "accountkey": REDACTED if has_secret else ""}
        return fields
    return {
        "authurl": opts.get("auth_url", ""),
        "container": config.bucket,
        "prefix": config.prefix,
        "authversion": 1,
        "username": REDACTED if has_access else "",
        "password": REDACTED if has_secret else "",
    }


# ---- the stored setting (moorage.db.site_settings.save_storage): the URL and sealed keys ----


def sealed_record(
    url: str, creds: Credentials, seal: Callable[[str], str], *, by: str, at: str
) -> dict[str, Any]:
    """What the database keeps for a chosen storage: the URL, the keys sealed with ``seal``
    (a SecretBox's), who chose it and when."""
    return {
        "url": url,
        "accessKeySealed": seal(creds.access_key) if creds.access_key else None,
        "secretKeySealed": seal(creds.secret_key) if creds.secret_key else None,
        "updatedBy": by,
        "updatedAt": at,
    }


def opened_credentials(record: Mapping[str, Any], open_: Callable[[str], str]) -> Credentials:
    access, secret = record.get("accessKeySealed"), record.get("secretKeySealed")
    return Credentials(
        access_key=open_(access) if access else None,
        secret_key=open_(secret) if secret else None,
    )
