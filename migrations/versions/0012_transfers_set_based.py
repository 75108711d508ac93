"""``okane_transfers_v3``: a batch of transfers that writes each wallet once, limits over a
per-account counter instead of a sum over history, and the cache outbox rows Redis confirmed
deleted in the next batch's own round trip.

- **Daily counters.** ``accounts.out_day`` and ``out_spent``: what the account sent (P2P and
  withdrawals that have not failed) on that day, in the limits' time zone, kept under the
  account lock by every path that debits it (``okane_transfers_v2`` and v3, withdrawals, a
  failed withdrawal gives its amount back). A transaction that began before midnight and locks
  the account after a later day was counted (so ``out_day`` is later than its own day) sums
  history as before and leaves the counter alone. ``okane ledger check`` holds every counter to
  the transactions of its day.
- **One write per wallet per batch.** The batch's accounts are locked once in id order and read
  into arrays; each transfer is decided against those values in arrival order and its
  transaction, postings, contacts and idempotency claim written as before; the balances,
  counters and versions are written in one statement at the end. So the outbox trigger fires
  once per batch and writes one row per wallet, and a wallet paid twice in a batch gets one new
  version. Each changed wallet is reported once, on the first outcome that changed it; a
  replay reports instead the invalidations of its original still pending in ``cache_outbox``
  (so the caller needs no query of its own before it answers).
- **Confirmed invalidations.** ``p_confirmed_users`` / ``p_confirmed_versions`` name outbox rows
  (wallet, version) whose tombstones Redis confirmed after the previous batch: they are deleted
  here (skipping rows a drainer holds), so the trust lease's drain only meets the rows of writers
  that could not confirm.

v2 stays for pods of the previous release and now keeps the counters too.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Today's counters from history (the sum v2 made on every transfer), in the limits' time zone
# (ledger.book.LIMIT_TIMEZONE when this migration was written).
BACKFILL = """
UPDATE accounts a SET out_day = s.day, out_spent = s.total
FROM (SELECT debit_account_id, (now() AT TIME ZONE 'Asia/Kolkata')::date AS day,
             sum(amount) AS total
      FROM transactions
      WHERE kind IN ('p2p', 'withdrawal') AND status <> 'failure'
        AND created_at >= date_trunc('day', now(), 'Asia/Kolkata')
      GROUP BY debit_account_id) s
WHERE a.id = s.debit_account_id
"""

TRANSFERS = r"""
CREATE FUNCTION okane_transfers_v3(
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
    p_timezone text,
    p_new_payees integer,    -- payees outside the payer's contacts per window; NULL: any
    p_new_payee_window_seconds integer,
    p_verified_only boolean, -- phones and emails find a payee only once verified
    p_confirmed_users uuid[],     -- outbox rows (wallet of this user, this version) that
    p_confirmed_versions bigint[] -- Redis confirmed: deleted here
) RETURNS SETOF okane_transfer_outcome_v1
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(cardinality(p_payer), 0);
    payer_account bigint[] := '{}';
    payee_account bigint[] := '{}';
    payee_user uuid[] := '{}';
    payee_name text[] := '{}';
    -- The batch's accounts, locked, in id order, as the batch leaves them.
    acc bigint[];
    acc_available bigint[];
    acc_currency text[];
    acc_spent bigint[];      -- sent today; NULL: a later day is counted already
    acc_changed boolean[];
    acc_told boolean[];
    outs okane_transfer_outcome_v1[] := '{}';
    payer_at integer;
    payee_at integer;
    r okane_transfer_outcome_v1;
    claimed boolean;
    held record;
    spent bigint;
    today date := (now() AT TIME ZONE p_timezone)::date;
    since timestamptz := date_trunc('day', now(), p_timezone);
    written jsonb;
    changed jsonb;
    told bigint;
    told_at integer;
    found_account bigint;
    found_user uuid;
    found_name text;
    looked_up integer;
    wait_seconds integer;
BEGIN
    IF coalesce(cardinality(p_confirmed_users), 0) > 0 THEN
        DELETE FROM cache_outbox WHERE id IN (
            SELECT o.id FROM cache_outbox o
            JOIN unnest(p_confirmed_users, p_confirmed_versions) AS c(user_id, version)
              ON o.user_id = c.user_id AND o.kind = 'wallet' AND o.version = c.version
            FOR UPDATE OF o SKIP LOCKED);
    END IF;

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
            FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.phone = p_ref[i]
                AND (NOT p_verified_only OR u.phone_verified_at IS NOT NULL);
        ELSE
            SELECT u.id, u.name, a.id INTO found_user, found_name, found_account
            FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.email = p_ref[i]
                AND (NOT p_verified_only OR u.email_verified_at IS NOT NULL);
        END IF;
        payee_user[i] := found_user;
        payee_name[i] := found_name;
        payee_account[i] := found_account;
    END LOOP;

    -- Every account of the batch, once, in ascending id order: no deadlock with any other
    -- batch or operation, which all lock in the same order.
    SELECT array_agg(l.id ORDER BY l.id), array_agg(l.available ORDER BY l.id),
        array_agg(l.currency ORDER BY l.id),
        array_agg(CASE WHEN l.out_day > today THEN NULL
            WHEN l.out_day = today THEN l.out_spent ELSE 0 END ORDER BY l.id)
    INTO acc, acc_available, acc_currency, acc_spent
    FROM (SELECT a.id, a.available, a.currency, a.out_day, a.out_spent FROM accounts a
        WHERE a.id = ANY (payer_account || payee_account)
        ORDER BY a.id FOR NO KEY UPDATE) l;
    acc := coalesce(acc, '{}');
    acc_changed := array_fill(false, ARRAY[cardinality(acc)]);
    acc_told := acc_changed;

    FOR i IN 1 .. n LOOP
        r := NULL;
        r.idx := i;
        r.replayed := false;

        IF p_session[i] IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM auth_sessions s WHERE s.id = p_session[i] AND s.user_id = p_payer[i]
            AND s.revoked_at IS NULL AND s.expires_at > now()
        ) THEN
            r.code := 'unauthenticated';
            outs[i] := r;
            CONTINUE;
        END IF;

        -- Claim the key (an expired one is taken over); a key already held answers for itself,
        -- also when an earlier transfer of this batch holds it.
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
                outs[i] := r;
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
                -- The original's invalidations still pending, if its writer never confirmed
                -- them (it may have died after COMMIT): the caller waits for them before it
                -- answers, as that writer would have.
                SELECT jsonb_agg(jsonb_build_object('user_id', o.user_id, 'kind', o.kind,
                    'version', o.version)) INTO r.wallets
                FROM (SELECT o.user_id, o.kind, max(o.version) AS version
                    FROM cache_outbox o JOIN accounts a ON a.user_id = o.user_id
                    WHERE a.id IN (r.debit_account_id, r.credit_account_id)
                        AND o.created_at <= r.created_at
                    GROUP BY o.user_id, o.kind) o;
            END IF;
            outs[i] := r;
            CONTINUE;
        END IF;

        -- A payee outside the payer's contacts (or nobody) counts as a look-up;
        -- over the limit the answer is the same whether or not the payee exists.
        IF p_new_payees IS NOT NULL AND (payee_user[i] IS NULL OR NOT EXISTS (
            SELECT 1 FROM contacts c WHERE c.owner_id = p_payer[i] AND c.contact_id = payee_user[i]
        )) THEN
            INSERT INTO rate_limits AS rl (key, count, window_ends)
            VALUES ('payee-lookup:' || p_payer[i]::text, 1,
                now() + make_interval(secs => p_new_payee_window_seconds))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN rl.window_ends <= now() THEN 1 ELSE rl.count + 1 END,
                window_ends = CASE WHEN rl.window_ends <= now()
                    THEN excluded.window_ends ELSE rl.window_ends END
            RETURNING rl.count, ceil(extract(epoch FROM rl.window_ends - now()))::integer
            INTO looked_up, wait_seconds;
            IF looked_up > p_new_payees THEN
                r.code := 'rate_limited';
                r.left_today := greatest(wait_seconds, 1);
            END IF;
        END IF;

        -- Refusals write nothing: the claim made above is withdrawn.
        IF r.code IS NOT NULL THEN
            NULL;
        ELSIF payee_account[i] IS NULL THEN
            r.code := 'recipient_not_found';
        ELSIF payee_user[i] = p_payer[i] THEN
            r.code := 'self_transfer';
        ELSIF payer_account[i] IS NULL THEN
            r.code := 'user_not_found';
        ELSE
            payer_at := array_position(acc, payer_account[i]);
            payee_at := array_position(acc, payee_account[i]);
            IF acc_currency[payer_at] <> acc_currency[payee_at] THEN
                r.code := 'currency_mismatch';
            ELSE
                spent := acc_spent[payer_at];
                IF spent IS NULL THEN
                    SELECT coalesce(sum(t.amount), 0) INTO spent FROM transactions t
                    WHERE t.debit_account_id = payer_account[i]
                        AND t.kind IN ('p2p', 'withdrawal') AND t.status <> 'failure'
                        AND t.created_at >= since;
                END IF;
                IF spent + p_amount[i] > p_daily_limit THEN
                    r.code := 'daily_limit_exceeded';
                    r.left_today := greatest(p_daily_limit - spent, 0);
                END IF;
            END IF;
        END IF;
        IF r.code IS NOT NULL THEN
            DELETE FROM idempotency_keys k WHERE k.user_id = p_payer[i] AND k.key = p_key[i];
            outs[i] := r;
            CONTINUE;
        END IF;

        IF acc_available[payer_at] < p_amount[i] THEN
            -- Not enough money: recorded as a failure the payer sees, nothing moves.
            INSERT INTO transactions AS t (id, kind, status, failure_reason, amount, currency,
                debit_account_id, credit_account_id, initiator_id, note, settled_at)
            VALUES (p_txn[i], 'p2p', 'failure', 'insufficient_funds', p_amount[i],
                acc_currency[payer_at], payer_account[i], payee_account[i], p_payer[i],
                p_note[i], now())
            RETURNING t.id, t.kind, t.status, t.failure_reason, t.amount, t.currency,
                t.debit_account_id, t.credit_account_id, t.initiator_id, t.reference, t.note,
                t.reverses_id, t.expires_at, t.created_at, t.updated_at, t.settled_at,
                t.trace_parent
            INTO r.id, r.kind, r.status, r.failure_reason, r.amount, r.currency,
                r.debit_account_id, r.credit_account_id, r.initiator_id, r.reference, r.note,
                r.reverses_id, r.expires_at, r.created_at, r.updated_at, r.settled_at,
                r.trace_parent;
            acc_changed[payer_at] := true;  -- its history shows the failure: a new version
        ELSE
            -- The postings of domain.transfer_postings: one debit, one credit.
            INSERT INTO transactions AS t (id, kind, status, amount, currency,
                debit_account_id, credit_account_id, initiator_id, note, settled_at)
            VALUES (p_txn[i], 'p2p', 'success', p_amount[i], acc_currency[payer_at],
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
                (p_txn[i], payer_account[i], -p_amount[i], acc_currency[payer_at]),
                (p_txn[i], payee_account[i], p_amount[i], acc_currency[payer_at]);
            acc_available[payer_at] := acc_available[payer_at] - p_amount[i];
            acc_available[payee_at] := acc_available[payee_at] + p_amount[i];
            IF acc_spent[payer_at] IS NOT NULL THEN
                acc_spent[payer_at] := acc_spent[payer_at] + p_amount[i];
            END IF;
            acc_changed[payer_at] := true;
            acc_changed[payee_at] := true;
            INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments, paid_as)
            SELECT o, k, now(), 1, a FROM (VALUES (p_payer[i], payee_user[i],
                CASE WHEN p_by[i] IN ('phone', 'email') THEN p_ref[i] END),
                (payee_user[i], p_payer[i], NULL)) AS pair(o, k, a) ORDER BY o, k
            ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(),
                payments = c.payments + 1, paid_as = coalesce(excluded.paid_as, c.paid_as);
        END IF;
        r.counterparty_id := payee_user[i];
        r.counterparty_name := payee_name[i];
        outs[i] := r;
    END LOOP;

    -- Each changed wallet once: its balance, today's counter and one new version.
    WITH w AS (
        UPDATE accounts a SET available = u.available,
            out_day = CASE WHEN u.spent IS NULL THEN a.out_day ELSE today END,
            out_spent = coalesce(u.spent, a.out_spent),
            version = a.version + 1, updated_at = now()
        FROM unnest(acc, acc_available, acc_spent, acc_changed)
            AS u(id, available, spent, changed)
        WHERE a.id = u.id AND u.changed
        RETURNING a.user_id, a.id, a.version, a.available, a.locked, a.currency
    )
    SELECT jsonb_object_agg(w.id::text, to_jsonb(w)) INTO written FROM w;

    FOR i IN 1 .. n LOOP
        r := outs[i];
        IF r.code IS NULL AND NOT r.replayed THEN
            changed := '[]';
            -- The payer's wallet, and the payee's when money moved.
            FOREACH told IN ARRAY CASE WHEN r.status = 'success'
                THEN ARRAY[payer_account[i], payee_account[i]] ELSE ARRAY[payer_account[i]] END
            LOOP
                told_at := array_position(acc, told);
                IF NOT acc_told[told_at] THEN
                    changed := changed || jsonb_build_array(written -> told::text);
                    acc_told[told_at] := true;
                END IF;
            END LOOP;
            r.wallets := changed;
        END IF;
        RETURN NEXT r;
    END LOOP;
END $$
"""

# v2's wallet update, and the same update keeping the payer's counter of the day.
V2_UPDATE = """                UPDATE accounts a SET available = a.available + CASE
                    WHEN a.id = payer_account[i] THEN -p_amount[i] ELSE p_amount[i] END,
                    version = a.version + 1, updated_at = now()"""
V2_UPDATE_COUNTED = """                UPDATE accounts a SET available = a.available + CASE
                    WHEN a.id = payer_account[i] THEN -p_amount[i] ELSE p_amount[i] END,
                    out_spent = CASE
                        WHEN a.id <> payer_account[i]
                            OR a.out_day > (now() AT TIME ZONE p_timezone)::date
                            THEN a.out_spent
                        WHEN a.out_day = (now() AT TIME ZONE p_timezone)::date
                            THEN a.out_spent + p_amount[i]
                        ELSE p_amount[i] END,
                    out_day = CASE WHEN a.id = payer_account[i]
                        THEN greatest(a.out_day, (now() AT TIME ZONE p_timezone)::date)
                        ELSE a.out_day END,
                    version = a.version + 1, updated_at = now()"""


def _v2_text() -> str:
    """v2's text as migration 0010 created it."""
    path = Path(__file__).with_name("0010_transfers_limit_new_payees.py")
    spec = importlib.util.spec_from_file_location("okane_migration_0010", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._v2())


def _v2(counted: bool) -> str:
    text = _v2_text().replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    if text.count(V2_UPDATE) != 1:
        raise RuntimeError("okane_transfers_v2 changed; cannot add the daily counter to it")
    return text.replace(V2_UPDATE, V2_UPDATE_COUNTED) if counted else text


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN out_day date")
    op.execute("ALTER TABLE accounts ADD COLUMN out_spent bigint NOT NULL DEFAULT 0")
    op.execute(
        "ALTER TABLE accounts ADD CONSTRAINT ck_accounts_out_spent_not_negative "
        "CHECK (out_spent >= 0)"
    )
    op.execute(BACKFILL)
    op.execute(
        "CREATE INDEX ix_cache_outbox_user_id_kind_version ON cache_outbox (user_id, kind, version)"
    )
    op.execute(_v2(counted=True))
    op.execute(TRANSFERS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS okane_transfers_v3(uuid[], uuid[], text[], bytea[], text[], "
        "text[], bigint[], text[], uuid[], bigint, integer, text, integer, integer, boolean, "
        "uuid[], bigint[])"
    )
    op.execute(_v2(counted=False))
    op.execute("DROP INDEX IF EXISTS ix_cache_outbox_user_id_kind_version")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT IF EXISTS ck_accounts_out_spent_not_negative")
    op.execute("ALTER TABLE accounts DROP COLUMN IF EXISTS out_spent")
    op.execute("ALTER TABLE accounts DROP COLUMN IF EXISTS out_day")
