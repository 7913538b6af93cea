"""Moorage's pull policy objects (no DTR counterpart; DTR's naming style): the body of ``PUT
.../pullPolicy`` and the policy a ``GET`` answers (``services.pull_policy``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from moorage.http.api.models.wire import Timestamp, WireModel
from moorage.services.pull_policy import Policy

Severity = Literal["none", "low", "medium", "high", "critical"]
Mode = Literal["enforce", "audit"]


class NewPullPolicy(BaseModel):
    """What pulls of the repository (or of every repository of the namespace) require:
    ``requireSignature`` a trusted signature; ``maxSeverity`` no vulnerability above that level
    in a completed scan (absent or null: no such rule); ``mode`` ``enforce`` refuses, ``audit``
    only records what would have been refused. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    require_signature: bool = Field(default=False, alias="requireSignature")
    max_severity: Severity | None = Field(default=None, alias="maxSeverity")
    mode: Mode = "enforce"


class PullPolicy(WireModel):
    """A pull policy; ``scope`` says whose it is (``repository`` or ``namespace``): a
    repository's answer is the policy in force for it, its own or its namespace's."""

    require_signature: bool = Field(serialization_alias="requireSignature")
    max_severity: Severity | None = Field(serialization_alias="maxSeverity")
    mode: Mode
    scope: Literal["repository", "namespace"]
    updated_at: Timestamp = Field(serialization_alias="updatedAt")
    updated_by: str = Field(serialization_alias="updatedBy")

    @classmethod
    def of(cls, policy: Policy) -> PullPolicy:
        return cls.model_validate(
            {
                "require_signature": policy.require_signature,
                "max_severity": policy.max_severity,
                "mode": policy.mode,
                "scope": policy.scope,
                "updated_at": policy.updated_at,
                "updated_by": policy.updated_by or "",
            }
        )
