"""DTR's repository object (``responses.Repository``), repository lists and autocomplete
(team access and access queries: ``models.team_access``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from moorage.http.api.models.accounts import Account
from moorage.http.api.models.wire import WireModel
from moorage.registry import repositories as registry


class Repository(WireModel):
    id: str
    namespace: str
    namespace_type: str = Field(serialization_alias="namespaceType")
    name: str
    short_description: str = Field(serialization_alias="shortDescription")
    long_description: str = Field(serialization_alias="longDescription")
    visibility: str
    scan_on_push: bool = Field(serialization_alias="scanOnPush")
    immutable_tags: bool = Field(serialization_alias="immutableTags")
    enable_manifest_lists: bool = Field(serialization_alias="enableManifestLists")
    tag_limit: int = Field(serialization_alias="tagLimit")
    pulls: int
    pushes: int

    @staticmethod
    def fields(repo: registry.RepositoryDetails, namespace_type: str) -> dict[str, Any]:
        """The model's fields as plain values (a list validates them in one call)."""
        return {
            "id": str(repo.id),
            "namespace": repo.namespace,
            "namespace_type": namespace_type,
            "name": repo.short_name,
            "short_description": repo.short_description,
            "long_description": repo.long_description,
            "visibility": repo.visibility,
            "scan_on_push": repo.scan_on_push,
            "immutable_tags": repo.immutable_tags,
            "enable_manifest_lists": repo.enable_manifest_lists,
            "tag_limit": repo.tag_limit,
            "pulls": repo.pulls,
            "pushes": repo.pushes,
        }

    @classmethod
    def of(cls, repo: registry.RepositoryDetails, namespace_type: str) -> Repository:
        return cls.model_validate(cls.fields(repo, namespace_type))


class RepositoryList(WireModel):
    repositories: list[Repository]

    @classmethod
    def of(cls, found: list[registry.RepositoryDetails], types: dict[str, str]) -> RepositoryList:
        """``types``: each namespace's kind (``user`` or ``organization``)."""
        rows = [Repository.fields(r, types[r.namespace]) for r in found]
        return cls.model_validate({"repositories": rows})


class Autocomplete(WireModel):
    account_results: list[Account] = Field(serialization_alias="accountResults")
    repository_results: list[Repository] = Field(serialization_alias="repositoryResults")
