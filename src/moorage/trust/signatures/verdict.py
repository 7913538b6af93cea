"""What one signature comes to in a signature view: its kind (``notary``, ``cosign``,
``notation``), who signed (Notary roles, cosign key ids, Notation certificate subjects),
whether it verified, and why not. Plain values: the API models build the wire shape."""

from __future__ import annotations

from dataclasses import dataclass

NOTARY, COSIGN, NOTATION = "notary", "cosign", "notation"


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str
    signers: tuple[str, ...]
    verified: bool
    reason: str = ""  # empty when verified
    source: str = ""  # where it was found: a signature manifest's digest, a Notary role
    # Whether the signer is one an administrator registered (signature trust). cosign and
    # Notation verify only against registered material, so for them it is ``verified``; a
    # Notary signature verifies against its GUN's own root, whoever made it
    # (``signer_trust``), so this says whether a registered key signed the role.
    registered: bool = True

    @property
    def trusted(self) -> bool:
        """What the pull policy counts: verified, by a registered signer."""
        return self.verified and self.registered


def refused(kind: str, reason: str, source: str, signers: tuple[str, ...] = ()) -> Verdict:
    return Verdict(kind, signers, False, reason, source, registered=False)
