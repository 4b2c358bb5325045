"""Security review: audit entries record the acting API key's id, and API-key names are never
reused (revoked keys' names included), so that a name in the audit trail means one key.

Existing databases may hold a revoked key and a newer key of the same name: the older rows
are renamed "<name> (revoked #<id>)" before the constraint is added.

Revision ID: 0011_security
Revises: 0013_role_order
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_security"
down_revision = "0013_role_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("actor_key_id", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE api_keys k SET name = left(k.name, 70) || ' (revoked #' || k.id || ')'
        WHERE k.id <> (SELECT max(o.id) FROM api_keys o WHERE o.name = k.name)
        """
    )
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    op.create_unique_constraint("uq_api_keys_name", "api_keys", ["name"])


def downgrade() -> None:
    op.drop_constraint("uq_api_keys_name", "api_keys", type_="unique")
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_column("audit_log", "actor_key_id")
