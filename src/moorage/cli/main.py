"""``moorage`` command line: ``serve``, ``migrate``, ``worker``, ``gc``, ``check``, ``admin
passwd``, ``user create|list|deactivate`` and ``vulndb import|status`` (each in its own module
here).

The command table below names every command, its one-line help and the module that holds it;
only the module of the command being run is imported (its arguments and its code), so a
command pays for its own imports alone (the database layer, the web app, the scanner are
most of a start). The other commands are listed by name and help, so ``moorage --help``
shows them all; tests/test_cli_main.py keeps the table in step with the modules.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from moorage import __version__
from moorage.errors import ConfigError, MoorageError

# What moorage creates is its own: the data folder, the database and its -wal/-shm files, lock
# files, blobs, uploads and keys (folders 0700, files 0600), in this process and in the server
# and worker processes it becomes.
PRIVATE_UMASK = 0o077


@dataclass(frozen=True, slots=True)
class Command:
    module: str  # moorage.cli.<module>: its add_parsers() adds the command with its arguments
    help: str


COMMANDS: dict[str, Command] = {
    "serve": Command("serve", "serve the registry"),
    "migrate": Command("serve", "create or upgrade the database schema"),
    "worker": Command("serve", "run only background jobs (no HTTP)"),
    "gc": Command("gc", "run the online garbage collection once and summarize it"),
    "check": Command(
        "check", "check the database, migrations, storage, signing key and file modes"
    ),
    "admin": Command("admin", "operator's account tools"),
    "user": Command("admin", "create, list or deactivate users"),
    "vulndb": Command("vulndb", "the vulnerability database: import a file, status"),
    "replica": Command("replica", "list or remove the replicas sharing the database"),
    "import": Command(
        "import_cmd", "copy repositories, tags and grants from a DTR/MSR or any OCI registry"
    ),
    "backup": Command("backup", "back up the SQL database to a file (while serving)"),
    "restore": Command("backup", "restore a backup into an empty database"),
    "storage": Command("storage_cmd", "copy every blob to another storage, verify, switch"),
}


def command_in(argv: Sequence[str]) -> str | None:
    """The command named on the line: the first word that is not an option (the top level
    has only ``-h`` and ``--version``, which take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the full arguments of the commands in ``modules`` (imported here) and
    every other command by name and help only."""
    parser = argparse.ArgumentParser(prog="moorage", description="Moorage container registry")
    parser.add_argument("--version", action="version", version=f"moorage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    added: set[str] = set()
    for name, command in COMMANDS.items():
        if command.module in modules and command.module not in added:
            added.add(command.module)
            importlib.import_module(f"moorage.cli.{command.module}").add_parsers(sub)
        elif name not in sub.choices:
            sub.add_parser(name, help=command.help)  # not run: nothing to import
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    words = sys.argv[1:] if argv is None else argv
    chosen = COMMANDS.get(command_in(words) or "")
    args = build_parser([chosen.module] if chosen else []).parse_args(words)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"moorage: {exc.message}", file=sys.stderr)
        return 2
    except MoorageError as exc:
        print(f"moorage: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
