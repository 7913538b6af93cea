"""Failed sign-ins, counted in SQL per (source, account) and per source, in fixed windows.

Over budget, an attempt is refused at once (``SignInThrottled``, 429 with ``Retry-After``)
before any secret is checked, whatever the secret: a guess made over budget teaches nothing,
and nothing sleeps, so parallel connections gain nothing either. The counters live in the
database, so every worker process and replica shares them.

* A source is the client's address (an IPv6 address counts as its /64: one host holds many).
* Per (source, account): ``PAIR_LIMIT`` failures per ``WINDOW``. Another source is not
  affected, so an attacker cannot lock a user (or the administrator) out.
* Per source, across all names (made-up ones included): ``SOURCE_LIMIT`` failures per window.
* Rows exist only for real accounts (plus one per source) and are deleted once their window
  has passed (``prune``, at most once a minute per process, after a failure), so the table
  holds at most ``SOURCE_LIMIT + 1`` rows per source seen in the last window.
* A successful sign-in from a source without failures writes nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, literal, select

from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.errors import SignInThrottled

WINDOW = dt.timedelta(minutes=15)
PAIR_LIMIT = 10  # failures per (source, account) per window
SOURCE_LIMIT = 50  # failures per source per window, over every name
SOURCE_ONLY = 0  # account_id of the per-source row
UNKNOWN_SOURCE = "unknown"


def source_key(host: str | None) -> str:
    """The throttling key of a client address: IPv4 as is, IPv6 as its /64."""
    if not host:
        return UNKNOWN_SOURCE
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class Counter:
    failures: int = 0
    window_start: dt.datetime | None = None

    def live(self, now: dt.datetime) -> int:
        """The failures that still count at ``now``."""
        if self.window_start is None or as_utc(self.window_start) + WINDOW <= now:
            return 0
        return self.failures

    def seconds_left(self, now: dt.datetime) -> int:
        if self.window_start is None:
            return 0
        return max(1, math.ceil((as_utc(self.window_start) + WINDOW - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class State:
    pair: Counter
    source: Counter

    def check(self, now: dt.datetime | None = None) -> None:
        """Raise ``SignInThrottled`` when either budget is spent."""
        now = now or utcnow()
        waits = []
        if self.pair.live(now) >= PAIR_LIMIT:
            waits.append(self.pair.seconds_left(now))
        if self.source.live(now) >= SOURCE_LIMIT:
            waits.append(self.source.seconds_left(now))
        if waits:
            raise SignInThrottled(max(waits))


def counter(failures: Any, window_start: Any) -> Counter:
    if failures is None or window_start is None:
        return Counter()
    return Counter(int(failures), window_start)


_PAIR = t.login_throttle.alias("pair")
_SOURCE = t.login_throttle.alias("src")


def with_state(account_columns: Any, account_match: Any) -> Any:
    """``SELECT <account_columns>, <throttle counters>``: one row even when no account matches
    ``account_match`` (its columns then NULL), with the (source, account) and the source
    counters for ``bindparam("source")``. Callers add their own columns and joins."""
    anchor = select(literal(1).label("anchor")).subquery("anchor")
    joined = (
        anchor.outerjoin(t.accounts, account_match)
        .outerjoin(
            _PAIR,
            and_(_PAIR.c.source == bindparam("source"), _PAIR.c.account_id == t.accounts.c.id),
        )
        .outerjoin(
            _SOURCE,
            and_(_SOURCE.c.source == bindparam("source"), _SOURCE.c.account_id == SOURCE_ONLY),
        )
    )
    return select(
        *account_columns,
        _PAIR.c.failures.label("pair_failures"),
        _PAIR.c.window_start.label("pair_start"),
        _SOURCE.c.failures.label("source_failures"),
        _SOURCE.c.window_start.label("source_start"),
    ).select_from(joined)


def state_of(row: Any) -> State:
    return State(
        counter(row.pair_failures, row.pair_start),
        counter(row.source_failures, row.source_start),
    )


_STATE = select(
    t.login_throttle.c.account_id, t.login_throttle.c.failures, t.login_throttle.c.window_start
).where(
    and_(
        t.login_throttle.c.source == bindparam("source"),
        t.login_throttle.c.account_id.in_(bindparam("accounts", expanding=True)),
    )
)


async def load(conn: Connection, source: str, account_id: int | None) -> State:
    """The counters of ``source`` (and of ``account_id`` from it), freshly read."""
    wanted = [SOURCE_ONLY] if account_id is None else [SOURCE_ONLY, account_id]
    rows = {
        int(r.account_id): counter(r.failures, r.window_start)
        for r in await conn.execute(_STATE, {"source": source, "accounts": wanted})
    }
    pair = rows.get(account_id, Counter()) if account_id is not None else Counter()
    return State(pair, rows.get(SOURCE_ONLY, Counter()))


async def record_failure(db: Database, source: str, account_id: int | None) -> None:
    """Count one failure for ``source`` (and for ``account_id`` from it, a real account) in
    one transaction, atomically (``ON CONFLICT DO UPDATE``: parallel failures all count); a
    counter whose window has ended starts again at 1."""
    now = utcnow()
    cutoff = now - WINDOW
    table = t.login_throttle
    async with db.write() as conn:
        # Always in this order (the account's row, then the source's), so that concurrent
        # transactions never wait on each other in a circle.
        for account in [SOURCE_ONLY] if account_id is None else [account_id, SOURCE_ONLY]:
            await conn.execute(
                db.insert(table)
                .values(source=source, account_id=account, failures=1, window_start=now)
                .on_conflict_do_update(
                    index_elements=["source", "account_id"],
                    set_={
                        "failures": case(
                            (table.c.window_start < cutoff, 1), else_=table.c.failures + 1
                        ),
                        "window_start": case(
                            (table.c.window_start < cutoff, now), else_=table.c.window_start
                        ),
                    },
                )
            )


async def prune(db: Database) -> int:
    """Delete the counters whose window has ended (in a statement of its own)."""
    table = t.login_throttle
    async with db.write() as conn:
        result = await conn.execute(delete(table).where(table.c.window_start < utcnow() - WINDOW))
    return int(result.rowcount or 0)


async def forget_pair(db: Database, source: str, account_id: int) -> None:
    """After a successful sign-in: the account's own failures from ``source`` are forgotten
    (typos), the source's total is not (an attacker's own account must not reset it)."""
    table = t.login_throttle
    async with db.write() as conn:
        await conn.execute(
            delete(table).where(and_(table.c.source == source, table.c.account_id == account_id))
        )
