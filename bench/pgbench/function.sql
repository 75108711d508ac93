-- One P2P transfer per call of the database function the service calls (okane_transfers_v3),
-- with the same session check and a fresh idempotency key: the database's own floor for the
-- HTTP path, one client transaction per transfer.
\set a random(1, :wallets)
\set b random(1, :wallets - 1)
\set c 1 + (:a + :b - 1) % :wallets
SELECT user_id AS du, session_id AS ds FROM bench_wallets WHERE n = :a \gset
SELECT phone AS cphone FROM bench_wallets WHERE n = :c \gset
SELECT count(*) FROM okane_transfers_v3(ARRAY[CAST(:du AS uuid)], ARRAY[CAST(:ds AS uuid)],
  ARRAY[gen_random_uuid()::text], ARRAY['\x00'::bytea], ARRAY['phone'], ARRAY[CAST(:cphone AS text)],
  ARRAY[1]::bigint[], ARRAY[NULL]::text[], ARRAY[uuidv7()], 20000000, 86400, 'Asia/Kolkata',
  NULL, 600, false, ARRAY[]::uuid[], ARRAY[]::bigint[]);
