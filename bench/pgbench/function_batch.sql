-- A batch of :batch random P2P transfers per call of okane_transfers_v3, as the service's
-- batcher sends them: the database's floor for batched commits (one transaction per batch).
WITH pick AS (
  SELECT g, 1 + floor(random() * :wallets)::int AS a, 1 + floor(random() * (:wallets - 1))::int AS b
  FROM generate_series(1, :batch) g
), pairs AS (
  SELECT p.g, dw.user_id, dw.session_id, cw.phone FROM pick p
  JOIN bench_wallets dw ON dw.n = p.a JOIN bench_wallets cw ON cw.n = 1 + (p.a + p.b - 1) % :wallets
), arrays AS (
  SELECT array_agg(user_id ORDER BY g) AS payer, array_agg(session_id ORDER BY g) AS session,
    array_agg(gen_random_uuid()::text ORDER BY g) AS key, array_agg('\x00'::bytea ORDER BY g) AS hash,
    array_agg('phone'::text ORDER BY g) AS by, array_agg(phone::text ORDER BY g) AS ref,
    array_agg(1::bigint ORDER BY g) AS amount, array_agg(NULL::text ORDER BY g) AS note,
    array_agg(uuidv7() ORDER BY g) AS txn FROM pairs
)
SELECT count(*) FROM arrays, okane_transfers_v3(arrays.payer, arrays.session, arrays.key,
  arrays.hash, arrays.by, arrays.ref, arrays.amount, arrays.note, arrays.txn, 20000000, 86400,
  'Asia/Kolkata', NULL, 600, false, ARRAY[]::uuid[], ARRAY[]::bigint[]);
