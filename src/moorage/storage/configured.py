"""The storage driver the settings name: ``storage`` (a URL, moorage.storage.urls), or the
filesystem driver at ``storage_root`` when it is unset.

Its own small module, so the commands that need storage (``moorage check``, ``gc``,
``worker``) do not import the web application to get it.

With no ``storage`` setting, the storage an administrator chose through the API (stored in the
database, moorage.http.api.registry_settings) wins over ``storage_root``: ``moorage serve`` and
``worker`` read it (moorage.cli.storage_cmd) and hand it on in ``STORED_ENV``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from moorage.config import Settings
from moorage.storage.azure_sas import presigner
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver
from moorage.storage.objectstore import ObjectStoreDriver
from moorage.storage.objectstore_operators import Credentials, build_operator
from moorage.storage.urls import parse_storage_url

# The database's storage (URL and clear credentials, JSON), from `moorage serve` to its workers.
STORED_ENV = "MOORAGE__STORED_STORAGE_JSON"


def make_storage(settings: Settings, env: Mapping[str, str] | None = None) -> StorageDriver:
    environ = os.environ if env is None else env
    url, creds = chosen_storage(settings, environ)
    if url is None:
        return FilesystemDriver(settings.storage_root)
    return driver_for(url, creds, environ)


def chosen_storage(settings: Settings, env: Mapping[str, str]) -> tuple[str | None, Credentials]:
    """The URL and credentials in force: the configuration's, else the stored one handed on in
    ``STORED_ENV``, else (None) the filesystem under ``storage_root``."""
    if settings.storage:
        return settings.storage, Credentials(
            access_key=_secret(settings.storage_access_key),
            secret_key=_secret(settings.storage_secret_key),
        )
    if raw := env.get(STORED_ENV):
        doc = json.loads(raw)
        return str(doc["url"]), Credentials(doc.get("accessKey"), doc.get("secretKey"))
    return None, Credentials()


def driver_for(url: str, creds: Credentials, env: Mapping[str, str]) -> StorageDriver:
    """The driver of a storage URL with these credentials (ConfigError when it cannot be built)."""
    config = parse_storage_url(url)
    if config.kind == "file":
        assert config.path is not None
        return FilesystemDriver(config.path)
    built = build_operator(config, creds, env)
    return ObjectStoreDriver(
        built.operator,
        name=config.kind,
        chunk=built.chunk,
        redirect_seconds=config.redirect_seconds,
        renew=built.renew,
        presign=presigner(config, creds, env),
    )


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return None if getter is None else str(getter())


def storage_location(settings: Settings) -> str:
    """Where the blobs are, for people (``moorage check``, DTR's ``storageVolume``): the
    folder, or the store's URL as ``StorageConfig.display`` gives it (never a secret)."""
    url, _ = chosen_storage(settings, os.environ)
    if url is None:
        return str(settings.storage_root)
    config = parse_storage_url(url)
    return str(config.path) if config.kind == "file" else config.display()
