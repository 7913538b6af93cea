"""The pull policy: what a manifest pull (GET or HEAD, by tag or digest) of a repository
requires, set for the repository or for its whole namespace (``db/policy_tables.py``; the
repository's own policy wins, none means no policy).

- ``require_signature``: some trusted signer signed the manifest, as the signature view sees it
  (``trust.signatures.view``: a verified cosign or Notation referrer, a verified Notary target
  in ``targets`` or a delegation). An image listed by an index of the same repository counts as
  signed when that index is (the index's signature covers its children's digests: clients pull
  the index, then the child by digest), up to ``MAX_DEPTH`` indexes up, ``MAX_PARENTS`` each.
- ``max_severity`` (``none|low|medium|high|critical``): the image's stored scan
  (``scanning.reports``, what the API's scan summary reads) has no finding above it; an index is
  judged by its platforms' images. An image without a completed scan is refused while the rule
  is set (fail closed); a suppressed finding (layer override, VEX) does not count. A finding's
  level comes from its CVSS score (9.0 critical, 7.0 high, 4.0 medium, else low); without one,
  from DTR's level, read at its worst (critical → critical, major → medium, minor → low);
  ``unknown`` ranks above ``none`` and below ``low``, as in Harbor.
- ``mode`` ``audit`` records what would have been refused (a ``PULL_POLICY_AUDIT`` repository
  event and a log line) and lets the pull through; ``enforce`` refuses it (403 ``DENIED``).
  Nobody is exempt: a policy binds administrators too.

Not policed, so that clients can verify and nothing becomes a bypass: a manifest that is not a
runnable image (``_runnable``) and is a referrer (has a ``subject``), sits at a cosign tag
(``sha256-<hex>.sig|.att|.sbom``) or is a cosign or Notation signature. A runnable image is
policed whatever it says of itself. Blob pulls are not policed (a blob without its manifest is
not an image).

A repository without a policy costs one indexed statement per manifest pull, remembered for the
request (``db.request_memo``). Hand-written: the rule is Moorage's own (DTR had none; Harbor's
is per project); the verification is ``trust.signatures``'.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select

from moorage.db import request_memo
from moorage.db import tables as t
from moorage.db.engine import Connection, Database, as_utc, utcnow
from moorage.db.policy_tables import pull_policies
from moorage.errors import Denied, MoorageError, NotFound
from moorage.events import store as events
from moorage.oci import mediatypes as mt
from moorage.oci.digest import is_digest
from moorage.oci.manifest import Descriptor, ParsedManifest, parse_manifest
from moorage.registry import repositories, scan_on_push
from moorage.registry.context import RegistryContext
from moorage.registry.manifests import StoredManifest
from moorage.registry.repositories import Repository
from moorage.scanning import reports
from moorage.trust.signatures import cosign, notation, view
from moorage.trust.signatures.trust_stores import NAMESPACE, REPOSITORY, Scope

log = logging.getLogger("moorage.pull_policy")

ENFORCE, AUDIT = "enforce", "audit"
MODES = (ENFORCE, AUDIT)
SEVERITIES = ("none", "low", "medium", "high", "critical")
_RANK = {"none": 0, "unknown": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
_DTR_LEVEL = {"critical": "critical", "major": "medium", "minor": "low"}
AUDIT_EVENT = events.PULL_POLICY_AUDIT
MAX_DEPTH = 2  # indexes above an image whose signature counts for it
MAX_PARENTS = 16  # indexes of one manifest looked at, per level
MAX_PLATFORMS = 100  # platform images of one index judged by the severity rule
_COSIGN_TAG = re.compile(r"sha256-[0-9a-f]{64}\.(sig|att|sbom)")
_SIGNATURE_TYPES = frozenset({cosign.ARTIFACT_TYPE, notation.ARTIFACT_TYPE})


class PullRefused(Denied):
    default_message = "pull refused by the pull policy"


class NoSuchPullPolicy(NotFound):
    code, default_message = "NO_SUCH_PULL_POLICY", "no pull policy is set here"


@dataclass(frozen=True, slots=True)
class Policy:
    scope: str  # REPOSITORY | NAMESPACE
    require_signature: bool
    max_severity: str | None
    mode: str
    updated_at: dt.datetime
    updated_by: str | None

    @property
    def rules(self) -> bool:
        return self.require_signature or self.max_severity is not None


def _policy(row: object) -> Policy:
    return Policy(
        scope=REPOSITORY if row.repository_id is not None else NAMESPACE,  # type: ignore[attr-defined]
        require_signature=bool(row.require_signature),  # type: ignore[attr-defined]
        max_severity=row.max_severity,  # type: ignore[attr-defined]
        mode=row.mode,  # type: ignore[attr-defined]
        updated_at=as_utc(row.updated_at),  # type: ignore[attr-defined]
        updated_by=row.updated_by,  # type: ignore[attr-defined]
    )


# ---- the stored policies ---------------------------------------------------------------------


async def get(db: Database, scope: Scope) -> Policy | None:
    async with db.read() as conn:
        row = (
            await conn.execute(select(pull_policies).where(pull_policies.c.scope == scope.key))
        ).first()
    return None if row is None else _policy(row)


async def put(
    db: Database,
    scope: Scope,
    *,
    require_signature: bool,
    max_severity: str | None,
    mode: str,
    by: str | None,
    now: dt.datetime,
) -> Policy:
    """Set the policy of ``scope`` (replacing the one it had)."""
    if mode not in MODES or (max_severity is not None and max_severity not in SEVERITIES):
        raise ValueError("mode or severity out of range")  # the API model checked both
    values = {
        "require_signature": require_signature,
        "max_severity": max_severity,
        "mode": mode,
        "updated_at": now,
        "updated_by": by,
    }
    owner = (
        {"repository_id": scope.id, "namespace_id": None, "namespace": None}
        if scope.kind == REPOSITORY
        else {"repository_id": None, "namespace_id": scope.id, "namespace": scope.name}
    )
    async with db.write() as conn:
        await conn.execute(
            db.insert(pull_policies)
            .values(scope=scope.key, **owner, **values)
            .on_conflict_do_update(index_elements=["scope"], set_=values)
        )
    return Policy(scope.kind, require_signature, max_severity, mode, now, by)


async def remove(db: Database, scope: Scope) -> None:
    async with db.write() as conn:
        done = await conn.execute(delete(pull_policies).where(pull_policies.c.scope == scope.key))
    if not done.rowcount:
        raise NoSuchPullPolicy(detail={"scope": scope.kind, "name": scope.name})


async def in_force(conn: Connection, name: str) -> Policy | None:
    """The policy the pulls of the repository ``name`` obey: its own, else its namespace's;
    one statement (neither the repository's row nor the namespace's account is needed: the
    repository by a subquery on its name, the namespace by the name its policy keeps),
    remembered for the request being served."""
    key = ("pull_policy", name)
    remembered = request_memo.recall(key)
    if remembered is not request_memo.MISSING:
        return remembered if isinstance(remembered, Policy) else None
    repo = select(t.repositories.c.id).where(t.repositories.c.name == name).scalar_subquery()
    namespace = repositories.namespace_of(name)
    rows = list(
        await conn.execute(
            select(pull_policies).where(
                or_(pull_policies.c.repository_id == repo, pull_policies.c.namespace == namespace)
            )
        )
    )
    found = sorted((_policy(r) for r in rows), key=lambda p: p.scope != REPOSITORY)
    policy = found[0] if found else None
    request_memo.remember(key, policy)
    return policy


# ---- the rule --------------------------------------------------------------------------------


def _parsed(found: StoredManifest) -> ParsedManifest | None:
    try:
        return parse_manifest(found.payload, found.media_type)
    except (MoorageError, ValueError, RecursionError):
        return None


def _runnable(parsed: ParsedManifest) -> bool:
    """What a container runtime would run: an image manifest with an image config and only
    file-system layers, whatever its ``artifactType`` or ``subject`` say."""
    if parsed.media_type not in mt.IMAGE_MANIFESTS or parsed.config is None:
        return False
    if parsed.config.media_type not in scan_on_push.IMAGE_CONFIGS:
        return False
    return all(
        scan_on_push.is_foreign(layer) or layer.media_type in scan_on_push.LAYER_TYPES
        for layer in parsed.layers
    )


def exempt(parsed: ParsedManifest, reference: str) -> bool:
    """A signature, attestation or other referrer, which clients must read to verify; never a
    runnable image."""
    if parsed.is_index or _runnable(parsed):
        return False
    if parsed.subject is not None or _COSIGN_TAG.fullmatch(reference):
        return True
    config = parsed.config.media_type if parsed.config is not None else None
    if parsed.artifact_type in _SIGNATURE_TYPES or config in _SIGNATURE_TYPES:
        return True
    return bool(parsed.layers) and all(
        layer.media_type == cosign.SIMPLE_SIGNING for layer in parsed.layers
    )


def finding_level(finding: reports.Finding) -> str:
    """A finding's level on the policy's scale (see the module's docstring)."""
    if finding.cvss is not None:
        score = finding.cvss
        if score >= 9.0:
            return "critical"
        if score >= 7.0:
            return "high"
        if score >= 4.0:
            return "medium"
        return "low" if score > 0 else "none"
    return _DTR_LEVEL.get(finding.severity, "unknown")


def severity_problem(scanned: dict[str, reports.ScanReport], maximum: str) -> str | None:
    """Why the images' scans break the rule ``maximum`` (None when they do not)."""
    for digest, report in sorted(scanned.items()):
        if not report.state.scanned:
            status = report.state.status.replace("_", " ")
            return (
                f"image {digest} has no completed vulnerability scan ({status}), and the "
                f"policy allows only scanned images (maximum severity {maximum})"
            )
    worst: tuple[int, str, str] | None = None
    for _, report in sorted(scanned.items()):
        for component, finding in report.findings():
            if finding.suppressed:
                continue
            level = finding_level(finding)
            if _RANK[level] > _RANK[maximum] and (worst is None or _RANK[level] > worst[0]):
                worst = (_RANK[level], level, f"{finding.vuln_id} in {component.name}")
    if worst is None:
        return None
    return f"a {worst[1]} vulnerability ({worst[2]}), above the allowed maximum {maximum}"


async def _parents(db: Database, repository_id: int, digest: str) -> list[str]:
    """Indexes of the repository that list the manifest ``digest``."""
    m, refs = t.manifests, t.manifest_references
    query = (
        select(m.c.digest)
        .select_from(refs.join(m, m.c.id == refs.c.parent_id))
        .where(
            and_(
                refs.c.child_digest == digest,
                refs.c.child_kind == "manifest",
                m.c.repository_id == repository_id,
                m.c.media_type.in_(sorted(mt.INDEXES)),
            )
        )
        .distinct()
        .order_by(m.c.digest)
        .limit(MAX_PARENTS)
    )
    async with db.read() as conn:
        return [str(r.digest) for r in await conn.execute(query)]


async def signed(
    ctx: RegistryContext, repo: Repository, digest: str, now: dt.datetime, depth: int = 0
) -> bool:
    """A trusted signer signed ``digest``, or an index of the repository listing it."""
    verdicts = await view.signatures(ctx, repo.name, repo.id, digest, now)
    if any(v.trusted for v in verdicts):
        return True
    if depth >= MAX_DEPTH:
        return False
    for parent in await _parents(ctx.db, repo.id, digest):
        if await signed(ctx, repo, parent, now, depth + 1):
            return True
    return False


def _platform_image(child: Descriptor) -> bool:
    """An index entry a client may run: an image manifest of a real platform. Stricter than
    the scanner's ``is_platform_image``: an annotation alone does not make an entry of a real
    platform an attestation (a client that takes no index is served the first linux/amd64
    entry, whatever its annotations)."""
    if child.media_type not in mt.IMAGE_MANIFESTS:
        return False
    platform = child.platform or {}
    return platform.get("os") != "unknown" and platform.get("architecture") != "unknown"


def scan_targets(parsed: ParsedManifest, digest: str) -> list[str]:
    """The images the severity rule reads the scans of: an index's platform images, the image
    itself, nothing for another artifact (the scanner scans only images)."""
    if parsed.is_index:
        found = [str(c.digest) for c in parsed.manifests if _platform_image(c)]
        return list(dict.fromkeys(found))[:MAX_PLATFORMS]
    return [digest] if _runnable(parsed) else []


async def problems(
    ctx: RegistryContext,
    policy: Policy,
    repo: Repository,
    reference: str,
    found: StoredManifest,
    now: dt.datetime,
) -> list[str]:
    """Why the policy refuses this pull (empty when it lets it through)."""
    parsed = _parsed(found)  # None: stored before a stricter parser; policed as an image
    if not policy.rules or (parsed is not None and exempt(parsed, reference)):
        return []
    out: list[str] = []
    if policy.require_signature and not await signed(ctx, repo, found.digest, now):
        out.append("no trusted signature")
    if policy.max_severity is not None:
        targets = scan_targets(parsed, found.digest) if parsed is not None else [found.digest]
        if targets:
            problem = severity_problem(await reports.reports(ctx.db, targets), policy.max_severity)
            if problem is not None:
                out.append(problem)
    return out


def _owner(policy: Policy, repo: Repository) -> str:
    if policy.scope == REPOSITORY:
        return f"repository {repo.name}"
    return f"namespace {repo.namespace}"


async def enforce(
    ctx: RegistryContext,
    name: str,
    reference: str,
    found: StoredManifest,
    actor: str | None,
) -> None:
    """Before a manifest pull of ``name`` is answered: ``PullRefused`` when the policy in force
    refuses it (in audit mode: an event and a log line instead)."""
    async with ctx.db.read() as conn:
        policy = await in_force(conn, name)
        repo = await repositories.find_remembered(conn, name) if policy is not None else None
    if policy is None or repo is None:
        return
    why = await problems(ctx, policy, repo, reference, found, utcnow())
    if not why:
        return
    message = f"pull refused by the policy of {_owner(policy, repo)}: {'; '.join(why)}"
    detail = {"policy": policy.scope, "digest": found.digest, "reasons": why}
    if policy.mode == ENFORCE:
        raise PullRefused(message, detail=detail)
    log.warning(
        "audit: %s (%s@%s, by %s)", message, repo.name, found.digest, actor or events.ANONYMOUS
    )
    async with ctx.db.write() as conn:
        await events.record(
            conn,
            AUDIT_EVENT,
            repository=repo.name,
            repository_id=repo.id,
            object_type=events.MANIFEST if is_digest(reference) else events.TAG,
            object_id=reference,
            actor=actor,
            details={**detail, "mode": AUDIT, "message": message},
        )
