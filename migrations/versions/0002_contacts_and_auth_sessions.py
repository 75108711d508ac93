"""Contacts (who paid whom, most recent first) and login sessions with rotating refresh tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:56:44.599403
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("refresh_token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("previous_token_hash", sa.LargeBinary(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "refreshed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint(
            "previous_token_hash", name=op.f("uq_auth_sessions_previous_token_hash")
        ),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_auth_sessions_refresh_token_hash")),
    )
    op.create_index(op.f("ix_auth_sessions_user_id"), "auth_sessions", ["user_id"], unique=False)
    op.create_table(
        "contacts",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payments", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("owner_id <> contact_id", name=op.f("ck_contacts_not_self")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["users.id"], name=op.f("fk_contacts_contact_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contacts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("owner_id", "contact_id", name=op.f("pk_contacts")),
    )
    op.create_index(
        "ix_contacts_owner_id_last_paid_at",
        "contacts",
        ["owner_id", sa.literal_column("last_paid_at DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_owner_id_last_paid_at", table_name="contacts")
    op.drop_table("contacts")
    op.drop_index(op.f("ix_auth_sessions_user_id"), table_name="auth_sessions")
    op.drop_table("auth_sessions")
