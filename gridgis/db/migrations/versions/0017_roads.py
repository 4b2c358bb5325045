"""Road networks: generations of an OSM-derived routable graph in pgRouting's columns.

Revision ID: 0017_roads
Revises: 0016_patrols
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017_roads"
down_revision = "0016_patrols"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "road_networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("edge_count", sa.Integer(), nullable=False),
        sa.Column("top_speed_kmh", sa.Double(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "profile IN ('car', 'motorcycle', 'foot')", name="ck_road_networks_profile"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("label"),
    )
    op.create_index(
        "uq_road_networks_one_active",
        "road_networks",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "road_nodes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("osm_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT", srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT"
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["network_id"], ["road_networks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_road_nodes_network", "road_nodes", ["network_id"])
    op.create_table(
        "road_edges",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("reverse_cost", sa.Double(), nullable=False),
        sa.Column("x1", sa.Double(), nullable=False),
        sa.Column("y1", sa.Double(), nullable=False),
        sa.Column("x2", sa.Double(), nullable=False),
        sa.Column("y2", sa.Double(), nullable=False),
        sa.Column("osm_way_id", sa.BigInteger(), nullable=False),
        sa.Column("highway", sa.String(length=32), nullable=False),
        sa.Column("length_m", sa.Double(), nullable=False),
        sa.Column("speed_kmh", sa.Double(), nullable=False),
        sa.Column("speed_source", sa.String(length=16), nullable=False),
        sa.Column("oneway", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "speed_source IN ('maxspeed', 'table', 'fallback')", name="ck_road_edges_speed_source"
        ),
        sa.CheckConstraint(
            "length_m > 0 AND speed_kmh > 0 AND cost > 0", name="ck_road_edges_cost"
        ),
        sa.CheckConstraint(
            "(oneway AND reverse_cost = -1) OR (NOT oneway AND reverse_cost = cost)",
            name="ck_road_edges_oneway",
        ),
        sa.ForeignKeyConstraint(["network_id"], ["road_networks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source"], ["road_nodes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target"], ["road_nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_road_edges_network", "road_edges", ["network_id"])
    op.create_index("ix_road_edges_source", "road_edges", ["source"])
    op.create_index("ix_road_edges_target", "road_edges", ["target"])
    op.create_index("ix_road_edges_geom", "road_edges", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("road_edges")
    op.drop_table("road_nodes")
    op.drop_index("uq_road_networks_one_active", table_name="road_networks")
    op.drop_table("road_networks")
