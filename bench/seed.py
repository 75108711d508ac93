"""Bulk seeding for benchmarks: many users, funded wallets and transfers, written straight in
SQL (triggers off for speed) and then checked by the ledger reconciliation like any data."""

from __future__ import annotations

import psycopg

SEED_PHONE_BASE = 6_000_000_000


def seed_users(conn: psycopg.Connection, count: int, *, funded: int = 1_000_000) -> None:
    """``count`` users, each with a wallet topped up by ``funded`` paise (one settled top-up:
    a transaction, its two postings, the balances)."""
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "INSERT INTO users (id, name, phone) SELECT uuidv7(), 'Bench ' || g, "
            "'+91' || (%s + g) FROM generate_series(1, %s) g",
            (SEED_PHONE_BASE, count),
        )
        conn.execute(
            "INSERT INTO accounts (kind, user_id, currency, available, version) "
            "SELECT 'wallet', id, 'INR', %s, 2 FROM users WHERE name LIKE 'Bench %%'",
            (funded,),
        )
        clearing = conn.execute("SELECT id FROM accounts WHERE code = 'bank_clearing'").fetchone()
        assert clearing is not None
        conn.execute(
            "CREATE TEMP TABLE seeded ON COMMIT DROP AS SELECT uuidv7() AS txn, a.id AS account "
            "FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.name LIKE 'Bench %%'"
        )
        conn.execute(
            "INSERT INTO transactions (id, kind, status, amount, currency, debit_account_id, "
            "credit_account_id, reference, settled_at) SELECT txn, 'topup', 'success', %s, "
            "'INR', %s, account, 'tp_' || substr(md5(txn::text), 1, 24), now() FROM seeded",
            (funded, clearing[0]),
        )
        conn.execute(
            "INSERT INTO postings (transaction_id, account_id, amount, currency) "
            "SELECT txn, %s, -%s, 'INR' FROM seeded UNION ALL "
            "SELECT txn, account, %s, 'INR' FROM seeded",
            (clearing[0], funded, funded),
        )
        conn.execute(
            "UPDATE accounts SET available = available - %s WHERE id = %s",
            (funded * count, clearing[0]),
        )


def seed_transfers(conn: psycopg.Connection, count: int, *, amount: int = 1) -> None:
    """``count`` successful transfers of ``amount`` paise between random seeded wallets."""
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "CREATE TEMP TABLE wallets ON COMMIT DROP AS SELECT row_number() OVER () AS n, "
            "id FROM accounts WHERE kind = 'wallet'"
        )
        total = conn.execute("SELECT count(*) FROM wallets").fetchone()
        assert total is not None
        assert total[0] > 1
        conn.execute(
            "CREATE TEMP TABLE moves ON COMMIT DROP AS SELECT uuidv7() AS txn, d.id AS debit, "
            "c.id AS credit FROM (SELECT g, 1 + (g * 7919) %% %(w)s AS dn, "
            "1 + (g * 7919 + 1 + g %% (%(w)s - 1)) %% %(w)s AS cn "
            "FROM generate_series(1::bigint, %(count)s) g) m "
            "JOIN wallets d ON d.n = m.dn JOIN wallets c ON c.n = m.cn WHERE d.id <> c.id",
            {"w": total[0], "count": count},
        )
        conn.execute(
            "INSERT INTO transactions (id, kind, status, amount, currency, debit_account_id, "
            "credit_account_id, settled_at) SELECT txn, 'p2p', 'success', %s, 'INR', debit, "
            "credit, now() FROM moves",
            (amount,),
        )
        conn.execute(
            "INSERT INTO postings (transaction_id, account_id, amount, currency) "
            "SELECT txn, debit, -%(a)s, 'INR' FROM moves UNION ALL "
            "SELECT txn, credit, %(a)s, 'INR' FROM moves",
            {"a": amount},
        )
        conn.execute(
            "UPDATE accounts a SET available = a.available + d.delta, version = a.version + 1 "
            "FROM (SELECT account, sum(delta) AS delta FROM ("
            "SELECT debit AS account, -%(a)s AS delta FROM moves UNION ALL "
            "SELECT credit, %(a)s FROM moves) x GROUP BY account) d WHERE a.id = d.account",
            {"a": amount},
        )
