"""Presigned GET URLs for Azure blobs: what ``redirect=true`` on ``azblob://`` hands to clients.

OpenDAL 0.47's azblob service cannot presign (its ``capability().presign_read`` is false), so the
URL is a **service SAS** made here with the account key the driver is built with
(``AZURE_STORAGE_KEY`` or ``storage_secret_key``). The signature is Microsoft's own
``azure.storage.blob.generate_blob_sas`` (the well-kept SDK, which tracks the string-to-sign of
each service version) rather than a hand-written HMAC; only the URL around it is put together
here, from the endpoint, the container and the key under the URL's prefix.

The SAS grants read (``sp=r``) of that one blob (``sr=b``), from a few minutes in the past (a
client's or the store's clock may run behind) until ``redirect_seconds`` from now, over HTTPS
only, unless the endpoint itself is ``http://`` (Azurite). No secret is in the URL: the account
name and an HMAC-SHA256 signature only.

The SDK is imported when a presigner is made, not with this module: its import costs about 0.3 s,
which commands that never redirect on Azure need not pay.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from urllib.parse import quote

from moorage.errors import ConfigError
from moorage.storage.objectstore_operators import Credentials
from moorage.storage.urls import StorageConfig

CLOCK_SKEW = dt.timedelta(minutes=5)  # the SAS starts this long before it is made


class BlobSas:
    """Signs read-only SAS URLs for blobs of one container, under one prefix."""

    def __init__(self, *, account: str, key: str, endpoint: str, container: str, prefix: str):
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        self._sign = generate_blob_sas
        self._read = BlobSasPermissions(read=True)
        self._account, self._key = account, key
        self._base = f"{endpoint.rstrip('/')}/{container}/"
        self._container = container
        self._prefix = f"{prefix}/" if prefix else ""
        self._protocol = "https,http" if endpoint.startswith("http://") else "https"

    def url(self, key: str, seconds: int) -> str:
        """A URL that reads the blob at ``key`` (under the prefix) for ``seconds`` from now."""
        blob = self._prefix + key
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        token = self._sign(
            self._account,
            self._container,
            blob,
            account_key=self._key,
            permission=self._read,
            start=now - CLOCK_SKEW,
            expiry=now + dt.timedelta(seconds=seconds),
            protocol=self._protocol,
        )
        return f"{self._base}{quote(blob, safe='/')}?{token}"

    def __repr__(self) -> str:  # never the key
        return f"BlobSas({self._base!r})"


def presigner(
    config: StorageConfig, creds: Credentials, env: Mapping[str, str]
) -> Callable[[str, int], str] | None:
    """``BlobSas.url`` for an ``azblob://`` URL with ``redirect=true``; None for any other."""
    if config.kind != "azblob" or config.redirect_seconds is None:
        return None
    account = config.options["account"]
    key = creds.secret_key or env.get("AZURE_STORAGE_KEY")
    if not key:
        raise ConfigError("storage: azblob needs AZURE_STORAGE_KEY or storage_secret_key")
    endpoint = config.options.get("endpoint", f"https://{account}.blob.core.windows.net")
    sas = BlobSas(
        account=account, key=key, endpoint=endpoint, container=config.bucket, prefix=config.prefix
    )
    return sas.url
