-- The ledger transaction of one P2P transfer, as raw SQL: the same statements the HTTP path
-- runs (idempotency claim, recipient and wallets lookup, row locks in id order, daily limit,
-- transaction, postings, balances, idempotency result, contacts), one transaction per transfer.
\set a random(1, :wallets)
\set b random(1, :wallets - 1)
\set c 1 + (:a + :b - 1) % :wallets
SELECT user_id AS du, phone AS dphone FROM bench_wallets WHERE n = :a \gset
SELECT user_id AS cu, phone AS cphone FROM bench_wallets WHERE n = :c \gset
BEGIN;
INSERT INTO idempotency_keys (user_id, key, operation, request_hash, expires_at)
  VALUES (:du, gen_random_uuid()::text, 'transfer', '\x00', now() + interval '1 day')
  ON CONFLICT (user_id, key) DO NOTHING RETURNING key \gset k_
SELECT id AS rid FROM users WHERE phone = :cphone \gset
SELECT id AS da FROM accounts WHERE user_id = :du \gset
SELECT id AS ca FROM accounts WHERE user_id = :rid \gset
SELECT id, available FROM accounts WHERE id IN (:da, :ca) ORDER BY id FOR NO KEY UPDATE;
SELECT coalesce(sum(amount), 0) FROM transactions WHERE debit_account_id = :da
  AND kind IN ('p2p', 'withdrawal') AND status <> 'failure'
  AND created_at >= date_trunc('day', now(), 'Asia/Kolkata');
INSERT INTO transactions (id, kind, status, amount, currency, debit_account_id,
  credit_account_id, initiator_id, settled_at)
  VALUES (uuidv7(), 'p2p', 'success', 1, 'INR', :da, :ca, :du, now()) RETURNING id AS txn \gset
INSERT INTO postings (transaction_id, account_id, amount, currency)
  VALUES (:txn, :da, -1, 'INR'), (:txn, :ca, 1, 'INR');
UPDATE accounts SET available = available + CASE WHEN id = :da THEN -1 ELSE 1 END,
  version = version + 1, updated_at = now() WHERE id IN (:da, :ca);
UPDATE idempotency_keys SET transaction_id = :txn WHERE user_id = :du AND key = :k_key;
INSERT INTO contacts AS c (owner_id, contact_id, last_paid_at, payments)
  SELECT o, k, now(), 1 FROM (VALUES (CAST(:du AS uuid), CAST(:rid AS uuid)),
  (CAST(:rid AS uuid), CAST(:du AS uuid))) AS p(o, k) ORDER BY o, k
  ON CONFLICT (owner_id, contact_id) DO UPDATE SET last_paid_at = now(), payments = c.payments + 1;
COMMIT;
