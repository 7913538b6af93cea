"""DTR's layer overrides under ``/api/v0/imagescan/layeroverride`` (system administrators only):
list them (``?layer=`` for one layer), set one on a layer (``{"component", "componentVersion",
"cve", "notes"}``; 404 ``NO_SUCH_LAYER`` when no scanned image holds the layer, 400
``INVALID_SETTINGS`` for a value it refuses, as DTR) and delete one
by its id (or every override of a vulnerability ID; 404 ``NO_SUCH_LAYER``, DTR's code, when
nothing matches). Each change applies to the stored results at once
(``moorage.scanning.layer_overrides``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from moorage.errors import InvalidInput, InvalidSettings
from moorage.http.api.common import Admin, Db
from moorage.http.api.models.scanning import LayerVulnOverride
from moorage.scanning import layer_overrides
from moorage.scanning.layer_overrides import NoSuchLayer, NoSuchOverride

router = APIRouter(tags=["imagescan"])


class VulnOverrideOption(BaseModel):
    """DTR's ``forms.VulnOverrideOption``."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    component: str = Field(max_length=1024)
    component_version: str = Field(default="", alias="componentVersion", max_length=255)
    cve: str = Field(max_length=255)
    notes: str = Field(default="", max_length=layer_overrides.MAX_NOTES)


@router.get("/imagescan/layeroverride")
async def list_overrides(
    db: Db,
    principal: Admin,
    layer: Annotated[str | None, Query(max_length=200)] = None,
) -> list[LayerVulnOverride]:
    return [LayerVulnOverride.of(o) for o in await layer_overrides.listing(db, layer_digest=layer)]


@router.post("/imagescan/layeroverride/{layerid}")
async def set_override(
    layerid: str, option: VulnOverrideOption, db: Db, principal: Admin
) -> LayerVulnOverride:
    """DTR answers 200 without a body; Moorage sends the override it stored. A value DTR's
    Swagger would refuse is its 400 ``INVALID_SETTINGS``."""
    try:
        override = await layer_overrides.create(
            db,
            layer_digest=layerid,
            component=option.component,
            component_version=option.component_version,
            vuln_id=option.cve,
            notes=option.notes,
            actor=principal.name or "",
        )
    except InvalidInput as exc:
        raise InvalidSettings(exc.message, detail=exc.detail) from exc
    return LayerVulnOverride.of(override)


@router.delete("/imagescan/layeroverride/{vulnerabilityid}")
async def delete_override(
    vulnerabilityid: str, db: Db, principal: Admin
) -> list[LayerVulnOverride]:
    """Delete the override with this id (or every override of this vulnerability ID); the
    answer lists what was deleted."""
    try:
        removed = await layer_overrides.remove(db, vulnerabilityid)
    except NoSuchOverride as exc:
        raise NoSuchLayer("no such vulnerability override", detail=exc.detail) from exc
    return [LayerVulnOverride.of(o) for o in removed]
