"""Docker Content Trust (Notary v1) signatures of one manifest, read from the trust metadata
the registry's Notary server stores (``moorage.trust.store``).

A manifest is signed in a GUN when the ``targets`` role or a delegation (``targets/releases``,
``targets/<signer>``) lists a target whose SHA-256 is the manifest's digest; the signer is
that role. The server checked every signature and threshold when it accepted the publish;
the view checks them again on the stored bytes (root's targets keys for ``targets``, the
parent's delegation keys for a delegation) and that the role, its parents and the root have
not expired since, so a lapsed or tampered record never shows as verified. Whether a
registered key signed the role (``signer_trust``) is the verdict's ``registered``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from moorage.trust.keys import PublicKey
from moorage.trust.metadata import ROOT, TARGETS, MetadataInvalid, Signed, parent_of, parse
from moorage.trust.signatures.signer_trust import role_signed_by_registered
from moorage.trust.signatures.trust_stores import Material
from moorage.trust.signatures.verdict import NOTARY, Verdict
from moorage.trust.validation import check_signatures

NOTHING_REGISTERED = Material((), ())  # an immutable value: no keys, no roots


def _role_keys(role: str, loaded: Mapping[str, Signed]) -> tuple[dict[str, PublicKey], int] | str:
    """The keys and threshold ``role``'s parent gives it, or why there are none."""
    root = loaded[ROOT]
    if role == TARGETS:
        spec = root.roles[TARGETS]
        return {k: root.keys[k] for k in spec.key_ids}, spec.threshold
    parent = parent_of(role)
    holder = loaded.get(parent)
    delegation = holder.delegation(role) if holder is not None else None
    if holder is None or delegation is None:
        return f"{parent} does not delegate to {role}"
    return {k: holder.keys[k] for k in delegation.key_ids if k in holder.keys}, delegation.threshold


def _problem(role: str, loaded: Mapping[str, Signed], now: dt.datetime) -> str | None:
    """Why ``role``'s chain up to the root does not hold now (None when it does)."""
    root = loaded[ROOT]
    if root.expires < now:
        return f"root expired at {root.expires.isoformat()}"
    current = role
    while current != ROOT:
        meta = loaded.get(current)
        if meta is None:
            return f"{current} is not stored"
        if meta.expires < now:
            return f"{current} expired at {meta.expires.isoformat()}"
        spec = _role_keys(current, loaded)
        if isinstance(spec, str):
            return spec
        keys, threshold = spec
        parent = ROOT if current == TARGETS else parent_of(current)
        reason = check_signatures(meta, keys, threshold)
        if reason is not None:
            return f"{current}: {reason}"
        current = parent
    return None


def verdicts(
    gun: str,
    stored: Mapping[str, bytes],
    digest: str,
    size: int,
    now: dt.datetime,
    trusted: Material = NOTHING_REGISTERED,
) -> list[Verdict]:
    """One verdict per targets role of ``gun`` that lists the manifest ``digest``; each says
    whether a key of ``trusted`` (none by default) signed the role."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or ROOT not in stored:
        return []
    wanted = bytes.fromhex(hex_part)
    loaded: dict[str, Signed] = {}
    for role, raw in stored.items():
        try:
            loaded[role] = parse(role, raw)
        except MetadataInvalid:
            continue
    if ROOT not in loaded:
        return []
    out: list[Verdict] = []
    for role in sorted(r for r in loaded if r == TARGETS or r.startswith(TARGETS + "/")):
        names = sorted(
            name
            for name, meta in loaded[role].targets.items()
            if meta.hashes.get("sha256") == wanted
        )
        if not names:
            continue
        source = f"{gun} {role}: {', '.join(names)[:200]}"
        reason = _problem(role, loaded, now)
        if reason is None and any(loaded[role].targets[n].length != size for n in names):
            reason = "the target's length is not the manifest's size"
        spec = _role_keys(role, loaded)
        registered = (
            reason is None
            and not isinstance(spec, str)
            and role_signed_by_registered(loaded[role], spec[0], trusted)
        )
        out.append(Verdict(NOTARY, (role,), reason is None, reason or "", source, registered))
    return out
