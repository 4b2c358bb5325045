"""Coverage runs in progress, shared by every API worker (who started each, its stage).

Revision ID: 0018_coverage_progress
Revises: 0017_roads
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_coverage_progress"
down_revision = "0017_roads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_progress",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("client_token", sa.String(length=64), nullable=True),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "steps >= 1 AND step BETWEEN 0 AND steps", name="ck_coverage_progress_step"
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("coverage_progress")
