"""The storage driver the settings name: today the filesystem driver at ``storage_root``.

Its own small module, so the commands that need storage (``moorage check``, ``gc``,
``worker``) do not import the web application to get it.
"""

from __future__ import annotations

from moorage.config import Settings
from moorage.storage.base import StorageDriver
from moorage.storage.filesystem import FilesystemDriver


def make_storage(settings: Settings) -> StorageDriver:
    return FilesystemDriver(settings.storage_root)
