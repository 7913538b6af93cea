"""DTR's ``/meta`` objects: ``responses.Features``, ``responses.Alert``,
``responses.ClusterStatus``, and ``responses.Language`` (``/accounts/language``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorage.http.api.models.wire import WireModel


class Features(WireModel):
    scanning_enabled: bool = Field(serialization_alias="scanningEnabled")
    # No licences here: a feature is "licensed" when Moorage has it.
    scanning_licensed: bool = Field(serialization_alias="scanningLicensed")
    promotion_licensed: bool = Field(serialization_alias="promotionLicensed")
    mirroring_licensed: bool = Field(serialization_alias="mirroringLicensed")
    metadata_store_opted_in: bool = Field(serialization_alias="metadataStoreOptedIn")
    online_gc_enabled: bool = Field(serialization_alias="onlineGCEnabled")
    db_version: int = Field(description="the database schema's migration number")
    ucp_host: str = Field(serialization_alias="ucpHost")


class Alert(WireModel):
    id: str
    message: str
    # DTR's UI classes: "info", "warning", "danger".
    class_: str = Field(serialization_alias="class")
    url: str = ""
    img: str = ""


class ComponentHealth(WireModel):
    """One shared component of the cluster (Moorage's stand-in for RethinkDB's system tables:
    the SQL database and the blob store every replica shares)."""

    healthy: bool
    error: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class ClusterStatus(WireModel):
    # DTR: RethinkDB's own status tables; here the shared database and storage.
    rethink_system_tables: dict[str, ComponentHealth]
    replica_health: dict[str, str]  # replica id -> "OK" or what is wrong
    replica_timestamp: dict[str, str]  # replica id -> when it answered (RFC 3339)
    replica_readonly: dict[str, bool]
    gc_lock_holder: str  # the worker running online GC now ("" : none)


class Language(WireModel):
    language: str
