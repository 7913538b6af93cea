"""Hermetic environments for the real registry clients (skopeo, podman, buildah, umoci, oras-py).

Each test module gets one temp dir holding ``registries.conf`` (the module's registry marked
insecure), ``policy.json``, ``storage.conf`` (vfs), ``containers.conf``, an empty ``auth.json``
and its own container storage, as in RECIPES-clients.md §3.

The containers tools keep a blob-info cache in ``/var/lib/containers/cache`` (as root) that
remembers which repositories already hold a blob; it makes them try cross-repo mounts, and it
lives outside any temp dir. Where this machine lets us (root, ``unshare -m`` permitted, the
directory exists), every containers-tools call runs in a private mount namespace with a
per-module directory bound over it, so runs neither see nor pollute the machine's cache.
Otherwise they share the machine's cache; the fixtures build images from fresh random bytes,
so no stale entry can match their blobs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, RunningRegistry

SYSTEM_BLOB_INFO_CACHE = Path("/var/lib/containers/cache")
DEFAULT_TIMEOUT = 60.0

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def missing(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def requires(*tools: str) -> pytest.MarkDecorator:
    absent = missing(*tools)
    return pytest.mark.skipif(bool(absent), reason=f"not installed: {', '.join(absent)}")


class ClientError(AssertionError):
    """A client exited non-zero where the test expected success."""


def _with_private_cache(cache_dir: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` in a private mount namespace with ``cache_dir`` bound over the system cache."""
    script = 'mount --bind "$0" "$1" && shift && exec "$@"'
    unshare = ["unshare", "-m", "--propagation", "private"]
    return [*unshare, "sh", "-c", script, str(cache_dir), str(SYSTEM_BLOB_INFO_CACHE), *argv]


@cache
def _can_isolate_blob_info_cache() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    if not SYSTEM_BLOB_INFO_CACHE.is_dir():
        return False
    with tempfile.TemporaryDirectory() as empty:
        probe = subprocess.run(
            _with_private_cache(Path(empty), ["true"]),
            capture_output=True,
            timeout=10,
            check=False,
        )
    return probe.returncode == 0


@dataclass
class ClientEnv:
    """Paths, environment and runners for the containers tools of one test module."""

    root: Path
    registry: RunningRegistry
    env: dict[str, str] = field(default_factory=dict)
    blob_info_cache: Path | None = None

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def graphroot(self) -> Path:
        return self.root / "storage" / "root"

    @property
    def runroot(self) -> Path:
        return self.root / "storage" / "run"

    def ref(self, repo_and_tag: str) -> str:
        """``docker://HOST/<repo>[:tag|@digest]`` on the module's registry."""
        return f"docker://{self.host}/{repo_and_tag}"

    def tmpdir(self, name: str) -> Path:
        """A fresh directory for one test's files (fails if the name is reused)."""
        path = self.root / "work" / name
        path.mkdir(parents=True)
        return path

    def http(self) -> httpx.Client:
        return self.registry.client()

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        check: bool = True,
        cwd: Path | None = None,
        containers_tool: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if containers_tool and self.blob_info_cache is not None:
            cmd = _with_private_cache(self.blob_info_cache, cmd)
        proc = subprocess.run(
            cmd,
            env=self.env,
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ClientError(
                f"{' '.join(argv)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc

    def skopeo(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        """skopeo with the module's policy and registries.conf (1.9.3 ignores the env var)."""
        argv = [
            "skopeo",
            "--policy",
            str(self.conf / "policy.json"),
            "--registries-conf",
            str(self.conf / "registries.conf"),
            *args,
        ]
        return self.run(argv, **kw)  # type: ignore[arg-type]

    def skopeo_json(self, *args: str) -> object:
        return json.loads(self.skopeo(*args).stdout)

    def inspect_raw(self, ref: str) -> bytes:
        """Exact manifest bytes as served (``skopeo inspect --raw`` writes them unchanged)."""
        argv = ["skopeo", "--policy", str(self.conf / "policy.json")]
        argv += ["--registries-conf", str(self.conf / "registries.conf")]
        argv += ["inspect", "--raw", "--tls-verify=false", ref]
        proc = subprocess.run(
            argv, env=self.env, capture_output=True, timeout=DEFAULT_TIMEOUT, check=False
        )
        if proc.returncode != 0:
            raise ClientError(f"skopeo inspect --raw {ref}: {proc.stderr.decode()[-2000:]}")
        return proc.stdout

    def podman(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(["podman", *args], **kw)  # type: ignore[arg-type]

    def buildah(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        argv = ["buildah", "--root", str(self.graphroot), "--runroot", str(self.runroot)]
        argv += ["--storage-driver", "vfs", *args]
        return self.run(argv, **kw)  # type: ignore[arg-type]

    def umoci(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(["umoci", *args], containers_tool=False, **kw)  # type: ignore[arg-type]


def _write_configs(root: Path, host: str) -> None:
    conf = root / "conf"
    conf.mkdir(parents=True)
    (conf / "registries.conf").write_text(
        textwrap.dedent(
            f"""\
            unqualified-search-registries = []
            short-name-mode = "disabled"

            [[registry]]
            location = "{host}"
            insecure = true
            """
        )
    )
    (conf / "policy.json").write_text(
        json.dumps({"default": [{"type": "insecureAcceptAnything"}]}, indent=2)
    )
    (conf / "storage.conf").write_text(
        textwrap.dedent(
            f"""\
            [storage]
            driver = "vfs"
            graphroot = "{root / "storage" / "root"}"
            runroot = "{root / "storage" / "run"}"
            """
        )
    )
    (conf / "containers.conf").write_text(
        textwrap.dedent(
            f"""\
            [engine]
            events_logger = "none"
            tmp_dir = "{root / "podman-tmp"}"
            """
        )
    )
    # Signed in as the administrator, as `podman login` would leave it.
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    (root / "auth.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    (root / "docker").mkdir()
    (root / "home").mkdir()


def client_environment(root: Path, registry: RunningRegistry) -> ClientEnv:
    _write_configs(root, registry.host)
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(
        {
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(root / "storage" / "xdg-run"),
            "CONTAINERS_REGISTRIES_CONF": str(root / "conf" / "registries.conf"),
            "CONTAINERS_STORAGE_CONF": str(root / "conf" / "storage.conf"),
            "CONTAINERS_CONF": str(root / "conf" / "containers.conf"),
            "CONTAINERS_POLICY_JSON": str(root / "conf" / "policy.json"),
            "REGISTRY_AUTH_FILE": str(root / "auth.json"),
            "DOCKER_CONFIG": str(root / "docker"),
        }
    )
    (root / "storage" / "xdg-run").mkdir(parents=True, mode=0o700)
    bic: Path | None = None
    if _can_isolate_blob_info_cache():
        bic = root / "blob-info-cache"
        bic.mkdir(mode=0o700)
    return ClientEnv(root=root, registry=registry, env=env, blob_info_cache=bic)


@pytest.fixture(scope="module")
def registry(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    """Two serving processes, as ``moorage serve`` runs on a two-core machine: a client's
    parallel requests (blobs at once, one upload's PATCH and PUT) land on either."""
    return registry_factory(workers=2)


@pytest.fixture(scope="module")
def cenv(
    tmp_path_factory: pytest.TempPathFactory, registry: RunningRegistry
) -> Iterator[ClientEnv]:
    """The module's client environment, bound to the module's registry."""
    env = client_environment(tmp_path_factory.mktemp("clients"), registry)
    yield env
    # podman/buildah leave vfs layer trees owned by root with odd modes; nothing else to stop.


# ---- fixture images ------------------------------------------------------------------------


@dataclass
class OciImage:
    """One image in an OCI layout built by umoci: its manifest bytes and every blob."""

    layout: Path
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def manifest_json(self) -> dict[str, object]:
        doc: dict[str, object] = json.loads(self.manifest)
        return doc

    @property
    def config_digest(self) -> str:
        config = self.manifest_json["config"]
        assert isinstance(config, dict)
        return str(config["digest"])

    @property
    def layer_digests(self) -> list[str]:
        layers = self.manifest_json["layers"]
        assert isinstance(layers, list)
        return [str(layer["digest"]) for layer in layers]

    @property
    def config(self) -> dict[str, object]:
        doc: dict[str, object] = json.loads(self.blobs[self.config_digest])
        return doc

    @property
    def oci_ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def read_oci_layout(layout: Path, tag: str) -> OciImage:
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            digest = desc["digest"]
            break
    else:
        raise KeyError(f"{tag} not in {layout}")
    blobs = {f"sha256:{p.name}": p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}
    return OciImage(layout=layout, tag=tag, manifest=blobs[digest], blobs=blobs)


def build_umoci_image(
    cenv: ClientEnv,
    layout: Path,
    tag: str = "v1",
    *,
    architecture: str | None = None,
    label: str = "fixture",
) -> OciImage:
    """Two layers (random bytes + os-release, then /bin files), a config with CMD, ENV, a label and
    history, as in RECIPES-clients.md §4. Random bytes make every build's blobs new."""
    image = f"{layout}:{tag}"
    bundle = layout.parent / f"{layout.name}-bundle"
    if not (layout / "index.json").exists():
        cenv.umoci("init", "--layout", str(layout))
    cenv.umoci("new", "--image", image)

    cenv.umoci("unpack", "--rootless", "--image", image, str(bundle))
    rootfs = bundle / "rootfs"
    (rootfs / "etc").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc" / "os-release").write_text('ID=fixture\nNAME="Moorage fixture"\n')
    (rootfs / "etc" / "random").write_bytes(secrets.token_bytes(4096))
    cenv.umoci(
        "repack",
        "--image",
        image,
        "--history.created_by",
        "/bin/sh -c #(nop) ADD file:rootfs in /",
        str(bundle),
    )
    shutil.rmtree(bundle)

    # Re-unpack before the next layer: a second repack on one bundle replaces the first layer.
    cenv.umoci("unpack", "--rootless", "--image", image, str(bundle))
    (bundle / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
    (bundle / "rootfs" / "bin" / "hello").write_bytes(secrets.token_bytes(2048))
    cenv.umoci(
        "repack",
        "--image",
        image,
        "--history.created_by",
        "COPY hello /bin/ # buildkit",
        str(bundle),
    )
    shutil.rmtree(bundle)

    config_args = [
        "--config.cmd",
        "/bin/hello",
        "--config.env",
        "PATH=/bin",
        "--config.label",
        f"org.opencontainers.image.title={label}",
        "--history.created_by",
        'CMD ["/bin/hello"]',
    ]
    if architecture:
        config_args += ["--architecture", architecture]
    cenv.umoci("config", "--image", image, *config_args)
    cenv.umoci("gc", "--layout", str(layout))
    return read_oci_layout(layout, tag)


def write_oci_index_layout(
    layout: Path, tag: str, children: Mapping[str, OciImage]
) -> tuple[bytes, dict[str, bytes]]:
    """An OCI layout whose ``tag`` is an image index of ``children`` (platform arch -> image)."""
    blobs_dir = layout / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    all_blobs: dict[str, bytes] = {}
    entries = []
    for arch, image in children.items():
        all_blobs.update(image.blobs)
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": image.digest,
                "size": len(image.manifest),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, indent=2
    ).encode()
    all_blobs[sha256(index)] = index
    for digest, data in all_blobs.items():
        (blobs_dir / digest.removeprefix("sha256:")).write_bytes(data)
    top = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_INDEX,
                "digest": sha256(index),
                "size": len(index),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(top))
    return index, all_blobs


def dir_blobs(path: Path) -> dict[str, bytes]:
    """Blobs of a ``dir:`` or ``oci:`` destination by digest, each checked against its name."""
    files = (path / "blobs" / "sha256").iterdir() if (path / "blobs").is_dir() else path.iterdir()
    out: dict[str, bytes] = {}
    for p in files:
        if len(p.name) == 64 and all(c in "0123456789abcdef" for c in p.name):
            data = p.read_bytes()
            assert sha256(data) == f"sha256:{p.name}", f"{p} does not match its digest"
            out[f"sha256:{p.name}"] = data
    return out


# ---- a loopback proxy that records request heads --------------------------------------------

_REQUEST_HEAD = re.compile(
    rb"(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/[^ \r\n]*) HTTP/1\.[01]\r\n(.*?)\r\n\r\n", re.DOTALL
)


@dataclass
class RequestHead:
    method: str
    path: str
    headers: dict[str, str]


class SniffingProxy:
    """A TCP proxy on 127.0.0.1 in front of the registry that keeps the bytes clients send, so
    tests can see request headers (``Transfer-Encoding``, ``Content-Length``) the access log
    does not record. Clients must be told to use plain HTTP for its address."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.streams: list[bytearray] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> SniffingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            captured = bytearray()
            with self._lock:
                self._sockets += [client, upstream]
                self.streams.append(captured)
            for src, dst, keep in ((client, upstream, captured), (upstream, client, None)):
                threading.Thread(target=self._pump, args=(src, dst, keep), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        src.settimeout(60)
        try:
            while data := src.recv(65536):
                if keep is not None:
                    with self._lock:
                        keep.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def requests(self) -> list[RequestHead]:
        out = []
        with self._lock:
            streams = [bytes(s) for s in self.streams]
        for stream in streams:
            for m in _REQUEST_HEAD.finditer(stream):
                headers = {}
                for line in m.group(3).split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    headers[name.decode("latin-1").strip().lower()] = value.decode(
                        "latin-1"
                    ).strip()
                out.append(RequestHead(m.group(1).decode(), m.group(2).decode(), headers))
        return out
