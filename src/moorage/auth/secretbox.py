"""Secrets the registry must read back later (such as the LDAP reader password), sealed with Fernet.

The key is kept in the file ``<data>/secret.key`` (the ``data`` setting), created with mode 0600 on
first use; only sealed values go to the database. Replicas that share one database must share this
key too: give them one data folder, or copy ``secret.key`` into each replica's data folder before it
first starts. A value sealed with another key cannot be opened (``SecretUnreadable``): set it again.
Losing the file loses only the sealed values, never accounts or images.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from moorage.errors import MoorageError

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write a fresh key beside the target and link it into place: of several processes
        # starting at once, exactly one key wins and all of them read that one.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return self.path.read_bytes().strip()

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
