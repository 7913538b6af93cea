"""Secrets the registry must read back later, sealed with Fernet: the token signing key, the LDAP
reader password, webhook secrets.

The key is kept in the file ``<data>/secret.key`` (the ``data`` setting), created with mode 0600 on
first use; only sealed values go to the database. Replicas that share one database must share this
key too: give them one data folder, set the same ``MOORAGE_SECRET_KEY`` on each (``moorage serve``
writes it to ``secret.key`` and refuses to start when the file holds another key), or copy
``secret.key`` into each replica's data folder before it first starts. A value sealed with another
key cannot be opened (``SecretUnreadable``). Losing the key loses the sealed values: the signing
key (every token issued so far stops working; delete its row to have a new one made), the LDAP
reader password and the webhook secrets (set them again); never accounts or images.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from moorage.errors import ConfigError, MoorageError

KEY_FILE = "secret.key"


class SecretUnreadable(MoorageError):
    code, status, default_message = (
        "SECRET_UNREADABLE",
        500,
        "a stored secret cannot be decrypted with this replica's secret.key",
    )


class SecretBox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_data_folder(cls, data: Path) -> SecretBox:
        return cls(data.resolve() / KEY_FILE)

    @staticmethod
    def looks_sealed(value: str) -> bool:
        """A Fernet token (version byte 0x80, so base64 ``gAAAAA``), not a clear value."""
        return value.startswith("gAAAAA")

    def install(self, key: str) -> bool:
        """Make ``key`` (a Fernet key, as ``MOORAGE_SECRET_KEY`` gives it) this box's key: write
        it when the file does not exist yet (True), accept it when the file holds it (False),
        refuse it when the file holds another key (sealed values would not open)."""
        wanted = key.strip().encode()
        try:
            Fernet(wanted)
        except ValueError as exc:
            raise ConfigError(
                "the secret key must be 32 url-safe base64-encoded bytes (a Fernet key), e.g. "
                'python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from exc
        created = False
        if not self.path.exists():
            created = self._link_new(wanted)
        if self.path.read_bytes().strip() != wanted:
            raise ConfigError(
                f"the secret key given (MOORAGE_SECRET_KEY) differs from the one in {self.path}: "
                "values sealed with the file's key would not open; use the file's key, or move "
                "the file away if nothing sealed with it is needed"
            )
        return created

    def _load(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                self._fernet = Fernet(self._read_or_create())
            return self._fernet

    def _read_or_create(self) -> bytes:
        try:
            return self.path.read_bytes().strip()
        except FileNotFoundError:
            pass
        self._link_new(Fernet.generate_key())
        return self.path.read_bytes().strip()

    def _link_new(self, key: bytes) -> bool:
        """Write ``key`` beside the target (mode 0600) and link it into place: of several
        processes starting at once, exactly one key wins and all of them read that one."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        linked = False
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(key + b"\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)
                linked = True
        finally:
            tmp.unlink(missing_ok=True)
        return linked

    def seal(self, plaintext: str) -> str:
        return self._load().encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._load().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadable(
                f"a stored secret cannot be decrypted with {self.path}: "
                "replicas must share one secret.key; set the secret again"
            ) from exc
