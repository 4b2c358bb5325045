"""Live changes for the dispatchers' console: PostgreSQL NOTIFY on incident and responder
status changes, from triggers (so every writer is covered: the API, the CLI, another process).

Each committed change of an incident (intake, a new event) or of a responder's status sends one
notification on channel `gridgis_live` with a small JSON payload
(`{"kind": "incident"|"responder", "id", "status", ...}`); listeners re-read what they show.
Live position fixes send nothing: tens of thousands a second would flood the channel, and the
console polls the responders in view instead.

Revision ID: 0014_console
Revises: 0012_users
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0014_console"
down_revision = "0012_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION gridgis_notify_incident() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('gridgis_live', json_build_object(
            'kind', 'incident', 'id', NEW.id, 'status', NEW.status,
            'op', lower(TG_OP))::text);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER incidents_notify_live AFTER INSERT OR UPDATE ON incidents
        FOR EACH ROW EXECUTE FUNCTION gridgis_notify_incident()
        """
    )
    op.execute(
        """
        CREATE FUNCTION gridgis_notify_responder() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('gridgis_live', json_build_object(
            'kind', 'responder', 'id', NEW.id, 'status', NEW.status,
            'role', NEW.role, 'before', OLD.status)::text);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER responders_notify_live AFTER UPDATE OF status ON responders
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION gridgis_notify_responder()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS responders_notify_live ON responders")
    op.execute("DROP FUNCTION IF EXISTS gridgis_notify_responder()")
    op.execute("DROP TRIGGER IF EXISTS incidents_notify_live ON incidents")
    op.execute("DROP FUNCTION IF EXISTS gridgis_notify_incident()")
