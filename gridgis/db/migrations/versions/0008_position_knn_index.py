"""Live-fix KNN index on (role, position): spatially clustered and cheaper to maintain.

With recorded_at as its middle column, btree_gist grouped new fixes by time first, so every
page of the index spanned the whole city and each fix cost more to insert. Expired fixes are
now deleted by ingest about once a minute (they can never place anyone), so a KNN walk meets
few stale ones and freshness can be a filter (measurements in docs/PERFORMANCE.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_responder_positions_role_position",
        "responder_positions",
        ["role", "position"],
        postgresql_using="gist",
    )
    op.drop_index("ix_responder_positions_role_live", table_name="responder_positions")


def downgrade() -> None:
    op.create_index(
        "ix_responder_positions_role_live",
        "responder_positions",
        ["role", "recorded_at", "position"],
        postgresql_using="gist",
    )
    op.drop_index("ix_responder_positions_role_position", table_name="responder_positions")
