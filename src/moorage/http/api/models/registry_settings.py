"""``GET|PUT /api/v0/admin/settings/registry/simple``: the storage as CNCF distribution's
``storage:`` block (DTR's shape: ``{"storage": {"s3": {...}, "delete": {...}}}``, secrets
redacted), with where it comes from in Moorage's own keys beside it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from moorage.http.api.models.wire import WireModel


class RegistryStorageSettings(WireModel):
    storage: dict[str, Any] = Field(
        description="distribution's storage block; access keys, account keys and passwords "
        'read "<redacted>" (sent back as they are, they keep the stored ones)'
    )
    storage_url: str = Field(
        serialization_alias="storageURL", description="the same as Moorage's storage URL"
    )
    source: Literal["configuration", "database", "default"] = Field(
        description="configuration: MOORAGE_STORAGE / --storage / storage: in the YAML file "
        "(a PUT is refused); database: chosen here; default: the data folder's storage/"
    )
    pinned: bool = Field(description="the configuration sets the storage: PUT answers 409")
    restart_pending: bool = Field(
        serialization_alias="restartPending",
        description="the setting differs from the storage this replica runs on: it takes "
        "effect when each replica restarts",
    )


class RegistryStorageForm(BaseModel):
    """The PUT body (JSON or YAML): the storage block under ``storage`` (or the block itself,
    or a whole distribution config.yml of which only ``storage`` is read)."""

    storage: dict[str, Any] | str
