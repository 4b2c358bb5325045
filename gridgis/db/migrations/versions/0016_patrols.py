"""Volunteer patrols and cadres' service posts: units, patrol tasks and their claims, service
posts and their claims, and API keys scoped to a unit.

A claim's slot is a row with a slot number: a partial unique index on (task, slot_no) among
active claims means a task can never hold two claims on one slot, and a volunteer's active
patrol claims may not overlap in time (an exclusion constraint, btree_gist). Writers lock the
task or post row while they choose a slot (gridgis/workflows/claims.py).

Revision ID: 0016_patrols
Revises: 0010_lane_integrity
Create Date: 2026-12-01 15:10:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016_patrols"
down_revision = "0017_open311"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_units_name"),
    )
    op.add_column("api_keys", sa.Column("unit_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key("api_keys_unit_id_fkey", "api_keys", "units", ["unit_id"], ["id"])
    op.create_check_constraint(
        "ck_api_keys_unit_system", "api_keys", "unit_id IS NULL OR role = 'system'"
    )
    op.create_table(
        "patrol_tasks",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("area_kind", sa.String(length=16), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("grid_codes", postgresql.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column(
            "area",
            geoalchemy2.types.Geometry(srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slots", sa.SmallInteger(), nullable=False),
        sa.Column("required_role", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("slots BETWEEN 1 AND 100", name="ck_patrol_tasks_slots"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_patrol_tasks_window"),
        sa.CheckConstraint("status IN ('open', 'cancelled')", name="ck_patrol_tasks_status"),
        sa.CheckConstraint(
            "area_kind IN ('grids', 'polygon', 'route')", name="ck_patrol_tasks_area_kind"
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"]),
        sa.ForeignKeyConstraint(["required_role"], ["roles.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_patrol_tasks_area",
        "patrol_tasks",
        [sa.text("CAST(area AS geography)")],
        postgresql_using="gist",
    )
    op.create_index("ix_patrol_tasks_starts_at", "patrol_tasks", ["starts_at"])
    op.create_index("ix_patrol_tasks_unit", "patrol_tasks", ["unit_id"])
    op.create_index("ix_patrol_tasks_grid", "patrol_tasks", ["grid_code"])
    op.create_table(
        "patrol_claims",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("responder_id", sa.BigInteger(), nullable=False),
        sa.Column("slot_no", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "check_in_position",
            geoalchemy2.types.Geometry("POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "check_out_position",
            geoalchemy2.types.Geometry("POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.CheckConstraint("slot_no >= 1", name="ck_patrol_claims_slot_no"),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'no_show')", name="ck_patrol_claims_status"
        ),
        sa.CheckConstraint(
            "checked_out_at IS NULL OR checked_in_at IS NOT NULL", name="ck_patrol_claims_checkout"
        ),
        sa.ForeignKeyConstraint(["task_id"], ["patrol_tasks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["responder_id"], ["responders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        postgresql.ExcludeConstraint(
            (sa.column("responder_id"), "="),
            (sa.column("during"), "&&"),
            where=sa.text("status = 'active'"),
            using="gist",
            name="ex_patrol_claims_overlap",
        ),
    )
    op.create_index(
        "uq_patrol_claims_slot",
        "patrol_claims",
        ["task_id", "slot_no"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "uq_patrol_claims_responder",
        "patrol_claims",
        ["task_id", "responder_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_patrol_claims_responder", "patrol_claims", ["responder_id"])
    op.create_table(
        "service_posts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("grid_code", "name", name="uq_service_posts_grid_name"),
    )
    op.create_table(
        "service_post_claims",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("responder_id", sa.BigInteger(), nullable=False),
        sa.Column("slot_no", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("slot_no = 1", name="ck_service_post_claims_slot_no"),
        sa.CheckConstraint(
            "status IN ('active', 'released')", name="ck_service_post_claims_status"
        ),
        sa.ForeignKeyConstraint(["post_id"], ["service_posts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["responder_id"], ["responders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_service_post_claims_slot",
        "service_post_claims",
        ["post_id", "slot_no"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_service_post_claims_responder",
        "service_post_claims",
        ["responder_id"],
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_table("service_post_claims")
    op.drop_table("service_posts")
    op.drop_table("patrol_claims")
    op.drop_table("patrol_tasks")
    op.drop_constraint("ck_api_keys_unit_system", "api_keys", type_="check")
    op.drop_constraint("api_keys_unit_id_fkey", "api_keys", type_="foreignkey")
    op.drop_column("api_keys", "unit_id")
    op.drop_table("units")
