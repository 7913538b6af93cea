"""Looking at the vulnerability database's tables directly, to check what an import wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select

from moorage.db import scan_tables as st
from moorage.db.engine import Database


async def row_count(db: Database, table: Table, *where: Any) -> int:
    async with db.read() as conn:
        statement = select(func.count()).select_from(table)
        if where:
            statement = statement.where(*where)
        return int((await conn.execute(statement)).scalar_one())


async def record_rows(db: Database, record_id: str) -> list[Any]:
    """Every stored version of a record: (pk, gen_from, gen_to, modified, withdrawn)."""
    r = st.vuln_records
    async with db.read() as conn:
        rows = await conn.execute(
            select(r.c.pk, r.c.gen_from, r.c.gen_to, r.c.modified, r.c.withdrawn)
            .where(r.c.id == record_id)
            .order_by(r.c.pk)
        )
        return list(rows)
