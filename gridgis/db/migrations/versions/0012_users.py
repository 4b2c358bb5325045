"""User accounts for the console: users (argon2id hashes), sign-in sessions, login throttling,
and the user behind an audit entry.

Revision ID: 0012_users
Revises: 0013_role_order
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_users"
down_revision = "0011_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "password_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('dispatcher', 'planner', 'admin')", name="ck_users_role"),
        sa.CheckConstraint("name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'", name="ck_users_name"),
        sa.CheckConstraint("password_hash LIKE '$argon2id$%'", name="ck_users_password_hash"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_users_name_lower", "users", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_timeout_s", sa.Integer(), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.CheckConstraint("idle_timeout_s > 0", name="ck_user_sessions_idle"),
        sa.CheckConstraint("expires_at > created_at", name="ck_user_sessions_expiry"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_expires", "user_sessions", ["expires_at"])
    op.create_table(
        "login_throttles",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('name', 'address')", name="ck_login_throttles_scope"),
        sa.CheckConstraint("failures >= 0", name="ck_login_throttles_failures"),
        sa.PrimaryKeyConstraint("scope", "subject"),
    )

    op.add_column("audit_log", sa.Column("actor_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_audit_log_actor_user_id", "audit_log", "users", ["actor_user_id"], ["id"]
    )
    op.create_index(
        "ix_audit_log_actor_user",
        "audit_log",
        ["actor_user_id", "id"],
        postgresql_where=sa.text("actor_user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_user", table_name="audit_log")
    op.drop_constraint("fk_audit_log_actor_user_id", "audit_log", type_="foreignkey")
    op.drop_column("audit_log", "actor_user_id")
    op.drop_table("login_throttles")
    op.drop_index("ix_user_sessions_expires", table_name="user_sessions")
    op.drop_index("ix_user_sessions_user", table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index("uq_users_name_lower", table_name="users")
    op.drop_table("users")
