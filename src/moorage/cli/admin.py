"""``moorage admin passwd`` and ``moorage user create|list|deactivate``: what an operator on the
registry's machine needs when nobody can sign in (a lost administrator password).

They change accounts through the domain function the API uses (``accounts.modify``): a new
password ends the account's web UI sessions and docker logins (refresh tokens); a deactivation
ends those and its API tokens too. Whoever can run them can read the data folder and the
database settings, so they ask for no other credential.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from moorage.auth import accounts
from moorage.cli.options import add_common, settings_from, with_database
from moorage.db.engine import Database
from moorage.errors import ConfigError


def read_password(use_stdin: bool, what: str) -> str:
    """One line from stdin (``--stdin``), else asked twice on the terminal."""
    if use_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("no password on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("stdin is not a terminal: pass the password on stdin with --stdin")
    first = getpass.getpass(f"New password for {what}: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("the passwords differ; nothing changed")
    return first


def cmd_passwd(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = read_password(args.stdin, repr(args.name))
    accounts.validate_password(password)

    async def run(db: Database) -> None:
        await accounts.modify(db, args.name, {"password": password})

    with_database(settings, run)
    print(f"password of {args.name!r} changed; its web UI sessions and docker logins were ended")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = read_password(args.stdin, repr(args.name))

    async def run(db: Database) -> accounts.Account:
        return await accounts.create(
            db,
            name=args.name,
            password=password,
            full_name=args.full_name or "",
            email=args.email or "",
            is_admin=args.admin,
        )

    account = with_database(settings, run)
    kind = "administrator" if account.is_admin else "user"
    print(f"created {kind} {account.name!r}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def run(db: Database) -> list[accounts.Account]:
        found: list[accounts.Account] = []
        start: str | None = None
        while True:
            page, start = await accounts.list_accounts(db, start=start, limit=500, kind="users")
            found.extend(page)
            if start is None:
                return found

    users = with_database(settings, run)
    width = max([len(u.name) for u in users] + [4])
    print(f"{'NAME':<{width}}  ADMIN  ACTIVE  LDAP  EMAIL")
    for u in users:
        print(
            f"{u.name:<{width}}  {'yes' if u.is_admin else 'no':<5}  "
            f"{'yes' if u.is_active else 'no':<6}  {'yes' if u.is_imported else 'no':<4}  "
            f"{u.email}"
        )
    return 0


def cmd_user_deactivate(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def run(db: Database) -> None:
        await accounts.modify(db, args.name, {"isActive": False})

    with_database(settings, run)
    print(f"deactivated {args.name!r}; its sessions, docker logins and API tokens were ended")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="operator's account tools")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    passwd = admin_sub.add_parser(
        "passwd", help="set an account's password (ends its sessions and docker logins)"
    )
    add_common(passwd)
    passwd.add_argument("name", help="account name")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from one line of stdin"
    )
    passwd.set_defaults(func=cmd_passwd)

    user = sub.add_parser("user", help="create, list or deactivate users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create a user")
    add_common(create)
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="a system administrator")
    create.add_argument("--email")
    create.add_argument("--full-name")
    create.add_argument(
        "--stdin", action="store_true", help="read the password from one line of stdin"
    )
    create.set_defaults(func=cmd_user_create)
    listing = user_sub.add_parser("list", help="list users")
    add_common(listing)
    listing.set_defaults(func=cmd_user_list)
    deactivate = user_sub.add_parser(
        "deactivate", help="deactivate a user (ends its sessions and tokens)"
    )
    add_common(deactivate)
    deactivate.add_argument("name")
    deactivate.set_defaults(func=cmd_user_deactivate)
