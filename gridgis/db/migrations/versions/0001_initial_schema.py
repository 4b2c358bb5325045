"""Initial schema: generations, areas + pieces, roles, facilities, responders, assignments.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 06:29:22.884360
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


ROLES = [
    {"code": "grid_worker", "name_zh": "网格员", "name_en": "Grid worker"},
    {"code": "community_police", "name_zh": "社区民警", "name_en": "Community police officer"},
    {"code": "party_cadre", "name_zh": "党员干部", "name_en": "Party cadre"},
    {"code": "mediator", "name_zh": "人民调解员", "name_en": "People's mediator"},
    {"code": "volunteer", "name_zh": "志愿者", "name_en": "Volunteer"},
    {"code": "police_unit", "name_zh": "巡逻警力", "name_en": "Police patrol unit"},
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("area_code", sa.String(length=20), nullable=False),
        sa.Column("serves", postgresql.ARRAY(sa.String(length=20)), nullable=False),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('police_station', 'mediation_centre', 'service_station')",
            name="ck_facilities_type",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "ix_facilities_geom", "facilities", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_facilities_type", "facilities", ["type"], unique=False)
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("label"),
    )
    op.create_index(
        "uq_generations_one_active",
        "generations",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "roles",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "areas",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("population", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('city', 'district', 'county', 'street', 'town', 'township', "
            "'community', 'village')",
            name="ck_areas_kind",
        ),
        sa.CheckConstraint(
            "level IN ('city', 'county', 'township', 'grid')", name="ck_areas_level"
        ),
        sa.CheckConstraint("population >= 0", name="ck_areas_population"),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("generation_id", "code", name="uq_areas_generation_code"),
    )
    op.create_index("ix_areas_generation_level", "areas", ["generation_id", "level"], unique=False)
    op.create_index(
        "ix_areas_generation_parent", "areas", ["generation_id", "parent_code"], unique=False
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "responders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("skills", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "home",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("home_grid_code", sa.String(length=20), nullable=True),
        sa.Column(
            "position",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("position_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("station_code", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "extra", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('available', 'busy', 'off_duty')", name="ck_responders_status"
        ),
        sa.CheckConstraint(
            "(position IS NULL) = (position_recorded_at IS NULL)",
            name="ck_responders_position_time",
        ),
        sa.ForeignKeyConstraint(
            ["role"],
            ["roles.code"],
        ),
        sa.ForeignKeyConstraint(["station_code"], ["facilities.code"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(
        "ix_responders_home_geom", "responders", ["home"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_responders_home_grid", "responders", ["home_grid_code"], unique=False)
    op.create_index(
        "ix_responders_position_geom",
        "responders",
        ["position"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index("ix_responders_role_status", "responders", ["role", "status"], unique=False)
    op.create_table(
        "area_pieces",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_area_pieces_area", "area_pieces", ["area_id"], unique=False)
    op.create_index(
        "ix_area_pieces_geom", "area_pieces", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("responder_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("duty", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["duty"],
            ["roles.code"],
        ),
        sa.ForeignKeyConstraint(["responder_id"], ["responders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("responder_id", "grid_code", "duty", name="uq_assignments"),
    )
    op.create_index("ix_assignments_grid", "assignments", ["grid_code"], unique=False)
    roles = sa.table("roles", sa.column("code"), sa.column("name_zh"), sa.column("name_en"))
    op.bulk_insert(roles, ROLES)


def downgrade() -> None:
    op.drop_index("ix_assignments_grid", table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_area_pieces_geom", table_name="area_pieces", postgresql_using="gist")
    op.drop_index("ix_area_pieces_area", table_name="area_pieces")
    op.drop_table("area_pieces")
    op.drop_index("ix_responders_role_status", table_name="responders")
    op.drop_index("ix_responders_position_geom", table_name="responders", postgresql_using="gist")
    op.drop_index("ix_responders_home_grid", table_name="responders")
    op.drop_index("ix_responders_home_geom", table_name="responders", postgresql_using="gist")
    op.drop_table("responders")
    op.drop_index("ix_areas_geom", table_name="areas", postgresql_using="gist")
    op.drop_index("ix_areas_generation_parent", table_name="areas")
    op.drop_index("ix_areas_generation_level", table_name="areas")
    op.drop_table("areas")
    op.drop_table("roles")
    op.drop_index(
        "uq_generations_one_active", table_name="generations", postgresql_where=sa.text("active")
    )
    op.drop_table("generations")
    op.drop_index("ix_facilities_type", table_name="facilities")
    op.drop_index("ix_facilities_geom", table_name="facilities", postgresql_using="gist")
    op.drop_table("facilities")
