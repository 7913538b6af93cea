"""``moorage gc [--dry-run]``: the online garbage collection, run once in this process (the
same code as the ``onlinegc`` job, with the site's ``gcCollectUntaggedManifests``), ending
with its plain summary: what was freed, what was kept and why."""

from __future__ import annotations

import argparse
import sys

from moorage.cli.options import add_common, settings_from, with_database
from moorage.db import site_settings
from moorage.db.engine import Database
from moorage.registry import gc


def cmd_gc(args: argparse.Namespace) -> int:
    from moorage.cli.storage_cmd import adopt_stored_storage
    from moorage.jobs.gc import options, report_json
    from moorage.registry.context import RegistryContext
    from moorage.storage.configured import make_storage

    settings = settings_from(args)
    adopt_stored_storage(settings)  # the API's storage setting, as serve uses it
    parameters: dict[str, object] = {"dryRun": args.dry_run}
    if args.grace is not None:
        parameters["gracePeriodSeconds"] = args.grace
    if args.upload_max_age is not None:
        parameters["uploadMaxAgeSeconds"] = args.upload_max_age

    async def run(db: Database) -> gc.GcReport:
        ctx = RegistryContext(db=db, storage=make_storage(settings), settings=settings)
        site = await site_settings.load(db)
        opts = options(parameters, site.gc_collect_untagged_manifests)

        async def progress(message: str, _report: gc.GcReport) -> None:
            if args.verbose:
                print(message, file=sys.stderr, flush=True)

        return await gc.collect(ctx, opts, progress=progress)

    report = with_database(settings, run)
    print(report_json(report) if args.json else report.summary)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("gc", help="run the online garbage collection once and summarize it")
    add_common(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be freed, delete nothing"
    )
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="grace period (default 3600): nothing younger is collected",
    )
    parser.add_argument(
        "--upload-max-age",
        type=float,
        metavar="SECONDS",
        help="abandoned uploads older than this go (default 86400)",
    )
    parser.add_argument("--json", action="store_true", help="print the report's numbers as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress on stderr")
    parser.set_defaults(func=cmd_gc)
