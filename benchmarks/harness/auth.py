"""Authentication: Moorage's token service seen as a client (admin account, public
repositories), and tokens minted for a distribution registry with ``auth.token``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from harness.errors import BenchError
from harness.rawhttp import Conn, expect

BENCH_ADMIN = "bench"  # also the namespace of every benchmark repository
PRIVATE_REPO = "bench/wrk-private"  # the token-auth figures read from here


def parse_challenge(value: str) -> dict[str, str]:
    """``Bearer realm="...",service="...",scope="..."`` -> its parameters (and ``scheme``)."""
    scheme, _, rest = value.strip().partition(" ")
    out = {"scheme": scheme.lower()}
    for m in re.finditer(r'(\w+)="([^"]*)"', rest):
        out[m.group(1)] = m.group(2)
    return out


class RegistryAuth:
    """A registry that asks for credentials at /v2/ (Moorage with identity and access): the
    benchmark's administrator account, public repositories created through ``/api/v0`` so
    that reads are anonymous, and bearer tokens from the token service for writes (what
    docker, podman and skopeo do: Basic credentials only ever go to the token service)."""

    def __init__(self, port: int, challenge: str, user: str, password: str) -> None:
        params = parse_challenge(challenge)
        if params["scheme"] != "bearer" or "realm" not in params:
            raise BenchError(f"unexpected /v2/ challenge {challenge!r}")
        self.port = port
        parts = urlsplit(params["realm"])
        self.realm = parts.path + (f"?{parts.query}" if parts.query else "")
        self.service = params.get("service", "")
        self.user = user
        creds = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.basic = {"Authorization": f"Basic {creds}"}
        self.created: set[str] = set()
        self.tokens_issued = 0

    def ensure_repo(self, repo: str) -> None:
        """Create the repository: public, except PRIVATE_REPO (for the token-auth figures)."""
        if repo in self.created:
            return
        namespace, _, name = repo.partition("/")
        visibility = "private" if repo == PRIVATE_REPO else "public"
        conn = Conn(self.port, auth=self.basic)
        try:
            body = json.dumps({"name": name, "visibility": visibility}).encode()
            resp = conn.request(
                "POST",
                f"/api/v0/repositories/{namespace}",
                {"Content-Type": "application/json"},
                body,
            )
            if resp.status != 201:
                check = conn.request("GET", f"/api/v0/repositories/{namespace}/{name}")
                if check.status != 200 or json.loads(check.body).get("visibility") != visibility:
                    raise BenchError(
                        f"cannot create {visibility} repository {repo}: HTTP {resp.status} "
                        f"{resp.body[:300]!r}"
                    )
        finally:
            conn.close()
        self.created.add(repo)

    def token(self, repos: list[str], actions: str) -> str:
        query = "&".join(
            [f"service={quote(self.service)}"]
            + [f"scope={quote(f'repository:{r}:{actions}')}" for r in repos]
        )
        sep = "&" if "?" in self.realm else "?"
        conn = Conn(self.port, auth=self.basic)
        try:
            resp = expect(conn.request("GET", f"{self.realm}{sep}{query}"), 200, "token request")
        finally:
            conn.close()
        self.tokens_issued += 1
        doc = json.loads(resp.body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise BenchError(f"token service answered without a token: {resp.body[:300]!r}")
        return str(token)

    def write_headers(self, repos: list[str]) -> dict[str, str]:
        for repo in repos:
            self.ensure_repo(repo)
        return {"Authorization": f"Bearer {self.token(repos, 'pull,push')}"}


class TokenMinter:
    """Bearer tokens for a distribution registry configured with ``auth.token``: an RSA key,
    a self-signed certificate as its ``rootcertbundle``, and RS256 tokens carrying the key's
    libtrust key id (what distribution looks up). Needs PyJWT and cryptography."""

    ISSUER = "moorage-benchmark"
    SERVICE = "benchmark"

    def __init__(self, workdir: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorage-benchmark")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-root.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        self.kid = ":".join(b32[i : i + 4] for i in range(0, 48, 4))

    def token(self, repos: list[str], actions: list[str], ttl: int = 3600) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": self.ISSUER,
            "sub": "benchmark",
            "aud": self.SERVICE,
            "iat": now,
            "nbf": now - 60,
            "exp": now + ttl,
            "jti": os.urandom(12).hex(),
            "access": [{"type": "repository", "name": r, "actions": actions} for r in repos],
        }
        return str(jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid}))
