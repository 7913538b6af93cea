"""``GET|PUT /api/v0/admin/settings/registry/simple``: the storage as DTR serves it, CNCF
distribution's ``storage:`` block (moorage.storage.distribution_config), system administrators
only.

Which storage wins: a ``storage`` URL in the configuration (``MOORAGE_STORAGE``, ``--storage``,
YAML) is pinned, and a PUT answers 409 ``STORAGE_PINNED``; otherwise the setting stored here
(in SQL, so every replica reads the same) is what ``moorage serve`` uses from its next start,
and without one the data folder's ``storage/``. A change takes effect when each replica
restarts: a running replica keeps its driver (its uploads in progress and its open reads are on
it), so GET says ``restartPending`` until then.

A PUT that changes the backend while the registry holds any blob or manifest answers 409
``STORAGE_NOT_EMPTY``, unless ``?force=true`` says the data has been copied (``moorage storage
migrate`` does it and switches by itself). Every PUT probes the store first (a probe object
written, read back and deleted): 400 ``STORAGE_UNREACHABLE`` with the driver's error when that
fails. Access keys, account keys and passwords are sealed with the data folder's secret key
(moorage.auth.secretbox), never answered (``<redacted>``) and never logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from moorage.auth.secretbox import SecretBox
from moorage.config import Settings
from moorage.db import site_settings
from moorage.http.api.common import Admin, AppServices
from moorage.http.api.models.registry_settings import (
    RegistryStorageForm,
    RegistryStorageSettings,
)
from moorage.registry.storage_migrate import holds_content, reachable
from moorage.storage import distribution_config as dist
from moorage.storage.configured import chosen_storage
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import parse_storage_url

log = logging.getLogger("moorage.api")
router = APIRouter(tags=["settings"])
PATH = "/admin/settings/registry/simple"
Source = Literal["configuration", "database", "default"]
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": RegistryStorageForm.model_json_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def _same_store(a: str, b: str) -> bool:
    return parse_storage_url(a).display() == parse_storage_url(b).display()


def _default_url(settings: Settings) -> str:
    return f"file://{settings.storage_root}"


async def _answer(
    settings: Settings, stored: dict[str, Any] | None, read_only: bool
) -> RegistryStorageSettings:
    running, _ = chosen_storage(settings, os.environ)
    source: Source
    if settings.storage:
        url, source = settings.storage, "configuration"
        has_access = settings.storage_access_key is not None
        has_secret = settings.storage_secret_key is not None
    elif stored is not None:
        url, source = str(stored["url"]), "database"
        has_access = bool(stored.get("accessKeySealed"))
        has_secret = bool(stored.get("secretKeySealed"))
    else:
        url, source, has_access, has_secret = _default_url(settings), "default", False, False
    block = dist.to_block(url, has_access=has_access, has_secret=has_secret, read_only=read_only)
    return RegistryStorageSettings(
        storage=block,
        storage_url=parse_storage_url(url).display(),
        source=source,
        pinned=source == "configuration",
        restart_pending=not _same_store(url, running or _default_url(settings)),
    )


@router.get(PATH, response_model=RegistryStorageSettings)
async def get_registry_storage(services: AppServices, principal: Admin) -> RegistryStorageSettings:
    """The storage as distribution's ``storage:`` block, secrets redacted (system
    administrators)."""
    stored = await site_settings.load_storage(services.db)
    site = await site_settings.load(services.db)
    return await _answer(services.settings, stored, site.read_only_registry)


@router.put(
    PATH,
    status_code=202,
    response_model=RegistryStorageSettings,
    openapi_extra=_BODY,
)
async def put_registry_storage(
    request: Request,
    services: AppServices,
    principal: Admin,
    force: bool = Query(False, description="the blobs have been copied to the new storage"),
) -> JSONResponse:
    """Choose the storage from distribution's ``storage:`` block (JSON or YAML); it takes
    effect when each replica restarts. 409 when the configuration pins the storage, or when
    the registry holds blobs and ``force`` is not given; 400 when the store cannot be written
    and read."""
    settings = services.settings
    if settings.storage:
        raise dist.StoragePinned(
            "the storage is set by the configuration (MOORAGE_STORAGE, --storage or storage: "
            f"in the YAML file) to {parse_storage_url(settings.storage).display()}: change it "
            "there, or remove it to choose the storage here",
            detail={"storageURL": parse_storage_url(settings.storage).display()},
        )
    block = dist.parse_body(await request.body())
    box = SecretBox.in_data_folder(settings.data)
    stored = await site_settings.load_storage(services.db)
    kept = dist.opened_credentials(stored, box.open) if stored else Credentials()
    wanted = dist.to_url(block, stored_access=kept.access_key, stored_secret=kept.secret_key)
    current = str(stored["url"]) if stored else _default_url(settings)
    if not _same_store(wanted.url, current) and not force:
        held = await holds_content(services.db)
        if held:
            raise dist.StorageNotEmpty(
                f"the registry holds {held} blobs and manifests in "
                f"{parse_storage_url(current).display()}: copy them with `moorage storage "
                "migrate --to URL` (it switches by itself), or say they have been copied "
                "with ?force=true",
                detail={"objects": held},
            )
    creds = Credentials(wanted.access_key, wanted.secret_key)
    await reachable(wanted.url, creds, os.environ)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = dist.sealed_record(wanted.url, creds, box.seal, by=principal.name or "", at=now)
    await site_settings.save_storage(services.db, record)
    log.info(
        "storage setting changed; it takes effect when each replica restarts",
        extra={"storage": parse_storage_url(wanted.url).display(), "by": principal.name},
    )
    site = await site_settings.load(services.db)
    answer = await _answer(settings, record, site.read_only_registry)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202)
