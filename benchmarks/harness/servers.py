"""The two registries under test, started on free loopback ports: Moorage (``moorage serve``,
embedded SQLite + filesystem; optionally as of a commit) and the CNCF distribution registry
(Debian's ``docker-registry``), plus a second distribution with token auth."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from harness.auth import BENCH_ADMIN, PRIVATE_REPO, RegistryAuth, TokenMinter
from harness.errors import BenchError
from harness.options import ROOT, Options
from harness.processes import Server, free_port, run_command

TOKEN_NOT_MEASURED = (
    "token-auth figures not measured: this Moorage does not ask for credentials "
    "(no token authentication at this commit)"
)


def moorage_command(args: Options) -> list[str]:
    if args.moorage_cmd:
        return args.moorage_cmd.split()
    try:
        import moorage  # noqa: F401
    except ImportError:
        found = shutil.which("moorage")
        if found is None:
            raise BenchError("moorage is not importable nor on PATH; use --moorage-cmd") from None
        return [found]
    return [sys.executable, "-m", "moorage.cli.main"]


def settings_fields(args: Options, mcmd: list[str]) -> set[str]:
    """The settings this Moorage knows (older commits have fewer), so that only those are set:
    its settings forbid unknown ``MOORAGE_*`` variables."""
    interpreter = mcmd[0] if "python" in Path(mcmd[0]).name else sys.executable
    out = run_command(
        [interpreter, "-c", "from moorage.config import Settings; print(*Settings.model_fields)"],
        env=moorage_env(args),
    )
    return set(out.split())


def start_moorage(args: Options, workdir: Path) -> Server:
    port = free_port()
    data = workdir / "moorage-data"
    env = moorage_env(args)
    mcmd = moorage_command(args)
    fields = settings_fields(args, mcmd)
    env["MOORAGE_LOG_LEVEL"] = "info" if args.access_logs else "warning"
    password = ""
    if "admin_password" in fields:
        password = base64.urlsafe_b64encode(os.urandom(18)).decode()
        env["MOORAGE_ADMIN_NAME"] = BENCH_ADMIN
        env["MOORAGE_ADMIN_PASSWORD"] = password
    if "token_ttl" in fields:
        env["MOORAGE_TOKEN_TTL"] = "3600"
    server_choice = args.moorage_server
    if server_choice != "default":
        if "server" not in fields:
            raise BenchError("this Moorage has no `server` setting (--moorage-server)")
        env["MOORAGE_SERVER"] = server_choice
    cmd = [*mcmd, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data)]
    if args.moorage_workers:
        cmd += ["--workers", str(args.moorage_workers)]
    server = Server("moorage", cmd, env, port, workdir)
    server.start()
    if server.challenge:
        if not password:
            server.stop()
            raise BenchError("moorage asks for credentials but has no admin_password setting")
        server.auth = RegistryAuth(port, server.challenge, BENCH_ADMIN, password)
    server.settings = {k: v for k, v in env.items() if k.startswith("MOORAGE_")}
    server.settings.pop("MOORAGE_ADMIN_PASSWORD", None)
    return server


def distribution_config(args: Options, port: int, root: Path, token: TokenMinter | None) -> str:
    # Debian's packaged config with log level warn: no auth, or token auth for the token phase.
    auth = ""
    if token is not None:
        auth = (
            "auth:\n"
            "  token:\n"
            f'    realm: "http://127.0.0.1:{port}/token-not-served"\n'
            f"    service: {token.SERVICE}\n"
            f"    issuer: {token.ISSUER}\n"
            f"    rootcertbundle: {token.cert_path}\n"
        )
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        f"  accesslog: {{disabled: {'false' if args.access_logs else 'true'}}}\n"
        "storage:\n"
        "  cache: {blobdescriptor: inmemory}\n"
        f"  filesystem: {{rootdirectory: {root.resolve()}}}\n"
        "  delete: {enabled: true}\n"
        "http:\n"
        f'  addr: "127.0.0.1:{port}"\n'
        "  secret: benchmark-only-secret\n"
        "  headers: {X-Content-Type-Options: [nosniff]}\n"
        "health:\n"
        "  storagedriver: {enabled: true, interval: 10s, threshold: 3}\n" + auth
    )


def start_distribution(args: Options, workdir: Path, token: TokenMinter | None = None) -> Server:
    """The anonymous registry, or (``token``) a second process on the same storage that
    accepts only bearer tokens, for the token-auth figures."""
    port = free_port()
    root = workdir / "distribution-data"
    root.mkdir(exist_ok=True)
    name = "distribution" if token is None else "distribution-token"
    config = workdir / f"{name}.yml"
    config.write_text(distribution_config(args, port, root, token))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    server = Server(name, [args.distribution, "serve", str(config)], env, port, workdir)
    server.start()
    if token is None and server.challenge:
        server.stop()
        raise BenchError(f"distribution asks for credentials: {server.challenge}")
    return server


def export_ref(ref: str, dest: Path) -> str:
    """Extract ``src/`` of a commit into ``dest`` (read-only git: rev-parse and archive)."""
    sha = run_command(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT)
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise BenchError(f"--moorage-ref {ref}: not a commit of {ROOT}")
    tar = dest.parent / "moorage-src.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(tar), sha, "src"], cwd=ROOT, check=True
    )
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    tar.unlink()
    return sha


def moorage_env(args: Options) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOORAGE_")}
    if args.moorage_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.moorage_pythonpath, env.get("PYTHONPATH", "")) if p
        )
    return env


def token_setup(
    args: Options,
    workdir: Path,
    servers: dict[str, Server],
    extra: list[Server],
    notes: list[str],
) -> dict[str, tuple[Server, Callable[[], str]]]:
    """For the token-auth figures: Moorage's own token service, and a second distribution
    process with ``auth.token`` on the same storage, given tokens minted here."""
    moorage = servers["moorage"]
    if moorage.auth is None:
        notes.append(TOKEN_NOT_MEASURED)
        return {}
    try:
        minter = TokenMinter(workdir)
    except ImportError as exc:
        notes.append(f"token-auth figures not measured: {exc} (PyJWT and cryptography needed)")
        return {}
    dist = start_distribution(args, workdir, minter)
    extra.append(dist)
    auth = moorage.auth
    return {
        "moorage": (moorage, lambda: auth.token([PRIVATE_REPO], "pull")),
        "distribution": (dist, lambda: minter.token([PRIVATE_REPO], ["pull"])),
    }
