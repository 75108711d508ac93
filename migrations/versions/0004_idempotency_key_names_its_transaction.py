"""An idempotency key is claimed together with the id of the transaction its request creates:
the foreign key is checked at commit (one statement fewer per money-moving request).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAME = "fk_idempotency_keys_transaction_id_transactions"


def upgrade() -> None:
    op.drop_constraint(NAME, "idempotency_keys", type_="foreignkey")
    op.create_foreign_key(
        NAME,
        "idempotency_keys",
        "transactions",
        ["transaction_id"],
        ["id"],
        deferrable=True,
        initially="DEFERRED",
    )


def downgrade() -> None:
    op.drop_constraint(NAME, "idempotency_keys", type_="foreignkey")
    op.create_foreign_key(NAME, "idempotency_keys", "transactions", ["transaction_id"], ["id"])
