"""Prometheus metrics of the library (the services add their HTTP metrics).

Names follow the Prometheus conventions: base units, ``_total`` for counters, ``_seconds`` for
durations, small fixed label sets. Declaring a metric allocates nothing outside the registry;
with ``PROMETHEUS_MULTIPROC_DIR`` set, each uvicorn worker writes its own file and the
``/metrics`` endpoint aggregates them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CACHE_REQUESTS = Counter(
    "okane_cache_requests_total",
    "Cache lookups by target and result (hit, miss, bypass when the breaker is open or the "
    "lease lapsed, distrusted: older than a pending invalidation, error)",
    ["target", "result"],
)
CACHE_FILLS = Counter(
    "okane_cache_fills_total",
    "Cache fills by target and result (stored, stale: refused because a newer version is known)",
    ["target", "result"],
)
CACHE_INVALIDATIONS = Counter(
    "okane_cache_invalidations_total",
    "Cache invalidations (versioned tombstones) by result",
    ["result"],
)
CACHE_BREAKER_STATE = Gauge(
    "okane_cache_breaker_state",
    "Redis circuit breaker: 0 closed, 1 half-open, 2 open",
    multiprocess_mode="max",
)
CACHE_BREAKER_TRANSITIONS = Counter(
    "okane_cache_breaker_transitions_total", "Circuit breaker state changes", ["state"]
)
CACHE_LEASE_RENEWALS = Counter(
    "okane_cache_lease_renewals_total",
    "Trust lease renewals from PostgreSQL by result (ok; failed: the lease lapses and reads "
    "bypass Redis)",
    ["result"],
)
NOTIFICATIONS = Counter(
    "okane_notifications_total",
    "Notifications (codes, security notices) handed to the sender, by result (sent, failed)",
    ["result"],
)
CACHE_OUTBOX_PENDING = Gauge(
    "okane_cache_outbox_pending",
    "Users with an invalidation Redis has not confirmed, as the last lease renewal saw them",
    multiprocess_mode="max",
)
CACHE_DELAYED_ANSWERS = Counter(
    "okane_cache_delayed_answers_total",
    "Writes answered one lease late because Redis did not confirm their invalidation",
)
WARM_RUNS = Counter("okane_warm_runs_total", "Cache warm runs by result", ["result"])
WARM_KEYS = Counter("okane_warm_keys_total", "Keys written by warm runs", ["target"])
WARM_DURATION = Histogram(
    "okane_warm_duration_seconds",
    "Duration of cache warm runs",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

# --- the ledger (recorded after commit, so only what really happened is counted) ---------------
TRANSACTIONS = Counter(
    "okane_transactions_total",
    "Committed transaction writes by kind, resulting status and failure reason",
    ["kind", "status", "reason"],
)
MONEY_MOVED = Counter(
    "okane_money_moved_paise_total",
    "Paise moved by successful transactions, by kind (1 INR = 100 paise)",
    ["kind"],
)
SETTLEMENT_LAG = Histogram(
    "okane_settlement_lag_seconds",
    "Time from the start of a top-up or withdrawal to the bank's answer",
    ["kind"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
)
PENDING = Gauge(
    "okane_pending_transactions",
    "Top-ups and withdrawals waiting for the bank (sampled by the expiry sweep)",
    ["kind"],
    multiprocess_mode="max",
)
PENDING_OLDEST = Gauge(
    "okane_pending_oldest_age_seconds",
    "How long the oldest top-up or withdrawal waiting for the bank has waited (sampled by the "
    "expiry sweep; 0 when none waits)",
    ["kind"],
    multiprocess_mode="max",
)
LEDGER_CHECK_LAST_RUN = Gauge(
    "okane_ledger_check_last_run_timestamp_seconds",
    "When the last ledger reconciliation (okane ledger check) finished, Unix time (sampled by "
    "the expiry sweep from ledger_checks)",
    multiprocess_mode="max",
)
LEDGER_CHECK_VIOLATIONS = Gauge(
    "okane_ledger_check_violations",
    "Invariant violations the last ledger reconciliation found",
    multiprocess_mode="max",
)
PENDING_HELD = Gauge(
    "okane_pending_held_paise",
    "Paise held (locked) by pending withdrawals (sampled by the expiry sweep)",
    multiprocess_mode="max",
)
LOCK_WAIT = Histogram(
    "okane_ledger_lock_wait_seconds",
    "Time spent acquiring account row locks",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DB_TRANSACTION_DURATION = Histogram(
    "okane_db_transaction_duration_seconds",
    "Duration of units of work (one database transaction each), by outcome",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_RETRIES = Counter(
    "okane_db_retries_total",
    "Units of work retried after a deadlock or serialization failure",
    ["reason"],
)
BATCH_SIZE = Histogram(
    "okane_db_batch_size",
    "Requests per batch a batcher sent to PostgreSQL in one statement",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
DB_STATEMENTS = Counter("okane_db_statements_total", "SQL statements sent to PostgreSQL")
DB_POOL_CONNECTIONS = Gauge(
    "okane_db_pool_connections",
    "Connections of this process's pool, by state (in_use, idle)",
    ["state"],
    multiprocess_mode="livesum",
)
WEBHOOK_VERIFICATIONS = Counter(
    "okane_webhook_verifications_total",
    "Bank callback signature checks by outcome (valid, or the reason for refusal)",
    ["outcome"],
)
WEBHOOK_EVENTS = Counter(
    "okane_webhook_events_total",
    "Verified bank events by type and outcome (applied, replayed, or the refusal code)",
    ["type", "outcome"],
)
