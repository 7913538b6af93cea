"""``moorage replica list`` and ``moorage replica remove ID [--force]``: the replicas that
registered in the shared database, with their health (seen within a few heartbeat
intervals); remove refuses a replica that is still beating unless ``--force``."""

from __future__ import annotations

import argparse
import sys

from moorage.cli.options import add_common, settings_from, with_database
from moorage.db import replica_heartbeats as rh
from moorage.db.engine import Database, utcnow


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    replicas = with_database(settings, rh.list_all)
    now = utcnow()
    print(f"{'ID':<24} {'KIND':<7} {'HEALTH':<7} {'HOST':<20} {'ADDRESS':<22} LAST SEEN")
    for r in replicas:
        health = "up" if r.healthy(now, settings.heartbeat_seconds) else "down"
        print(
            f"{r.id:<24} {r.kind:<7} {health:<7} {r.host:<20} {r.address:<22} "
            f"{r.last_seen.isoformat(timespec='seconds')}"
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    replica_id: str = args.id
    settings = settings_from(args)

    async def run(db: Database) -> str:
        found = [r for r in await rh.list_all(db) if r.id == replica_id]
        if not found:
            return "missing"
        if found[0].healthy(utcnow(), settings.heartbeat_seconds) and not args.force:
            return "live"
        await rh.remove(db, replica_id)
        return "removed"

    outcome = with_database(settings, run)
    if outcome == "missing":
        print(f"no replica {replica_id!r}", file=sys.stderr)
        return 1
    if outcome == "live":
        print(
            f"replica {replica_id!r} is still sending heartbeats; stop it first or use --force",
            file=sys.stderr,
        )
        return 1
    print(f"removed replica {replica_id}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("replica", help="list or remove the replicas sharing the database")
    commands = parser.add_subparsers(dest="replica_command", required=True)
    listing = commands.add_parser("list", help="every registered replica and its health")
    add_common(listing)
    listing.set_defaults(func=cmd_list)
    removing = commands.add_parser("remove", help="forget a replica (refused while it is up)")
    add_common(removing)
    removing.add_argument("id", help="the replica's id (see `moorage replica list`)")
    removing.add_argument("--force", action="store_true", help="remove even a live replica")
    removing.set_defaults(func=cmd_remove)
