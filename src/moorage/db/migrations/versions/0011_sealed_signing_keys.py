"""Token signing keys sealed with the secret key (no schema change)

``signing_keys.private_pem`` now holds the key sealed with the replica's secret key
(``moorage.auth.secretbox``: ``<data>/secret.key`` or ``MOORAGE_SECRET_KEY``) instead of the
PEM in clear. The sealing needs that key, which a migration does not have, so it happens when the
key is loaded (``TokenSigner.load_or_create``: a clear key is sealed in place, with a log line).
This revision only marks the change in the history; downgrading it does not unseal: a version
from before it cannot read a sealed key (restore the database from before the upgrade instead).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
