"""Signed bearer tokens for the Docker token flow (RS256 via PyJWT + cryptography).

The signing key lives in the database so every replica and every restart signs
and verifies with the same key; the first process to start creates it.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.errors import Unauthorized

ALGORITHM = "RS256"


def libtrust_kid(public_key: rsa.RSAPublicKey) -> str:
    """The key id format the distribution registry computes (libtrust): base32 of the
    SHA-256 of the DER public key, first 240 bits, in 12 groups of 4."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True, slots=True)
class GrantedAccess:
    type: str
    name: str
    actions: frozenset[str]

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


class TokenSigner:
    def __init__(self, private_key: rsa.RSAPrivateKey, kid: str, issuer: str) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.kid = kid
        self.issuer = issuer

    @classmethod
    async def load_or_create(cls, db: Database, issuer: str) -> TokenSigner:
        async with db.read() as conn:
            row = (
                await conn.execute(
                    select(t.signing_keys)
                    .order_by(t.signing_keys.c.created_at, t.signing_keys.c.kid)
                    .limit(1)
                )
            ).first()
        if row is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            async with db.write() as conn:
                await conn.execute(
                    db.insert(t.signing_keys)
                    .values(
                        kid=libtrust_kid(key.public_key()),
                        algorithm=ALGORITHM,
                        private_pem=pem,
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["kid"])
                )
                row = (
                    await conn.execute(
                        select(t.signing_keys)
                        .order_by(t.signing_keys.c.created_at, t.signing_keys.c.kid)
                        .limit(1)
                    )
                ).first()
        assert row is not None
        loaded = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        return cls(loaded, row.kid, issuer)

    def mint(
        self,
        subject: str,
        audience: str,
        access: list[GrantedAccess],
        ttl: int,
        *,
        account_id: int | None = None,
    ) -> tuple[str, int]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [a.claim() for a in access],
        }
        if account_id is not None:
            claims["moorage_account"] = account_id
        token = jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, now

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        return claims

    def jwks(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()

        def b64(n: int) -> str:
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": ALGORITHM,
                    "n": b64(numbers.n),
                    "e": b64(numbers.e),
                }
            ]
        }
