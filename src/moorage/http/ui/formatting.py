"""How the UI writes image config values in words: no Python ``dict`` or ``list`` reprs."""

from __future__ import annotations

import re
import shlex
from typing import Any

# The config keys the image page shows, in this order.
RUN_KEYS = (
    "Entrypoint",
    "Cmd",
    "Shell",
    "Env",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
)
_COMMANDS = frozenset({"Entrypoint", "Cmd", "Shell"})
_NANOSECONDS = 1_000_000_000


def _words(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    return str(value)


def _duration(value: Any) -> str:
    if isinstance(value, int) and value > 0:
        seconds = value / _NANOSECONDS
        return f"{seconds:g}s"
    return str(value)


def _healthcheck(value: dict[str, Any]) -> str:
    test = value.get("Test")
    parts: list[str] = []
    if isinstance(test, list) and test:
        kind, rest = str(test[0]), test[1:]
        if kind == "NONE":
            return "disabled"
        parts.append(" ".join(str(r) for r in rest) if kind == "CMD-SHELL" else _words(rest))
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        if value.get(key):
            parts.append(f"{key.lower()} {_duration(value[key])}")
    if value.get("Retries"):
        parts.append(f"retries {value['Retries']}")
    return ", ".join(parts)


def config_value(value: Any, key: str = "") -> str:
    """One config value as text: commands as shell words, ports and volumes as a comma list
    (``80/tcp, 443/tcp``), the environment one variable per line, a health check in words."""
    if key in _COMMANDS:
        return _words(value)
    if key == "Healthcheck" and isinstance(value, dict):
        return _healthcheck(value)
    if key == "Env" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        if all(not v for v in value.values()):  # {"80/tcp": {}} — the keys are the facts
            return ", ".join(sorted(str(k) for k in value))
        return ", ".join(f"{k}={config_value(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return ", ".join(config_value(v) for v in value)
    return str(value)


# Artifact types (or config media types) people know by name.
_ARTIFACT_LABELS = {
    "application/vnd.dev.cosign.artifact.sig.v1+json": "cosign signature",
    "application/vnd.dev.cosign.simplesigning.v1+json": "cosign signature",
    "application/vnd.cncf.notary.signature": "Notation signature",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "Sigstore bundle",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "Sigstore bundle",
    "application/spdx+json": "SBOM (SPDX)",
    "text/spdx": "SBOM (SPDX)",
    "application/vnd.cyclonedx+json": "SBOM (CycloneDX)",
    "application/vnd.syft+json": "SBOM (Syft)",
    "application/vnd.in-toto+json": "in-toto attestation",
    "application/vnd.cncf.helm.config.v1+json": "Helm chart",
    "application/vnd.wasm.config.v0+json": "WebAssembly module",
}


def artifact_label(kind: str) -> str:
    """A person's name for an artifact type, else the type itself ("artifact" when empty)."""
    if not kind:
        return "artifact"
    if kind in _ARTIFACT_LABELS:
        return _ARTIFACT_LABELS[kind]
    lowered = kind.lower()
    if "sbom" in lowered or "spdx" in lowered or "cyclonedx" in lowered:
        return f"SBOM ({kind})"
    if "signature" in lowered:
        return f"signature ({kind})"
    return kind


_COSIGN_TAG = re.compile(r"(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)")


def cosign_subject(tag: str) -> str:
    """The digest a cosign tag (``sha256-<hex>.sig``, ``.att``, ``.sbom``) is about, else ""."""
    found = _COSIGN_TAG.fullmatch(tag)
    return f"{found.group(1)}:{found.group(2)}" if found else ""
