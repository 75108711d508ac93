"""The migrations are the only source of the schema, and they agree with the models."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.exc import DBAPIError

from okane_core.db.engine import normalize_url
from okane_core.db.migrate import alembic_config
from okane_core.db.models import Base


def _sync_engine(url: str) -> Engine:
    return create_engine(normalize_url(url), poolclass=pool.NullPool)


def test_models_and_migrations_agree(database_url: str) -> None:
    with _sync_engine(database_url).connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    with _sync_engine(database_url).connect() as conn:
        tables = conn.execute(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalar_one()
    assert tables == 0
    command.upgrade(config, "head")
    with _sync_engine(database_url).connect() as conn:
        codes = conn.execute(text("SELECT code FROM accounts ORDER BY code")).scalars().all()
    assert codes == ["bank_clearing", "promotions"]


def test_postings_refuse_update_and_delete(database_url: str) -> None:
    engine = _sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO transactions (id, kind, status, amount, currency, debit_account_id, "
                "credit_account_id) VALUES ('00000000-0000-7000-8000-000000000001', 'p2p', "
                "'success', 5, 'INR', 1, 2)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO postings (transaction_id, account_id, amount, currency) VALUES "
                "('00000000-0000-7000-8000-000000000001', 1, -5, 'INR'), "
                "('00000000-0000-7000-8000-000000000001', 2, 5, 'INR')"
            )
        )
    for statement in (
        "UPDATE postings SET amount = 6",
        "DELETE FROM postings",
        "TRUNCATE postings",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sum(abs(amount)) FROM postings")).scalar_one() == 10


def test_unbalanced_postings_cannot_commit(database_url: str) -> None:
    engine = _sync_engine(database_url)
    with pytest.raises(DBAPIError, match="not zero") as raised, engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO transactions (id, kind, status, amount, currency, debit_account_id, "
                "credit_account_id) VALUES ('00000000-0000-7000-8000-000000000002', 'p2p', "
                "'success', 5, 'INR', 1, 2)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO postings (transaction_id, account_id, amount, currency) VALUES "
                "('00000000-0000-7000-8000-000000000002', 1, -5, 'INR'), "
                "('00000000-0000-7000-8000-000000000002', 2, 4, 'INR')"
            )
        )
    assert isinstance(raised.value.orig, psycopg.errors.CheckViolation)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM postings")).scalar_one() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO users (id, name, phone) VALUES (gen_random_uuid(), 'x', '12345')",
        "INSERT INTO users (id, name, email) VALUES (gen_random_uuid(), 'x', 'UPPER@x.io')",
        "INSERT INTO users (id, name) VALUES (gen_random_uuid(), 'nobody')",
        "UPDATE accounts SET locked = -1 WHERE code = 'bank_clearing'",
    ],
)
def test_check_constraints_hold(database_url: str, statement: str) -> None:
    with pytest.raises(DBAPIError), _sync_engine(database_url).begin() as conn:
        conn.execute(text(statement))


def test_a_wallet_cannot_go_negative(database_url: str) -> None:
    engine = _sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, name, phone) VALUES "
                "('00000000-0000-7000-8000-0000000000aa', 'w', '+919999999999')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO accounts (kind, user_id, currency) VALUES "
                "('wallet', '00000000-0000-7000-8000-0000000000aa', 'INR')"
            )
        )
    with pytest.raises(DBAPIError, match="available_not_negative"), engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET available = -1 WHERE kind = 'wallet'"))
