"""Coverage: runs (parameters, summary), their H3 cells and per-area statistics.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("cell_count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'failed')", name="ck_coverage_runs_status"
        ),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "coverage_cells",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("population", sa.Double(), nullable=False),
        sa.Column("eta_s", sa.Double(), nullable=True),
        sa.Column("eta_k_s", sa.Double(), nullable=True),
        sa.Column("responders_within_target", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "seq"),
    )
    op.create_table(
        "coverage_area_stats",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("population", sa.Double(), nullable=False),
        sa.Column("population_within_target", sa.Double(), nullable=False),
        sa.Column("population_share_within_target", sa.Double(), nullable=True),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("area_within_target_m2", sa.Double(), nullable=False),
        sa.Column("area_share_within_target", sa.Double(), nullable=True),
        sa.Column("eta_mean_s", sa.Double(), nullable=True),
        sa.Column("eta_p90_s", sa.Double(), nullable=True),
        sa.Column("eta_k_mean_s", sa.Double(), nullable=True),
        sa.Column("eta_k_p90_s", sa.Double(), nullable=True),
        sa.Column("responders", sa.Integer(), nullable=False),
        sa.Column("responders_per_10k", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "level IN ('city', 'county', 'township', 'grid')", name="ck_coverage_area_stats_level"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "code"),
    )
    op.create_index("ix_coverage_area_stats_run_level", "coverage_area_stats", ["run_id", "level"])


def downgrade() -> None:
    op.drop_index("ix_coverage_area_stats_run_level", table_name="coverage_area_stats")
    op.drop_table("coverage_area_stats")
    op.drop_table("coverage_cells")
    op.drop_table("coverage_runs")
