"""Accounts, an organization, teams and repositories, built through the real API."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PASSWORD = "correct-horse-battery"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(
    client: httpx.Client, repo: str, tag: str, auth: httpx.Auth | None
) -> tuple[int, str]:
    """Push a one-layer image; returns (status of the last request, manifest digest)."""
    layer = uuid.uuid4().bytes * 64
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}
    ).encode()
    for blob in (layer, config):
        r = client.post(
            f"/v2/{repo}/blobs/uploads/",
            params={"digest": digest_of(blob)},
            content=blob,
            auth=auth,
        )
        if r.status_code != 201:
            return r.status_code, ""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
        auth=auth,
    )
    return r.status_code, digest_of(manifest)


@dataclass
class World:
    """Users: alice (owns her namespace), bob (nobody special), carol/dave/erin (read-only,
    read-write, admin teams of org ``acme``), frank (owner of ``acme``), and the admin."""

    client: httpx.Client
    admin: tuple[str, str]
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    @property
    def org(self) -> str:
        return self.name("acme")

    def creds(self, role: str) -> tuple[str, str] | None:
        if role == "anonymous":
            return None
        if role == "admin":
            return self.admin
        return (self.name(role), PASSWORD)

    def api(
        self, method: str, path: str, auth: tuple[str, str] | None = None, **kw: object
    ) -> httpx.Response:
        return self.client.request(method, path, auth=auth or self.admin, **kw)  # type: ignore[arg-type]

    def build(self) -> World:
        def ok(r: httpx.Response) -> None:
            assert r.status_code < 300, (r.request.method, r.request.url, r.status_code, r.text)

        for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
            ok(
                self.api(
                    "POST",
                    "/enzi/v0/accounts",
                    json={"name": self.name(user), "password": PASSWORD},
                )
            )
        ok(self.api("POST", "/enzi/v0/accounts", json={"name": self.org, "isOrg": True}))
        ok(
            self.api(
                "PUT",
                f"/enzi/v0/accounts/{self.org}/members/{self.name('frank')}",
                json={"isAdmin": True},
            )
        )
        for team, member in (("ro", "carol"), ("rw", "dave"), ("adm", "erin")):
            ok(self.api("POST", f"/enzi/v0/accounts/{self.org}/teams", json={"name": team}))
            ok(
                self.api(
                    "PUT", f"/enzi/v0/accounts/{self.org}/teams/{team}/members/{self.name(member)}"
                )
            )
        for owner_ns, creator in (
            (self.org, self.admin),
            (self.name("alice"), self.creds("alice")),
        ):
            for vis in ("private", "public"):
                ok(
                    self.api(
                        "POST",
                        f"/api/v0/repositories/{owner_ns}",
                        auth=creator,
                        json={"name": f"{vis}-repo", "visibility": vis},
                    )
                )
        for vis in ("private", "public"):
            repo = f"{self.org}/{vis}-repo"
            for team, level in (("ro", "read-only"), ("rw", "read-write"), ("adm", "admin")):
                ok(
                    self.api(
                        "PUT",
                        f"/api/v0/repositories/{repo}/teamAccess/{team}",
                        json={"accessLevel": level},
                    )
                )
        return self
