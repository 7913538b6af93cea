"""DTR's API token objects (``/api_tokens``): ``responses.APIToken`` and, once, at creation,
``responses.NewAPIToken`` (the only answer that carries the secret)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from moorage.auth import access_tokens
from moorage.http.api.models.wire import Timestamp, WireModel

# What DTR (Go) sends as ``lastUsed`` for a token never used: the zero time, never null.
NEVER = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


class ApiToken(WireModel):
    hashed_token: str = Field(serialization_alias="hashedToken")
    token_label: str = Field(serialization_alias="tokenLabel")
    is_active: bool = Field(serialization_alias="isActive")
    created_at: Timestamp = Field(serialization_alias="createdAt")
    last_used: Timestamp = Field(serialization_alias="lastUsed")
    generated_by: str = Field(serialization_alias="generatedBy")
    creator_ua: str = Field(serialization_alias="creatorUa")

    @classmethod
    def of(cls, info: access_tokens.TokenInfo) -> ApiToken:
        return cls(
            hashed_token=info.hashed,
            token_label=info.label,
            is_active=info.is_active,
            created_at=info.created_at,
            last_used=info.last_used_at or NEVER,
            generated_by=info.generated_by,
            creator_ua=info.creator_ua,
        )


class NewApiToken(ApiToken):
    """A token just made: the only answer that carries the token itself."""

    token: str
