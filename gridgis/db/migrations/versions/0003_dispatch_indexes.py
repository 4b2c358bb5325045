"""Dispatch indexes: KNN within a role, (role, point) GiST indexes using btree_gist.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # btree_gist lets a GiST index hold the role (a varchar) beside the point.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_index(
        "ix_responders_role_home", "responders", ["role", "home"], postgresql_using="gist"
    )
    op.create_index(
        "ix_responders_role_live_position",
        "responders",
        ["role", "position_recorded_at", "position"],
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index("ix_responders_role_live_position", table_name="responders")
    op.drop_index("ix_responders_role_home", table_name="responders")
