"""Where things live in the store (DESIGN.md §4); shared by every driver."""

from __future__ import annotations

from moorage.oci.digest import Digest


def blob_key(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}/data"


def upload_key(upload_id: str) -> str:
    return f"uploads/{upload_id}/data"


def upload_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}"
