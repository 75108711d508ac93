"""P2P transfers as one database function: ``okane_transfers_v1`` applies a batch of transfers
(one or many) in the caller's transaction, in one round trip.

It locks every account of the batch once, in ascending id order, then decides each transfer in
arrival order by explicit checks on the locked rows (no exception block per transfer), and returns
one outcome per transfer: the transaction as the payer sees it and the wallets it changed, or the
code of the error that refused it (which then wrote nothing). Functions are versioned by name:
a later change adds ``okane_transfers_v2`` beside this one, so pods of the previous release keep
working during a rolling upgrade, and a later migration drops v1.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OUTCOME = """
CREATE TYPE okane_transfer_outcome_v1 AS (
    idx integer,
    code text,               -- NULL: done; else the code of the error that refused it
    replayed boolean,        -- the key was used before for the same request
    left_today bigint,       -- with daily_limit_exceeded: what the payer may still send today
    id uuid,
    kind text,
    status text,
    failure_reason text,
    amount bigint,
    currency text,
    debit_account_id bigint,
    credit_account_id bigint,
    initiator_id uuid,
    reference text,
    note text,
    reverses_id uuid,
    expires_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    settled_at timestamptz,
    trace_parent text,
    counterparty_id uuid,
    counterparty_name text,
    wallets jsonb            -- [{user_id, id, version, available, locked, currency}] it changed
)
"""

TRANSFERS = r"""
CREATE FUNCTION okane_transfers_v1(
    p_payer uuid[],
    p_session uuid[],        -- NULL entries: no session check (trusted callers)
    p_key text[],
    p_hash bytea[],
    p_by text[],             -- 'id' | 'phone' | 'email'
    p_ref text[],
    p_amount bigint[],
    p_note text[],
    p_txn uuid[],            -- the id each transfer's transaction gets
    p_daily_limit bigint,
    p_key_ttl_seconds integer,
    p_timezone text
) RETURNS SETOF okane_transfer_outcome_v1
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(p_payer), 0);
    payer_account bigint[] := '{}';
    payee_account bigint[] := '{}';
    payee_user uuid[] := '{}';
    payee_name text[] := '{}';
    r okane_transfer_outcome_v1;
    claimed boolean;
    held record;
    payer record;
    payee_currency text;
    spent bigint;
    changed jsonb;
    since timestamptz := date_trunc('day', now(), p_timezone);
    found_account bigint;
    found_user uuid;
    found_name text;
BEGIN
    -- Who pays whom: read before locking (ids, phones and emails do not move money).
    FOR i IN 1 .. n LOOP
        found_account := NULL;
        found_user := NULL;
        found_name := NULL;
        SELECT a.id INTO found_account FROM accounts a WHERE a.user_id = p_payer[i];
        payer_account[i] := found_account;
        found_account := NULL;
        IF p_by[i] = 'id' THEN
            SELECT u.id, u.name, a.id INTO found_user, found_name, found_account
            FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.id = p_ref[i]::uuid;
        ELSIF p_by[i] = 'phone' THEN
            SELECT u.id, u.name, a.id INTO found_user, found_name, found_account
            FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.phone = p_ref[i];
        ELSE
            SELECT u.id, u.name, a.id INTO found_user, found_name, found_account
            FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.email = p_ref[i];
        END IF;
        payee_user[i] := found_user;
        payee_name[i] := found_name;
        payee_account[i] := found_account;
    END LOOP;

    -- Every account of the batch, once, in ascending id order: no deadlock with any other
    -- batch or operation, which all lock in the same order.
    PERFORM 1 FROM accounts WHERE id = ANY (payer_account || payee_account)
        ORDER BY id FOR NO KEY UPDATE;

    FOR i IN 1 .. n LOOP
        r := NULL;
        r.idx := i;
        r.replayed := false;

        IF p_session[i] IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM auth_sessions s WHERE s.id = p_session[i] AND s.user_id = p_payer[i]
            AND s.revoked_at IS NULL AND s.expires_at > now()
        ) THEN
            r.code := 'unauthenticated';
            RETURN NEXT r;
            CONTINUE;
        END IF;

        -- Claim the key (an expired one is taken over); a key already held answers for itself.
        claimed := NULL;
        INSERT INTO idempotency_keys AS k (user_id, key, operation, request_hash,
            transaction_id, expires_at)
        VALUES (p_payer[i], p_key[i], 'transfer', p_hash[i], p_txn[i],
            now() + make_interval(secs => p_key_ttl_seconds))
        ON CONFLICT (user_id, key) DO UPDATE SET operation = EXCLUDED.operation,
            request_hash = EXCLUDED.request_hash, transaction_id = EXCLUDED.transaction_id,
            created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE k.expires_at <= now()
        RETURNING true INTO claimed;
        IF claimed IS NULL THEN
            SELECT k.operation, k.request_hash, k.transaction_id INTO held
            FROM idempotency_keys k WHERE k.user_id = p_payer[i] AND k.key = p_key[i];
            IF held.operation <> 'transfer' OR held.request_hash <> p_hash[i]
                OR held.transaction_id IS NULL THEN
                r.code := 'idempotency_conflict';
                RETURN NEXT r;
                CONTINUE;
            END IF;
            SELECT t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency,
                t.debit_account_id, t.credit_account_id, t.initiator_id, t.reference, t.note,
                t.reverses_id, t.expires_at, t.created_at, t.updated_at, t.settled_at,
                t.trace_parent, cu.id, cu.name
            INTO r.id, r.kind, r.status, r.failure_reason, r.amount, r.currency,
                r.debit_account_id, r.credit_account_id, r.initiator_id, r.reference, r.note,
                r.reverses_id, r.expires_at, r.created_at, r.updated_at, r.settled_at,
                r.trace_parent, r.counterparty_id, r.counterparty_name
            FROM transactions t
            LEFT JOIN accounts ca ON ca.id = t.credit_account_id
            LEFT JOIN users cu ON cu.id = ca.user_id
            WHERE t.id = held.transaction_id;
            IF r.id IS NULL THEN
                r.code := 'idempotency_conflict';
            ELSE
                r.replayed := true;
            END IF;
            RETURN NEXT r;
            CONTINUE;
        END IF;

        -- Refusals write nothing: the claim made above is withdrawn.
        IF payee_account[i] IS NULL THEN
            r.code := 'recipient_not_found';
        ELSIF payee_user[i] = p_payer[i] THEN
            r.code := 'self_transfer';
        ELSIF payer_account[i] IS NULL THEN
            r.code := 'user_not_found';
        ELSE
            SELECT a.available, a.currency INTO payer FROM accounts a
                WHERE a.id = payer_account[i];
            SELECT a.currency INTO payee_currency FROM accounts a
                WHERE a.id = payee_account[i];
            IF payer.currency <> payee_currency THEN
                r.code := 'currency_mismatch';
            ELSE
                SELECT coalesce(sum(t.amount), 0) INTO spent FROM transactions t
                WHERE t.debit_account_id = payer_account[i]
                    AND t.kind IN ('p2p', 'withdrawal') AND t.status <> 'failure'
                    AND t.created_at >= since;
                IF spent + p_amount[i] > p_daily_limit THEN
                    r.code := 'daily_limit_exceeded';
                    r.left_today := greatest(p_daily_limit - spent, 0);
                END IF;
            END IF;
        END IF;
        IF r.code IS NOT NULL THEN
            DELETE FROM idempotency_keys k WHERE k.user_id = p_payer[i] AND k.key = p_key[i];
            RETURN NEXT r;
            CONTINUE;
        END IF;

        IF payer.available < p_amount[i] THEN
            -- Not enough money: recorded as a failure the payer sees, nothing moves.
            INSERT INTO transactions AS t (id, kind, status, failure_reason, amount, currency,
                debit_account_id, credit_account_id, initiator_id, note, settled_at)
            VALUES (p_txn[i], 'p2p', 'failure', 'insufficient_funds', p_amount[i],
                payer.currency, payer_account[i], payee_account[i], p_payer[i], p_note[i], now())
            RETURNING t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency,
                t.debit_account_id, t.credit_account_id, t.initiator_id, t.reference, t.note,
                t.reverses_id, t.expires_at, t.created_at, t.updated_at, t.settled_at,
                t.trace_parent
            INTO r.id, r.kind, r.status, r.failure_reason, r.amount, r.currency,
                r.debit_account_id, r.credit_account_id, r.initiator_id, r.reference, r.note,
                r.reverses_id, r.expires_at, r.created_at, r.updated_at, r.settled_at,
                r.trace_parent;
            WITH w AS (
                UPDATE accounts a SET version = a.version + 1, updated_at = now()
                WHERE a.id = payer_account[i]
                RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency
            )
            SELECT jsonb_agg(to_jsonb(w)) INTO changed FROM w;
        ELSE
            -- The postings of domain.transfer_postings: one debit, one credit.
            INSERT INTO transactions AS t (id, kind, status, amount, currency,
                debit_account_id, credit_account_id, initiator_id, note, settled_at)
            VALUES (p_txn[i], 'p2p', 'success', p_amount[i], payer.currency,
                payer_account[i], payee_account[i], p_payer[i], p_note[i], now())
            RETURNING t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency,
                t.debit_account_id, t.credit_account_id, t.initiator_id, t.reference, t.note,
                t.reverses_id, t.expires_at, t.created_at, t.updated_at, t.settled_at,
                t.trace_parent
            INTO r.id, r.kind, r.status, r.failure_reason, r.amount, r.currency,
                r.debit_account_id, r.credit_account_id, r.initiator_id, r.reference, r.note,
                r.reverses_id, r.expires_at, r.created_at, r.updated_at, r.settled_at,
                r.trace_parent;
            INSERT INTO postings (transaction_id, account_id, amount, currency) VALUES
                (p_txn[i], payer_account[i], -p_amount[i], payer.currency),
                (p_txn[i], payee_account[i], p_amount[i], payer.currency);
            WITH w AS (
                UPDATE accounts a SET available = a.available + CASE
                    WHEN a.id = payer_account[i] THEN -p_amount[i] ELSE p_amount[i] END,
                    version = a.version + 1, updated_at = now()
                WHERE a.id IN (payer_account[i], payee_account[i])
                RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency
            )
            SELECT jsonb_agg(to_jsonb(w)) INTO changed FROM w;
            INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments)
            SELECT o, k, now(), 1 FROM (VALUES (p_payer[i], payee_user[i]),
                (payee_user[i], p_payer[i])) AS pair(o, k) ORDER BY o, k
            ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(),
                payments = c.payments + 1;
        END IF;
        r.counterparty_id := payee_user[i];
        r.counterparty_name := payee_name[i];
        r.wallets := changed;
        RETURN NEXT r;
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(OUTCOME)
    op.execute(TRANSFERS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS okane_transfers_v1(uuid[], uuid[], text[], bytea[], text[], "
        "text[], bigint[], text[], uuid[], bigint, integer, text)"
    )
    op.execute("DROP TYPE IF EXISTS okane_transfer_outcome_v1")
