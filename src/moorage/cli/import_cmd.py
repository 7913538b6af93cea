"""``moorage import --source URL --target URL``: copy repositories and tags from a DTR/MSR or
any OCI registry into a Moorage, over HTTP, with (from a DTR-API source) the repositories'
settings and the teams' grants; ``--verify`` compares every tag's digest on both sides.

Credentials: ``--source-user``/``--target-user`` (or ``MOORAGE_IMPORT_SOURCE_USER`` /
``MOORAGE_IMPORT_TARGET_USER``) and the passwords or access tokens in
``MOORAGE_IMPORT_SOURCE_PASSWORD`` / ``MOORAGE_IMPORT_TARGET_PASSWORD`` (an option would show
in the process list; ``--source-password-file`` reads one from a file). Never printed.

Outbound requests go through Moorage's guard: public addresses only, unless ``--allow-network``
lists the internal networks of the two registries (``10.0.0.0/8``); cloud metadata addresses
are refused always.

Proxies: requests to the source go through the site's ``httpProxy`` / ``httpsProxy`` (but for
what ``noProxy`` names), read from the target's ``/api/v0/meta/settings`` (the target user must
be an administrator; else the source is reached directly, and the log says so). ``--http-proxy``,
``--https-proxy`` and ``--no-proxy`` replace the site's three (``--no-proxy '*'``: directly).
The target is reached directly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from moorage.errors import ConfigError

if TYPE_CHECKING:
    from moorage.remote.outbound import Proxies


def _secret(args: argparse.Namespace, side: str) -> str:
    path = getattr(args, f"{side}_password_file")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --{side}-password-file: {exc.strerror}") from exc
    return os.environ.get(f"MOORAGE_IMPORT_{side.upper()}_PASSWORD", "")


def _ca(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the CA file {path}: {exc.strerror}") from exc


def _proxies(http: str, https: str, no_proxy: str) -> Proxies:
    from pydantic import ValidationError

    from moorage.db.site_settings import SiteSettings
    from moorage.remote.outbound import Proxies

    try:  # the site setting's own check of a proxy URL
        checked = SiteSettings.model_validate(
            {"httpProxy": http, "httpsProxy": https, "noProxy": no_proxy}
        )
    except ValidationError as exc:  # said without the value (it may hold a password)
        said = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"--http-proxy/--https-proxy/--no-proxy: {said}") from exc
    return Proxies(checked.http_proxy, checked.https_proxy, checked.no_proxy)


def cmd_import(args: argparse.Namespace) -> int:
    from moorage.importer.run import Endpoint, ImportPlan, run_import, verify
    from moorage.importer.transport import Credentials
    from moorage.remote import outbound
    from moorage.remote.addresses import parse_networks

    try:
        allowed = parse_networks(args.allow_network or [])
    except ValueError as exc:
        raise ConfigError(f"--allow-network: {exc}") from exc

    def endpoint(side: str) -> Endpoint:
        user = getattr(args, f"{side}_user") or os.environ.get(
            f"MOORAGE_IMPORT_{side.upper()}_USER", ""
        )
        return Endpoint(
            url=getattr(args, side),
            credentials=Credentials(user, _secret(args, side)),
            ca_pem=_ca(getattr(args, f"{side}_ca")),
            skip_verify=getattr(args, f"{side}_insecure"),
        )

    proxies = None
    if args.http_proxy is not None or args.https_proxy is not None or args.no_proxy is not None:
        proxies = _proxies(args.http_proxy or "", args.https_proxy or "", args.no_proxy or "")

    plan = ImportPlan(
        source=endpoint("source"),
        target=endpoint("target"),
        guard=outbound.Guard(allowed=allowed, setting="--allow-network"),
        repositories=tuple(args.repository or ()),
        state_file=Path(args.state) if args.state else None,
        settings=not args.images_only,
        proxies=proxies,
    )

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    if args.verify:
        report = asyncio.run(verify(plan, log))
        print(f"verified {report.tags_copied} tags in {report.repositories} repositories")
        for line in report.mismatches:
            print(f"mismatch: {line}")
        return 1 if report.mismatches else 0
    report = asyncio.run(run_import(plan, log))
    counts = report.counts
    print(
        f"imported {report.tags_copied} tags ({report.tags_skipped} already done) from "
        f"{report.repositories} repositories, {counts.referrers} referrers; blobs: "
        f"{counts.blobs_uploaded} uploaded "
        f"({counts.bytes_uploaded} bytes), {counts.blobs_mounted} mounted, "
        f"{counts.blobs_present} present"
    )
    for made in report.created:
        print(f"created: {made}")
    for problem in report.problems:
        print(f"problem: {problem}")
    return 1 if report.problems else 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import", help="copy repositories, tags and grants from a DTR/MSR or any OCI registry"
    )
    parser.add_argument("--source", required=True, help="the registry to copy from (URL)")
    parser.add_argument("--target", required=True, help="the Moorage to copy into (URL)")
    for side in ("source", "target"):
        parser.add_argument(f"--{side}-user", help=f"user name on the {side}")
        parser.add_argument(
            f"--{side}-password-file",
            help=f"file holding the {side} password or access token "
            f"(else MOORAGE_IMPORT_{side.upper()}_PASSWORD)",
        )
        parser.add_argument(f"--{side}-ca", help=f"PEM file of the CA of the {side}'s certificate")
        parser.add_argument(
            f"--{side}-insecure",
            action="store_true",
            help=f"do not verify the {side}'s TLS certificate",
        )
    parser.add_argument(
        "--repository",
        action="append",
        metavar="NAMESPACE/NAME",
        help="a repository to copy (repeatable; default: every one the source lists)",
    )
    parser.add_argument("--state", help="state file: what is done, skipped when run again")
    parser.add_argument(
        "--verify", action="store_true", help="compare every tag's digest; copy nothing"
    )
    parser.add_argument(
        "--images-only",
        action="store_true",
        help="copy tags only, not repository settings, teams and grants",
    )
    parser.add_argument(
        "--allow-network",
        action="append",
        metavar="CIDR",
        help="an internal network the registries are on (repeatable)",
    )
    parser.add_argument(
        "--http-proxy",
        metavar="URL",
        help="proxy for an http:// source (default: the target's site setting httpProxy)",
    )
    parser.add_argument(
        "--https-proxy",
        metavar="URL",
        help="proxy for an https:// source (default: the target's site setting httpsProxy)",
    )
    parser.add_argument(
        "--no-proxy",
        metavar="LIST",
        help="names, addresses, CIDRs reached directly; '*' for all (default: the site's noProxy)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=cmd_import)
