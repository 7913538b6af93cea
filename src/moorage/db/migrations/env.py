"""Alembic environment: the URL or an open connection comes from ``moorage.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from moorage.db import (
    job_tables,  # noqa: F401  (declares its tables on the one MetaData)
    policy_tables,  # noqa: F401  (the pull policy)
    scan_result_tables,  # noqa: F401  (the scanner's results)
    scan_tables,  # noqa: F401  (the vulnerability database's)
    signature_tables,  # noqa: F401  (the signature trust store)
    trust_tables,  # noqa: F401  (Notary's trust metadata and server keys)
)
from moorage.db.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.attributes["url"])
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
