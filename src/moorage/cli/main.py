"""``moorage`` command line: ``serve``, ``migrate``, ``worker``, ``gc``, ``check``, ``admin
passwd``, ``user create|list|deactivate`` and ``vulndb import|status`` (each in its own module
here)."""

from __future__ import annotations

import argparse
import os
import sys

from moorage import __version__
from moorage.cli import admin, check, gc, serve, vulndb
from moorage.errors import ConfigError, MoorageError

# What moorage creates is its own: the data folder, the database and its -wal/-shm files, lock
# files, blobs, uploads and keys (folders 0700, files 0600), in this process and in the server
# and worker processes it becomes.
PRIVATE_UMASK = 0o077


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moorage", description="Moorage container registry")
    parser.add_argument("--version", action="version", version=f"moorage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.add_parsers(sub)
    gc.add_parsers(sub)
    check.add_parsers(sub)
    admin.add_parsers(sub)
    vulndb.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
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
