"""DTR's API token objects (``/api_tokens``)."""

from __future__ import annotations

from pydantic import Field

from moorage.auth import access_tokens
from moorage.http.api.models.wire import Timestamp, WireModel


class ApiToken(WireModel):
    hashed_token: str = Field(serialization_alias="hashedToken")
    token_label: str = Field(serialization_alias="tokenLabel")
    is_active: bool = Field(serialization_alias="isActive")
    creation_time: Timestamp = Field(serialization_alias="creationTime")
    last_used: Timestamp | None = Field(serialization_alias="lastUsed")
    generated_by: str = Field(serialization_alias="generatedBy")

    @classmethod
    def of(cls, info: access_tokens.TokenInfo) -> ApiToken:
        return cls(
            hashed_token=info.hashed,
            token_label=info.label,
            is_active=info.is_active,
            creation_time=info.created_at,
            last_used=info.last_used_at or None,
            generated_by=info.account_name,
        )


class NewApiToken(ApiToken):
    """A token just made: the only answer that carries the token itself."""

    token: str


class ApiTokenList(WireModel):
    api_tokens: list[ApiToken] = Field(serialization_alias="apiTokens")
