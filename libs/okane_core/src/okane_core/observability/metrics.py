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
    "Cache lookups by target and result (hit, miss, bypass when the breaker is open, error)",
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
WARM_RUNS = Counter("okane_warm_runs_total", "Cache warm runs by result", ["result"])
WARM_KEYS = Counter("okane_warm_keys_total", "Keys written by warm runs", ["target"])
WARM_DURATION = Histogram(
    "okane_warm_duration_seconds",
    "Duration of cache warm runs",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
