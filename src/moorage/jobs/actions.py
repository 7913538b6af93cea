"""Action names → the coroutines that run them, and DTR's action names → Moorage's.

DTR 2.7 lists 21 job actions (its docs, ``ee/dtr/admin/manage-jobs/job-queue.md``). Those
Moorage has are accepted by their DTR name (``DTR_NAMES``) and run as Moorage's action; a job
keeps the name it was submitted with (``jobs.submitted_action``), which is what the API shows.
The others are refused with what Moorage has instead (``NOT_IN_MOORAGE``).
"""

from __future__ import annotations

import asyncio
import time

from moorage.errors import InvalidInput
from moorage.jobs.context import Action, JobContext


class UnknownAction(InvalidInput):
    code, default_message = "UNKNOWN_ACTION", "unknown action"


class ActionNotInMoorage(InvalidInput):
    code, default_message = "ACTION_NOT_SUPPORTED", "Moorage has no such job"


async def sleep_action(ctx: JobContext) -> None:
    """``sleep``: waits ``seconds`` (at most an hour), logging each second; for diagnostics."""
    try:
        seconds = float(ctx.parameters.get("seconds", 1))
    except (TypeError, ValueError):
        seconds = 1.0
    seconds = max(0.0, min(seconds, 3600.0))
    end = time.monotonic() + seconds
    n = 0
    while (left := end - time.monotonic()) > 0 and not ctx.should_stop():
        await asyncio.sleep(min(1.0, left))
        n += 1
        await ctx.log(f"slept {n} of {seconds:g}s")
    await ctx.log("awake")


async def false_action(ctx: JobContext) -> None:
    """``false``: fails at once (DTR's test of the jobrunner, which runs ``false``)."""
    await ctx.log("false: exit status 1")
    raise RuntimeError("false: exit status 1")


async def onlinegc_action(ctx: JobContext) -> None:
    from moorage.jobs.gc import run

    await run(ctx)


async def webhook_action(ctx: JobContext) -> None:
    from moorage.jobs.webhook_delivery import run

    await run(ctx)


async def tagprune_action(ctx: JobContext) -> None:
    from moorage.jobs.tagprune import run

    await run(ctx)


async def uploadpurge_action(ctx: JobContext) -> None:
    from moorage.jobs.upload_purge import run

    await run(ctx)


async def ldapsync_action(ctx: JobContext) -> None:
    from moorage.jobs.ldapsync import run

    await run(ctx)


async def vulndbupdate_action(ctx: JobContext) -> None:
    from moorage.jobs.vulndb_update import run

    await run(ctx)


async def scan_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_scan

    await run_scan(ctx)


async def scanall_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_scan_all

    await run_scan_all(ctx)


async def rematch_action(ctx: JobContext) -> None:
    from moorage.jobs.scan import run_rematch

    await run_rematch(ctx)


def builtin_actions() -> dict[str, Action]:
    return {
        "onlinegc": onlinegc_action,
        "sleep": sleep_action,
        "false": false_action,
        "webhook": webhook_action,
        "tagprune": tagprune_action,
        "uploadpurge": uploadpurge_action,
        "ldapsync": ldapsync_action,
        "vulndbupdate": vulndbupdate_action,
        "scan": scan_action,
        "scanall": scanall_action,
        "rematch": rematch_action,
    }


KNOWN = frozenset(builtin_actions())
# Jobs that change what the registry holds: they wait while the registry is in read-only mode.
CHANGES_CONTENT = frozenset({"onlinegc", "tagprune", "uploadpurge"})

# DTR's names (and ``ldap-sync``) of the actions Moorage has → Moorage's.
DTR_NAMES: dict[str, str] = {
    "gc": "onlinegc",  # DTR's GC with the registry read-only; Moorage's GC is always online
    "onlinegc": "onlinegc",
    "sleep": "sleep",
    "false": "false",
    "scan_check": "scan",  # one image (``digest``); its layers are scanned inside the job
    "scan_check_all": "scanall",
    "update_vuln_db": "vulndbupdate",
    "nautilus_update_db": "vulndbupdate",  # DTR's old name of update_vuln_db
    "webhook": "webhook",
    "tag_pruning": "tagprune",
    "ldap-sync": "ldapsync",
}
# DTR's actions Moorage does not have, each with what Moorage has instead.
NOT_IN_MOORAGE: dict[str, str] = {
    "onlinegc_metadata": "Moorage's onlinegc removes unreferenced metadata and blobs in one "
    "run: submit onlinegc",
    "onlinegc_joblogs": "every Moorage job runner compacts the job history itself (the job "
    "history settings of /api/v0/meta/settings); there is no job for it",
    "metadatastoremigration": "Moorage's GC is online from the start; there is no metadata "
    "store to migrate",
    "tagmigration": "Moorage keeps tags and manifests in its database only; there is nothing "
    "to synchronize with the storage",
    "bloblinkmigration": "a DTR 2.1 to 2.2 upgrade step; Moorage migrates its schema when it "
    "starts",
    "scannedlayermigration": "a DTR 2.4 to 2.5 upgrade step; Moorage migrates its schema when "
    "it starts",
    "license_update": "Moorage has no license to update",
    "scan_check_single": "Moorage scans an image's layers inside its scan_check job (one "
    "image, parameter digest); it has no job for one layer",
    "push_mirror_tag": "Moorage has no push mirroring",
    "poll_mirror": "Moorage has no poll mirroring",
    "ro_registry": "Moorage switches to read-only mode through readOnlyRegistry in "
    "POST /api/v0/meta/settings",
}


def resolve(name: object) -> tuple[str, str | None]:
    """The Moorage action a submitted name runs and the name to keep when it differs from
    Moorage's (DTR's); UnknownAction or ActionNotInMoorage otherwise."""
    if isinstance(name, str):
        if name in KNOWN:
            return name, None
        if name in DTR_NAMES:
            return DTR_NAMES[name], name
        if name in NOT_IN_MOORAGE:
            raise ActionNotInMoorage(
                f"Moorage has no {name} job: {NOT_IN_MOORAGE[name]}", detail={"action": name}
            )
    raise UnknownAction(detail={"action": str(name)[:64], "known": sorted(KNOWN | set(DTR_NAMES))})


def aliases(action: str) -> list[str]:
    """Every name a job of Moorage's ``action`` may have been submitted with (itself first)."""
    return [action, *sorted(n for n, a in DTR_NAMES.items() if a == action and n != action)]
