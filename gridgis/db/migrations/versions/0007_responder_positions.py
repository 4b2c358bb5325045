"""Live fixes move to responder_positions: fast ingest, per-role KNN over fresh fixes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 07:40:00
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responder_positions",
        sa.Column("responder_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "position",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["responder_id"], ["responders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("responder_id"),
    )
    op.create_index(
        "ix_responder_positions_role_live",
        "responder_positions",
        ["role", "recorded_at", "position"],
        postgresql_using="gist",
    )
    op.execute(
        """
        INSERT INTO responder_positions (responder_id, role, position, recorded_at)
        SELECT id, role, position, position_recorded_at FROM responders
        WHERE position IS NOT NULL
        """
    )
    # The copied role follows the responder's.
    op.execute(
        """
        CREATE FUNCTION gridgis_sync_position_role() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE responder_positions SET role = NEW.role WHERE responder_id = NEW.id;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER responders_role_to_positions AFTER UPDATE OF role ON responders
        FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
        EXECUTE FUNCTION gridgis_sync_position_role()
        """
    )
    op.drop_index("ix_responders_role_live_position", table_name="responders")
    op.drop_index("ix_responders_position_geom", table_name="responders")
    op.drop_constraint("ck_responders_position_time", "responders", type_="check")
    op.drop_column("responders", "position_recorded_at")
    op.drop_column("responders", "position")


def downgrade() -> None:
    op.add_column(
        "responders",
        sa.Column(
            "position",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
    )
    op.add_column(
        "responders", sa.Column("position_recorded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        """
        UPDATE responders r SET position = p.position, position_recorded_at = p.recorded_at
        FROM responder_positions p WHERE p.responder_id = r.id
        """
    )
    op.create_check_constraint(
        "ck_responders_position_time",
        "responders",
        "(position IS NULL) = (position_recorded_at IS NULL)",
    )
    op.create_index(
        "ix_responders_position_geom", "responders", ["position"], postgresql_using="gist"
    )
    op.create_index(
        "ix_responders_role_live_position",
        "responders",
        ["role", "position_recorded_at", "position"],
        postgresql_using="gist",
    )
    op.execute("DROP TRIGGER responders_role_to_positions ON responders")
    op.execute("DROP FUNCTION gridgis_sync_position_role()")
    op.drop_index("ix_responder_positions_role_live", table_name="responder_positions")
    op.drop_table("responder_positions")
