"""An opendal ``AsyncOperator`` for a parsed storage URL (moorage.storage.urls), with the
credentials the environment or the settings hold, and the writer chunk each store wants.

Credentials, by store: S3 ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (+
``AWS_SESSION_TOKEN``) or the ``storage_access_key`` / ``storage_secret_key`` settings, else
opendal's own chain (profile files, instance metadata); Azure ``AZURE_STORAGE_KEY`` or
``storage_secret_key``; GCS the file in ``GOOGLE_APPLICATION_CREDENTIALS``, else anonymous
when an emulator ``endpoint`` is given (or ``anonymous=true``); Swift a v1 (tempauth) login
at ``auth_url`` with ``ST_USER`` / ``ST_KEY`` or the settings, or ``OS_AUTH_TOKEN`` with an
``endpoint`` storage URL. The Swift login is written here because opendal's swift service takes
a ready token and does not log in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import opendal

from moorage.errors import ConfigError
from moorage.storage.objectstore import Renewal
from moorage.storage.urls import StorageConfig

MULTIPART_CHUNK = 8 << 20  # above S3's 5 MiB part minimum; bounds a writer's memory


@dataclass(frozen=True)
class Credentials:
    access_key: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True)
class Built:
    operator: opendal.AsyncOperator
    chunk: int | None
    renew: Renewal | None = None


class SwiftRenewal(Renewal):
    """Logs in again half-way through a token's life (tempauth: 24 h by default)."""

    def __init__(self, auth_url: str, user: str, key: str, kw: dict[str, str], expires: float):
        self._login = (auth_url, user, key)
        self._kw = kw
        self.due = time.monotonic() + expires / 2

    async def renew(self) -> opendal.AsyncOperator:
        login = await asyncio.to_thread(swift_login, *self._login)
        self.due = time.monotonic() + login.expires / 2
        return opendal.AsyncOperator("swift", **self._kw, endpoint=login.url, token=login.token)


@dataclass(frozen=True)
class SwiftLogin:
    url: str
    token: str
    expires: float  # seconds


def _root(config: StorageConfig) -> str:
    return f"/{config.prefix}/" if config.prefix else "/"


def build_operator(config: StorageConfig, creds: Credentials, env: Mapping[str, str]) -> Built:
    try:
        return _build(config, creds, env)
    except (ConfigError, httpx.HTTPError):
        raise
    except Exception as exc:  # opendal's ConfigInvalid and friends share no base class
        raise ConfigError(f"storage {config.display()}: {str(exc).splitlines()[0][:300]}") from exc


def _build(config: StorageConfig, creds: Credentials, env: Mapping[str, str]) -> Built:
    opts = dict(config.options)
    root = _root(config)
    if config.kind == "s3":
        kw = {"bucket": config.bucket, "root": root, "region": opts["region"]}
        if "endpoint" in opts:
            kw["endpoint"] = opts["endpoint"]
        if opts.get("path_style") == "false":
            kw["enable_virtual_host_style"] = "true"
        access = creds.access_key or env.get("AWS_ACCESS_KEY_ID")
        secret = creds.secret_key or env.get("AWS_SECRET_ACCESS_KEY")
        if bool(access) != bool(secret):
            raise ConfigError("storage: S3 needs both an access key and a secret key")
        if access and secret:
            kw |= {"access_key_id": access, "secret_access_key": secret}
            kw["disable_config_load"] = "true"
            kw["disable_ec2_metadata"] = "true"
            if token := env.get("AWS_SESSION_TOKEN"):
                kw["session_token"] = token
        return Built(opendal.AsyncOperator("s3", **kw), MULTIPART_CHUNK)
    if config.kind == "azblob":
        account = opts["account"]
        key = creds.secret_key or env.get("AZURE_STORAGE_KEY")
        if not key:
            raise ConfigError("storage: azblob needs AZURE_STORAGE_KEY or storage_secret_key")
        endpoint = opts.get("endpoint", f"https://{account}.blob.core.windows.net")
        kw = {"container": config.bucket, "root": root, "endpoint": endpoint}
        kw |= {"account_name": account, "account_key": key}
        return Built(opendal.AsyncOperator("azblob", **kw), MULTIPART_CHUNK)
    if config.kind == "gcs":
        kw = {"bucket": config.bucket, "root": root}
        if "endpoint" in opts:
            kw["endpoint"] = opts["endpoint"]
        credential_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if credential_file and opts.get("anonymous") != "true":
            kw["credential_path"] = credential_file
        elif "endpoint" in opts or opts.get("anonymous") == "true":
            kw |= {"allow_anonymous": "true", "disable_vm_metadata": "true"}
            kw["disable_config_load"] = "true"
        # No chunk: chunked writes use GCS's XML multipart API, which emulators lack.
        return Built(opendal.AsyncOperator("gcs", **kw), None)
    if config.kind == "swift":
        kw = {"container": config.bucket, "root": root}
        if "auth_url" in opts:
            user = creds.access_key or env.get("ST_USER")
            key = creds.secret_key or env.get("ST_KEY")
            if not user or not key:
                raise ConfigError("storage: swift auth_url needs ST_USER and ST_KEY (or settings)")
            login = swift_login(opts["auth_url"], user, key)
            renew = SwiftRenewal(opts["auth_url"], user, key, kw, login.expires)
            op = opendal.AsyncOperator("swift", **kw, endpoint=login.url, token=login.token)
            return Built(op, MULTIPART_CHUNK, renew)
        token = env.get("OS_AUTH_TOKEN")
        if not token:
            raise ConfigError("storage: swift endpoint= needs OS_AUTH_TOKEN")
        op = opendal.AsyncOperator("swift", **kw, endpoint=opts["endpoint"], token=token)
        return Built(op, MULTIPART_CHUNK)
    raise ConfigError(f"storage: {config.kind} is not an object store")


def swift_login(auth_url: str, user: str, key: str) -> SwiftLogin:
    """Swift v1 auth (tempauth, swauth): the storage URL, a token and its lifetime."""
    try:
        answer = httpx.get(auth_url, headers={"X-Auth-User": user, "X-Auth-Key": key}, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ConfigError(f"storage: swift login at {auth_url} failed: {exc}") from exc
    storage_url, token = answer.headers.get("x-storage-url"), answer.headers.get("x-auth-token")
    if answer.status_code >= 300 or not storage_url or not token:
        raise ConfigError(f"storage: swift login at {auth_url} refused ({answer.status_code})")
    try:
        expires = max(60.0, float(answer.headers.get("x-auth-token-expires", "3600")))
    except ValueError:
        expires = 3600.0
    return SwiftLogin(storage_url, token, expires)
