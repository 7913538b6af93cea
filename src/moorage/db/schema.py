"""The whole schema: the one MetaData (``db.tables``) with every module that declares tables on
it imported, so Alembic's environment, the backup and the schema test see the same tables.
A new ``*_tables`` module is added here, once."""

from __future__ import annotations

from moorage.db import (
    job_tables,  # noqa: F401  (the job runner's tables)
    policy_tables,  # noqa: F401  (the pull policy)
    scan_result_tables,  # noqa: F401  (the scanner's results)
    scan_tables,  # noqa: F401  (the vulnerability database's)
    signature_tables,  # noqa: F401  (the signature trust store)
    trust_tables,  # noqa: F401  (Notary's trust metadata and server keys)
)
from moorage.db.tables import metadata

__all__ = ["metadata"]
