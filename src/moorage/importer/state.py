"""What an import has done, in a JSON file, so a second run skips it: the digest each tag was
copied at, and the repositories whose settings and grants were copied. Written atomically
(a temporary file renamed over the old one) after every step; 0600."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from moorage.errors import ConfigError

VERSION = 1


@dataclass
class ImportState:
    path: Path | None  # None: nothing kept (a dry check)
    tags: dict[str, str] = field(default_factory=dict)  # "repo:tag" → digest copied
    settings: set[str] = field(default_factory=set)  # repositories whose settings are copied
    namespaces: set[str] = field(default_factory=set)  # namespaces whose grants are copied

    @classmethod
    def load(cls, path: Path | None) -> ImportState:
        if path is None or not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text())
            if raw.get("version") != VERSION:
                raise ValueError(f"version {raw.get('version')!r}")
            return cls(
                path,
                tags={str(k): str(v) for k, v in raw.get("tags", {}).items()},
                settings={str(s) for s in raw.get("settings", [])},
                namespaces={str(s) for s in raw.get("namespaces", [])},
            )
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(f"the state file {path} cannot be read: {exc}") from exc

    def done(self, repo: str, tag: str, digest: str) -> bool:
        return self.tags.get(f"{repo}:{tag}") == digest

    def record_tag(self, repo: str, tag: str, digest: str) -> None:
        self.tags[f"{repo}:{tag}"] = digest
        self.save()

    def record_settings(self, repo: str) -> None:
        self.settings.add(repo)
        self.save()

    def record_namespace(self, namespace: str) -> None:
        self.namespaces.add(namespace)
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        body = {
            "version": VERSION,
            "tags": dict(sorted(self.tags.items())),
            "settings": sorted(self.settings),
            "namespaces": sorted(self.namespaces),
        }
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f, indent=1)
        os.replace(partial, self.path)
