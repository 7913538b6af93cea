"""A small world for the scanning tests: three users, three repositories (private to alice,
public, private to bob), each with one scanned image sharing a CVE, seeded in the result tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.http import scan_results as seed
from tests.http.scan_results import Pkg, Vuln
from tests.http.ui import content
from tests.inprocess import InProcessApp

BASE = "/api/v0/imagescan"
OPENSSL_CVE = Vuln(
    "CVE-2023-5678",
    "critical",
    7.5,
    aliases=("DSA-5532-1",),
    fixed="3.0.13-1~deb12u1",
    summary="Excessive time spent in DH key generation",
)
LIBC_CVE = Vuln("CVE-2024-0001", "major", 5.3, status="will not fix", summary="glibc issue")
REQUESTS_GHSA = Vuln(
    "GHSA-j8r2-6x86-q33q", "minor", 3.1, aliases=("CVE-2023-32681", "PYSEC-2023-74"), fixed="2.31.0"
)
PACKAGES = [
    Pkg(
        "libssl3",
        "3.0.11-1~deb12u2",
        0,
        source="openssl",
        licenses=("OpenSSL",),
        vulns=(OPENSSL_CVE,),
    ),
    Pkg("libc6", "2.36-9+deb12u3", 0, source="glibc", licenses=("LGPL-2.1",), vulns=(LIBC_CVE,)),
    Pkg(
        "requests",
        "2.25.0",
        1,
        type="pypi",
        path="usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA",
        licenses=("Apache-2.0",),
        vulns=(REQUESTS_GHSA,),
    ),
    Pkg(
        "left-pad",
        "1.3.0",
        1,
        type="npm",
        path="app/node_modules/left-pad/package.json",
        licenses=("WTFPL",),
    ),
]


@dataclass
class World:
    alice: tuple[str, str]
    bob: tuple[str, str]
    reader: tuple[str, str]
    app: seed.Seeded  # alice/app:v1, private
    public: seed.Seeded  # admin/public:latest, public
    secret: seed.Seeded  # bob/secret:v1, private to bob


async def build(inproc: InProcessApp) -> World:
    async with inproc.client() as admin:
        alice = await content.user(admin, "alice")
        bob = await content.user(admin, "bob")
        reader = await content.user(admin, "reader")
        await content.repository(admin, "admin", "public", "public")
        public_digest, public_layers = await seed.image(admin, "admin/public", "latest")
    async with inproc.client(auth=alice) as c:
        await content.repository(c, "alice", "app", "private")
        app_digest, app_layers = await seed.image(c, "alice/app", "v1")
    async with inproc.client(auth=bob) as c:
        await content.repository(c, "bob", "secret", "private")
        secret_digest, secret_layers = await seed.image(c, "bob/secret", "v1")
    return World(
        alice,
        bob,
        reader,
        await seed.scan(inproc, app_digest, app_layers, PACKAGES),
        await seed.scan(
            inproc,
            public_digest,
            public_layers,
            [Pkg("openssl", "3.0.11-1~deb12u2", 1, source="openssl", vulns=(OPENSSL_CVE,))],
        ),
        await seed.scan(
            inproc,
            secret_digest,
            secret_layers,
            [Pkg("libssl3", "3.0.11-1~deb12u2", 0, source="openssl", vulns=(OPENSSL_CVE,))],
        ),
    )


def error_of(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:1000])
    (error,) = r.json()["errors"]
    assert error["code"] == code, error
    found: dict[str, Any] = error
    return found
