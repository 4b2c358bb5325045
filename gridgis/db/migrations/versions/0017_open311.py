"""Citizen reports (Open311), follow-up calls and mediation outcomes.

- open311_requests: one row per incident that came in through Open311 GeoReport v2: the
  public media URL and the reporter's contact details, which are never published.
- incident_follow_ups: the callback after an incident is closed, one per incident; a caller
  not reached cannot have said whether they were satisfied.
- incident_events.type gains the outcomes of a people's-mediation case: mediated_success and
  mediated_failed (the third outcome, passing the matter on, is the existing `referred`), and
  incidents.status the statuses they lead to: mediated and mediation_failed.

Revision ID: 0017_open311
Revises: 0010_lane_integrity
Create Date: 2026-12-01 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_open311"
down_revision = "0010_lane_integrity"
branch_labels = None
depends_on = None

OLD_TYPES = ("dispatched", "arrived", "resolved", "referred", "closed")
NEW_TYPES = (*OLD_TYPES, "mediated_success", "mediated_failed")
OLD_STATUSES = ("open", "dispatched", "on_scene", "resolved", "referred", "closed")
NEW_STATUSES = (*OLD_STATUSES, "mediated", "mediation_failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint("ck_incident_events_type", "incident_events", type_="check")
    op.create_check_constraint("ck_incident_events_type", "incident_events", _in("type", NEW_TYPES))
    op.drop_constraint("ck_incidents_status", "incidents", type_="check")
    op.create_check_constraint("ck_incidents_status", "incidents", _in("status", NEW_STATUSES))
    op.create_table(
        "open311_requests",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("device_id", sa.String(length=100), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_table(
        "incident_follow_ups",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("recorded_by", sa.String(length=100), server_default="", nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("reached OR satisfied IS NULL", name="ck_incident_follow_ups_reached"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id"),
    )


def downgrade() -> None:
    op.drop_table("incident_follow_ups")
    op.drop_table("open311_requests")
    # The older schema has no words for mediation outcomes: a settled matter reads as
    # resolved, a failed one as referred (passed on), and their events go.
    op.execute("UPDATE incidents SET status = 'resolved' WHERE status = 'mediated'")
    op.execute("UPDATE incidents SET status = 'referred' WHERE status = 'mediation_failed'")
    op.execute("DELETE FROM incident_events WHERE type IN ('mediated_success', 'mediated_failed')")
    op.drop_constraint("ck_incidents_status", "incidents", type_="check")
    op.create_check_constraint("ck_incidents_status", "incidents", _in("status", OLD_STATUSES))
    op.drop_constraint("ck_incident_events_type", "incident_events", type_="check")
    op.create_check_constraint("ck_incident_events_type", "incident_events", _in("type", OLD_TYPES))
