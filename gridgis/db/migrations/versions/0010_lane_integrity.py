"""A row's lane is its role's: composite foreign keys (role, lane) -> roles (code, lane).

The per-role KNN walks (migration 0009) filter on the lane alone, so a row whose lane belonged
to another role would be found by the other role's walk. With these keys the database refuses
such a row from any writer, and a role's new lane (UPDATE roles SET lane) cascades to its
responders and their live fixes. On responders the composite key replaces the plain key on
role (it checks the same thing and more; one check per written row instead of two). Updates of
a live fix leave role and lane alone, so the key costs ingest nothing there.

Revision ID: 0010_lane_integrity
Revises: 0012_users
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_lane_integrity"
down_revision = "0014_console"
branch_labels = None
depends_on = None

_TABLES = ("responders", "responder_positions")


def upgrade() -> None:
    op.create_unique_constraint("uq_roles_code_lane", "roles", ["code", "lane"])
    op.drop_constraint("responders_role_fkey", "responders", type_="foreignkey")
    for table in _TABLES:
        op.create_foreign_key(
            f"fk_{table}_role_lane",
            table,
            "roles",
            ["role", "lane"],
            ["code", "lane"],
            onupdate="CASCADE",
        )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_constraint(f"fk_{table}_role_lane", table, type_="foreignkey")
    op.create_foreign_key("responders_role_fkey", "responders", "roles", ["role"], ["code"])
    op.drop_constraint("uq_roles_code_lane", "roles", type_="unique")
