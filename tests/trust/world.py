"""Accounts and repositories for the trust HTTP and CLI tests: an organization with a team of
readers (carol: pull) and a team of writers (dave: push), granted on the whole namespace, so
every repository a test makes in it has the same rules; the administrator deletes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

PASSWORD = "trust-test-password"


def _ok(r: httpx.Response) -> None:
    assert r.status_code < 300, (r.status_code, r.text)


@dataclass(frozen=True)
class TrustWorld:
    org: str
    reader: str
    writer: str

    def creds(self, user: str) -> tuple[str, str]:
        return user, PASSWORD

    def repository(self, admin: httpx.Client, prefix: str = "app") -> str:
        name = f"{prefix}{secrets.token_hex(3)}"
        _ok(
            admin.post(
                f"/api/v0/repositories/{self.org}", json={"name": name, "visibility": "private"}
            )
        )
        return f"{self.org}/{name}"


def make_world(admin: httpx.Client) -> TrustWorld:
    tag = secrets.token_hex(3)
    org, reader, writer = f"trust{tag}", f"carol{tag}", f"dave{tag}"
    for user in (reader, writer):
        _ok(admin.post("/enzi/v0/accounts", json={"name": user, "password": PASSWORD}))
    _ok(admin.post("/enzi/v0/accounts", json={"name": org, "isOrg": True}))
    for team, member, level in (
        ("readers", reader, "read-only"),
        ("writers", writer, "read-write"),
    ):
        _ok(admin.post(f"/enzi/v0/accounts/{org}/teams", json={"name": team}))
        _ok(admin.put(f"/enzi/v0/accounts/{org}/teams/{team}/members/{member}"))
        _ok(
            admin.put(
                f"/api/v0/repositoryNamespaces/{org}/teamAccess/{team}",
                json={"accessLevel": level},
            )
        )
    return TrustWorld(org, reader, writer)
