"""DTR's objects around remote registries: the connection check (``responses.RemoteRegistryCheck``),
and, for the OpenAPI document only, the objects of the families Moorage does not have yet
(mirroring and promotion policies, content caches) plus the error envelope those answer with.

The not-yet models use DTR's camelCase names as field names: they are never built, only
described (``http/api/not_yet.py`` answers 501 with ``ErrorEnvelope``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from moorage.http.api.models.wire import WireModel


class RemoteRepositoryPermissions(WireModel):
    read: bool
    write: bool


class RemoteRegistryCheck(WireModel):
    registry_type: str = Field(serialization_alias="registryType")
    permissions: RemoteRepositoryPermissions


# ---- the error envelope -------------------------------------------------------------------


class ApiError(BaseModel):
    code: str
    message: str
    detail: Any = None


class ErrorEnvelope(BaseModel):
    """DTR's ``{"errors":[{"code","message","detail"}]}``."""

    errors: list[ApiError]


# ---- described only: mirroring, promotion, content caches ---------------------------------


class Rule(BaseModel):  # ruleengine.Rule
    field: str
    operator: str
    values: list[str]


class MirroringStatus(BaseModel):  # schema.MirroringStatus
    code: str
    detail: str
    timestamp: dt.datetime


class PollMirroringPolicy(BaseModel):
    id: str
    username: str
    localRepository: str
    remoteHost: str
    remoteRepository: str
    remoteCA: str
    skipTLSVerification: bool
    enabled: bool
    lastMirroredAt: str
    lastStatus: MirroringStatus


class PushMirroringPolicy(PollMirroringPolicy):
    rules: list[Rule]
    tagTemplate: str


class MirroringPolicy(PollMirroringPolicy):
    mirroringType: str
    rules: list[Rule] | None = None
    tagTemplate: str | None = None


class Mirroring(BaseModel):  # responses.Mirroring: one tag pushed to a remote registry
    mirroringPolicyID: str
    digest: str
    remoteRepository: str
    remoteTag: str


class PromotionPolicy(BaseModel):
    id: str
    rules: list[Rule]
    sourceRepository: str
    targetRepository: str
    tagTemplate: str
    enabled: bool
    lastPromotedAt: dt.datetime


class Promotion(BaseModel):  # responses.Promotion ("string" is DTR's own field name)
    promotionPolicyID: str
    string: str
    sourceRepository: str
    sourceTag: str


class ContentCache(BaseModel):
    id: str
    name: str
    host: str


# ---- their request bodies (forms.*), described only ----------------------------------------


class RemoteCredentials(BaseModel):
    remoteHost: str
    remoteRepository: str
    remoteCA: str = ""
    skipTLSVerification: bool = False
    username: str = ""
    password: str = ""
    authToken: str = ""


class CreatePollMirroringPolicy(RemoteCredentials):
    enabled: bool


class CreatePushMirroringPolicy(RemoteCredentials):
    rules: list[Rule]
    tagTemplate: str
    enabled: bool


class CreateMirroring(RemoteCredentials):
    remoteTag: str


class CreatePromotionPolicy(BaseModel):
    rules: list[Rule]
    targetRepository: str
    tagTemplate: str
    enabled: bool


class CreatePromotion(BaseModel):
    targetRepository: str
    targetTag: str


class DeleteMirroringPolicyID(BaseModel):
    id: str


class CreateContentCache(BaseModel):
    name: str
    host: str
