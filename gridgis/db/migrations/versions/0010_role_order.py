"""Roles carry the order a grid's team is listed in (roles.team_order), instead of the team query.

The seeded roles are numbered in the order the team query spelled: grid worker and community
officer first ("2+N"), then mediator, party cadre, police unit, volunteer. Roles added later
have no number and are listed after them.

Revision ID: 0010_role_order
Revises: 0009
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_role_order"
down_revision = "0009"
branch_labels = None
depends_on = None

_TEAM_ORDER = (
    "grid_worker",
    "community_police",
    "mediator",
    "party_cadre",
    "police_unit",
    "volunteer",
)


def upgrade() -> None:
    op.add_column("roles", sa.Column("team_order", sa.SmallInteger(), nullable=True))
    roles = sa.table(
        "roles", sa.column("code", sa.String), sa.column("team_order", sa.SmallInteger)
    )
    for position, code in enumerate(_TEAM_ORDER, start=1):
        op.execute(roles.update().where(roles.c.code == code).values(team_order=position))


def downgrade() -> None:
    op.drop_column("roles", "team_order")
