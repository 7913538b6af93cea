"""What every registry operation needs: the database, the blob store and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from moorage.config import Settings
from moorage.db.engine import Database
from moorage.storage.base import StorageDriver


@dataclass(frozen=True, slots=True)
class RegistryContext:
    db: Database
    storage: StorageDriver
    settings: Settings
