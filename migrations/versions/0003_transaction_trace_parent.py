"""Keep the trace context of the request that started a transaction, so the bank's callback
that settles it can link its trace to it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transactions", sa.Column("trace_parent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    op.drop_column("transactions", "trace_parent")
