"""Signed bearer tokens for the Docker token flow (RS256 via PyJWT + cryptography).

The signing key lives in the database so every replica and every restart signs
and verifies with the same key; the first process to start creates it (one of several
replicas starting at once: the creation is serialized, see ``Database.serialize``). It is
stored sealed with the replica's secret key (``moorage.auth.secretbox``), so the database
alone (a copy of ``moorage.db``, a dump, a reader of the table) cannot forge tokens; a key
stored in clear by an older version is sealed in place when it is first loaded.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import and_, select, update

from moorage.auth.secretbox import SecretBox
from moorage.db import tables as t
from moorage.db.engine import Database, utcnow
from moorage.errors import MoorageError, Unauthorized

ALGORITHM = "RS256"
log = logging.getLogger("moorage.auth")
_FIRST_KEY = select(t.signing_keys).order_by(t.signing_keys.c.created_at, t.signing_keys.c.kid)


def libtrust_kid(public_key: rsa.RSAPublicKey) -> str:
    """The key id format the distribution registry computes (libtrust): base32 of the
    SHA-256 of the DER public key, first 240 bits, in 12 groups of 4."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def _seal_in_place(db: Database, box: SecretBox, kid: str, clear: str) -> None:
    """A key an older version stored in clear: replace it by its sealed form (only if the row
    still holds that clear value, so replicas doing this at once write it once)."""
    sk = t.signing_keys
    async with db.write() as conn:
        done = await conn.execute(
            update(sk)
            .where(and_(sk.c.kid == kid, sk.c.private_pem == clear))
            .values(private_pem=box.seal(clear))
        )
    if done.rowcount:
        log.warning(
            "signing key was stored in clear by an older version; sealed it with the secret key",
            extra={"kid": kid, "secret_key_file": str(box.path)},
        )


async def key_status(db: Database, box: SecretBox | None) -> tuple[int, int, int]:
    """(signing keys, sealed ones, sealed ones ``box`` opens), for ``moorage check``."""
    async with db.read() as conn:
        rows = list(await conn.execute(select(t.signing_keys.c.private_pem)))
    sealed = [r.private_pem for r in rows if SecretBox.looks_sealed(r.private_pem)]
    opened = 0
    if box is not None:
        for value in sealed:
            try:
                box.open(value)
            except MoorageError:
                continue
            opened += 1
    return len(rows), len(sealed), opened


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
    async def load_or_create(cls, db: Database, issuer: str, *, box: SecretBox) -> TokenSigner:
        async with db.read() as conn:
            row = (await conn.execute(_FIRST_KEY.limit(1))).first()
        if row is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            async with db.write() as conn:
                # Of replicas starting together, one creates the key; the others wait here and
                # then read that one.
                await db.serialize(conn, "signing-key")
                row = (await conn.execute(_FIRST_KEY.limit(1))).first()
                if row is None:
                    await conn.execute(
                        t.signing_keys.insert().values(
                            kid=libtrust_kid(key.public_key()),
                            algorithm=ALGORITHM,
                            private_pem=box.seal(_pem(key)),
                            created_at=utcnow(),
                        )
                    )
                    row = (await conn.execute(_FIRST_KEY.limit(1))).first()
        assert row is not None
        stored: str = row.private_pem
        if SecretBox.looks_sealed(stored):
            pem = box.open(stored)
        else:
            pem = stored
            await _seal_in_place(db, box, row.kid, stored)
        # The key is one this registry generated and sealed (authenticated encryption): its
        # RSA consistency checks (~75 ms of CPU each process start) would prove nothing new.
        loaded = serialization.load_pem_private_key(
            pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
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
        access_token_id: int | None = None,
    ) -> tuple[str, int]:
        """A signed token; ``access_token_id`` names the access token the login used, so the
        registry refuses the bearer token once that access token is revoked."""
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
        if access_token_id is not None:
            claims["moorage_access_token"] = access_token_id
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
