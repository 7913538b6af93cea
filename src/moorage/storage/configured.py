"""The storage driver the settings name: ``storage`` (a URL, moorage.storage.urls), or the
filesystem driver at ``storage_root`` when it is unset.

Its own small module, so the commands that need storage (``moorage check``, ``gc``,
``worker``) do not import the web application to get it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from moorage.config import Settings
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver
from moorage.storage.objectstore import ObjectStoreDriver
from moorage.storage.objectstore_operators import Credentials, build_operator
from moorage.storage.urls import parse_storage_url


def make_storage(settings: Settings, env: Mapping[str, str] | None = None) -> StorageDriver:
    if not settings.storage:
        return FilesystemDriver(settings.storage_root)
    config = parse_storage_url(settings.storage)
    if config.kind == "file":
        assert config.path is not None
        return FilesystemDriver(config.path)
    creds = Credentials(
        access_key=_secret(settings.storage_access_key),
        secret_key=_secret(settings.storage_secret_key),
    )
    built = build_operator(config, creds, os.environ if env is None else env)
    return ObjectStoreDriver(
        built.operator,
        name=config.kind,
        chunk=built.chunk,
        redirect_seconds=config.redirect_seconds,
        renew=built.renew,
    )


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return None if getter is None else str(getter())


def storage_location(settings: Settings) -> str:
    """Where the blobs are, for people (``moorage check``, DTR's ``storageVolume``): the
    folder, or the store's URL as ``StorageConfig.display`` gives it (never a secret)."""
    if not settings.storage:
        return str(settings.storage_root)
    config = parse_storage_url(settings.storage)
    return str(config.path) if config.kind == "file" else config.display()
