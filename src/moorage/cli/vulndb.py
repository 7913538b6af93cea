"""``moorage vulndb import FILE [--replace]`` and ``moorage vulndb status``: the vulnerability
database's offline update (a zip of OSV records, the same import as the API's) and its
version, for air-gapped sites and operators."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from moorage.cli.options import add_common, settings_from, with_database
from moorage.db.engine import Database
from moorage.errors import InvalidInput
from moorage.scanning.vulndb import status as vulndb_status
from moorage.scanning.vulndb.importer import ImportProgress, ImportReport, import_archives


def _time(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def cmd_import(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    path: Path = args.file
    if not path.is_file():
        raise InvalidInput(f"no file {path}")

    async def progress(state: ImportProgress) -> None:
        if args.verbose:
            c = state.counts
            print(
                f"{state.read} of {state.total} records read ({c.added} added, "
                f"{c.updated} updated, {c.unchanged} unchanged)",
                file=sys.stderr,
                flush=True,
            )

    async def run(db: Database) -> ImportReport:
        return await import_archives(
            db,
            [path],
            source=f"file {path.name}",
            kind="offline",
            holder="moorage vulndb import",
            prune=args.replace,
            progress=progress,
        )

    report = with_database(settings, run)
    if args.json:
        print(
            json.dumps(
                {
                    "version": report.generation,
                    "records": report.records,
                    "withdrawn": report.withdrawn_total,
                    "skippedFiles": report.skipped_files,
                    **report.counts.as_dict(),
                },
                sort_keys=True,
            )
        )
    else:
        print(report.summary())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    found = with_database(settings, vulndb_status.read)
    if args.json:
        values = {k: _time(v) for k, v in dataclasses.asdict(found).items()}
        print(json.dumps(values, sort_keys=True, default=str))
        return 0
    if found.generation == 0:
        print("no vulnerability database imported yet")
    else:
        print(
            f"vulnerability database version {found.generation}: {found.records} records "
            f"({found.withdrawn} withdrawn), newest modified {_time(found.newest_modified)}, "
            f"imported {_time(found.imported_at)} from {found.source}"
        )
    if found.last_outcome == "failed":
        print(f"last update failed at {_time(found.last_attempt_at)}: {found.last_error}")
    if found.updating is not None:
        print(f"an update is running ({found.updating.holder}): {found.updating.progress}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("vulndb", help="the vulnerability database: import a file, status")
    commands = parser.add_subparsers(dest="vulndb_command", required=True)
    imp = commands.add_parser("import", help="import a zip of OSV records (offline update)")
    add_common(imp)
    imp.add_argument("file", type=Path, help="zip archive of OSV JSON records")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="the archive is the whole offline database: offline records it lacks are removed",
    )
    imp.add_argument("--json", action="store_true", help="print the counts as JSON")
    imp.add_argument("-v", "--verbose", action="store_true", help="print progress on stderr")
    imp.set_defaults(func=cmd_import)
    st = commands.add_parser("status", help="the database's version and last update")
    add_common(st)
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.set_defaults(func=cmd_status)
