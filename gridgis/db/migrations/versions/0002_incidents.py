"""Incidents: routing categories (seeded), incidents with their intake snapshot, event timeline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_POLICE = ["community_police", "police_unit"]
_PATROL_FIRST = ["police_unit", "community_police"]

# Who is recommended for what. Police matters go to community police and patrol units; civil
# disputes that reach 110 are non-police matters the city diverts to people's mediation, so the
# grid's mediators come first; public-service matters belong to the grid's own workers.
CATEGORIES = [
    # code, 中文, English, police matter, primary roles, fallback roles, team first, diverts
    ("theft", "盗窃", "Theft", True, _POLICE, ["grid_worker"], False, False),
    ("fight", "打架斗殴", "Assault or fight", True, _PATROL_FIRST, ["grid_worker"], False, False),
    (
        "traffic_accident",
        "交通事故",
        "Traffic accident",
        True,
        _PATROL_FIRST,
        ["grid_worker"],
        False,
        False,
    ),
    ("fraud", "诈骗", "Fraud", True, _POLICE, ["grid_worker"], True, False),
    ("drugs", "涉毒线索", "Drug offence tip-off", True, _POLICE, [], False, False),
    (
        "missing_person",
        "人员走失",
        "Missing person",
        True,
        _POLICE,
        ["grid_worker", "volunteer"],
        True,
        False,
    ),
    (
        "neighbour_dispute",
        "邻里纠纷",
        "Neighbour dispute",
        False,
        ["mediator"],
        ["grid_worker", "community_police"],
        True,
        True,
    ),
    (
        "family_dispute",
        "家庭纠纷",
        "Family dispute",
        False,
        ["mediator"],
        ["grid_worker", "community_police"],
        True,
        True,
    ),
    (
        "labour_dispute",
        "劳资纠纷",
        "Wage or labour dispute",
        False,
        ["mediator"],
        ["grid_worker", "party_cadre"],
        True,
        True,
    ),
    (
        "property_dispute",
        "物业纠纷",
        "Property-management dispute",
        False,
        ["mediator"],
        ["grid_worker"],
        True,
        True,
    ),
    (
        "noise",
        "噪音扰民",
        "Noise nuisance",
        False,
        ["grid_worker"],
        ["volunteer", "community_police"],
        True,
        False,
    ),
    (
        "public_facility",
        "公共设施损坏",
        "Damaged public facility",
        False,
        ["grid_worker"],
        ["volunteer"],
        True,
        False,
    ),
    (
        "sanitation",
        "环境卫生",
        "Sanitation or environment",
        False,
        ["grid_worker"],
        ["volunteer"],
        True,
        False,
    ),
    (
        "vulnerable_assistance",
        "老弱帮扶",
        "Help for an elderly or vulnerable person",
        False,
        ["grid_worker", "party_cadre"],
        ["volunteer"],
        True,
        False,
    ),
]


def _point(nullable: bool) -> geoalchemy2.types.Geometry:
    return geoalchemy2.types.Geometry(
        geometry_type="POINT",
        srid=4326,
        dimension=2,
        spatial_index=False,
        from_text="ST_GeomFromEWKT",
        name="geometry",
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "incident_categories",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("police_matter", sa.Boolean(), nullable=False),
        sa.Column("primary_roles", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column(
            "fallback_roles",
            postgresql.ARRAY(sa.String(length=32)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("prefer_team", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "divert_to_mediation", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.CheckConstraint(
            "NOT (police_matter AND divert_to_mediation)",
            name="ck_incident_categories_diversion",
        ),
        sa.CheckConstraint(
            "cardinality(primary_roles) > 0", name="ck_incident_categories_primary_roles"
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("input_crs", sa.String(length=8), server_default="wgs84", nullable=False),
        sa.Column("input_lon", sa.Double(), nullable=False),
        sa.Column("input_lat", sa.Double(), nullable=False),
        sa.Column("geom", _point(nullable=False), nullable=False),
        sa.Column("generation_id", sa.Integer(), nullable=True),
        sa.Column("grid_code", sa.String(length=20), nullable=True),
        sa.Column("grid_kind", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column(
            "recommendation",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), server_default="api", nullable=False),
        sa.Column(
            "created_at",
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
        sa.CheckConstraint(
            "status IN ('open', 'dispatched', 'on_scene', 'resolved', 'referred', 'closed')",
            name="ck_incidents_status",
        ),
        sa.CheckConstraint(
            "input_crs IN ('wgs84', 'gcj02', 'bd09')", name="ck_incidents_input_crs"
        ),
        sa.ForeignKeyConstraint(["category"], ["incident_categories.code"]),
        sa.ForeignKeyConstraint(["generation_id"], ["generations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    op.create_index("ix_incidents_reported_at", "incidents", ["reported_at"], unique=False)
    op.create_index("ix_incidents_grid_code", "incidents", ["grid_code"], unique=False)
    op.create_index("ix_incidents_status", "incidents", ["status"], unique=False)
    op.create_index("ix_incidents_source", "incidents", ["source"], unique=False)
    op.create_index(
        "ix_incidents_geom", "incidents", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("responder_id", sa.BigInteger(), nullable=True),
        sa.Column("responder_role", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('dispatched', 'arrived', 'resolved', 'referred', 'closed')",
            name="ck_incident_events_type",
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["responder_id"], ["responders.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "seq", name="uq_incident_events_seq"),
    )
    op.create_index(
        "ix_incident_events_responder", "incident_events", ["responder_id"], unique=False
    )
    categories = sa.table(
        "incident_categories",
        sa.column("code"),
        sa.column("name_zh"),
        sa.column("name_en"),
        sa.column("police_matter"),
        sa.column("primary_roles", postgresql.ARRAY(sa.String(length=32))),
        sa.column("fallback_roles", postgresql.ARRAY(sa.String(length=32))),
        sa.column("prefer_team"),
        sa.column("divert_to_mediation"),
    )
    op.bulk_insert(
        categories,
        [
            {
                "code": code,
                "name_zh": name_zh,
                "name_en": name_en,
                "police_matter": police,
                "primary_roles": primary,
                "fallback_roles": fallback,
                "prefer_team": team,
                "divert_to_mediation": diverts,
            }
            for code, name_zh, name_en, police, primary, fallback, team, diverts in CATEGORIES
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_incident_events_responder", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incidents_geom", table_name="incidents", postgresql_using="gist")
    op.drop_index("ix_incidents_source", table_name="incidents")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_index("ix_incidents_grid_code", table_name="incidents")
    op.drop_index("ix_incidents_reported_at", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("incident_categories")
