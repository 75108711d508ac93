"""Writes the Grafana dashboards shipped by the chart (charts/okane/dashboards/*.json).

Run ``python tools/dashboards.py`` after changing a panel; commit the JSON it writes. A test
checks every PromQL expression against the metric names the running components export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "charts" / "okane" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


# Every selector of an OKANE metric is scoped to the namespaces chosen in the dashboard.
NAMESPACE = 'namespace=~"$namespace"'
_SELECTOR = re.compile(r"\b(okane[_:][a-z0-9_:]+)(\{([^}]*)\})?")


def scoped(expr: str) -> str:
    def scope(match: re.Match[str]) -> str:
        inner = match.group(3)
        return f"{match.group(1)}{{{NAMESPACE}{',' + inner if inner else ''}}}"

    return _SELECTOR.sub(scope, expr)


def panel(
    title: str, exprs: dict[str, str], unit: str = "short", kind: str = "timeseries"
) -> dict[str, Any]:
    exprs = {legend: scoped(expr) for legend, expr in exprs.items()}
    return {
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for i, item in enumerate(panels):
        item["id"] = i + 1
        item["gridPos"] = {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8}
    return {
        "uid": uid,
        "title": title,
        "tags": ["okane"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                },
                {
                    "name": "namespace",
                    "label": "Namespace",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(okane_build_info, namespace)", "refId": "ns"},
                    "definition": "label_values(okane_build_info, namespace)",
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": panels,
    }


R = "[5m]"

SERVICES = dashboard(
    "okane-services",
    "OKANE / Services",
    [
        # The SLOs of tools/alerts.py, from its recording rules: 1 means burning the 30-day
        # budget exactly as fast as it allows; the pages start at 14.4 (1h) and 6 (6h).
        panel(
            "SLO: availability budget burn rate (99.9 % without 5xx)",
            {
                "{{service}} 1h": "okane:api_errors:ratio_rate1h / 0.001",
                "{{service}} 6h": "okane:api_errors:ratio_rate6h / 0.001",
            },
        ),
        panel(
            "SLO: latency budget burn rate (99 % within 500 ms)",
            {
                "{{service}} 1h": "okane:api_slow:ratio_rate1h / 0.01",
                "{{service}} 6h": "okane:api_slow:ratio_rate6h / 0.01",
            },
        ),
        panel(
            "Requests per second by route",
            {
                "{{service}} {{method}} {{route}}": f"sum by (service, method, route) (rate(okane_http_requests_total{R}))"
            },
            "reqps",
        ),
        panel(
            "Error ratio (5xx) by route",
            {
                "{{service}} {{route}}": (
                    f'sum by (service, route) (rate(okane_http_requests_total{{status=~"5.."}}{R}))'
                    f" / sum by (service, route) (rate(okane_http_requests_total{R}))"
                )
            },
            "percentunit",
        ),
        panel(
            "Latency p99 by route",
            {
                "{{service}} {{route}}": (
                    "histogram_quantile(0.99, sum by (service, route, le) "
                    f"(rate(okane_http_request_duration_seconds_bucket{R})))"
                )
            },
            "s",
        ),
        panel(
            "Latency p50 by route",
            {
                "{{service}} {{route}}": (
                    "histogram_quantile(0.5, sum by (service, route, le) "
                    f"(rate(okane_http_request_duration_seconds_bucket{R})))"
                )
            },
            "s",
        ),
        panel(
            "Requests in flight",
            {"{{service}}": "sum by (service) (okane_http_requests_in_flight)"},
        ),
        panel(
            "Client errors (4xx) by route",
            {
                "{{route}} {{status}}": f'sum by (route, status) (rate(okane_http_requests_total{{status=~"4.."}}{R}))'
            },
            "reqps",
        ),
        panel(
            "Database pool",
            {"{{state}}": "sum by (state) (okane_db_pool_connections)"},
        ),
        panel(
            "Database transactions p99 and retries",
            {
                "p99 {{outcome}}": (
                    "histogram_quantile(0.99, sum by (outcome, le) "
                    f"(rate(okane_db_transaction_duration_seconds_bucket{R})))"
                ),
                "retries {{reason}}": f"sum by (reason) (rate(okane_db_retries_total{R}))",
            },
        ),
    ],
)

MONEY = dashboard(
    "okane-money",
    "OKANE / Money",
    [
        panel(
            "Money moved (INR per second) by kind",
            {"{{kind}}": f"sum by (kind) (rate(okane_money_moved_paise_total{R})) / 100"},
            "currencyINR",
        ),
        panel(
            "Transactions by kind and status",
            {"{{kind}} {{status}}": f"sum by (kind, status) (rate(okane_transactions_total{R}))"},
            "ops",
        ),
        panel(
            "Failures by reason",
            {
                "{{kind}} {{reason}}": f'sum by (kind, reason) (rate(okane_transactions_total{{status="failure"}}{R}))'
            },
            "ops",
        ),
        panel(
            "Pending top-ups and withdrawals",
            {"{{kind}}": "max by (kind) (okane_pending_transactions)"},
        ),
        panel(
            "Held by pending withdrawals (INR)",
            {"held": "max(okane_pending_held_paise) / 100"},
            "currencyINR",
        ),
        panel(
            "Row lock wait p99",
            {
                "p99": f"histogram_quantile(0.99, sum by (le) (rate(okane_ledger_lock_wait_seconds_bucket{R})))"
            },
            "s",
        ),
    ],
)

CACHE = dashboard(
    "okane-cache",
    "OKANE / Cache",
    [
        panel(
            "Hit ratio by target",
            {
                "{{target}}": (
                    f'sum by (target) (rate(okane_cache_requests_total{{result="hit"}}{R}))'
                    f" / sum by (target) (rate(okane_cache_requests_total{R}))"
                )
            },
            "percentunit",
        ),
        panel(
            "Lookups by result",
            {
                "{{target}} {{result}}": f"sum by (target, result) (rate(okane_cache_requests_total{R}))"
            },
            "ops",
        ),
        panel(
            "Fills by result (stale = refused, a newer version was known)",
            {
                "{{target}} {{result}}": f"sum by (target, result) (rate(okane_cache_fills_total{R}))"
            },
            "ops",
        ),
        panel(
            "Circuit breaker (0 closed, 1 half-open, 2 open)",
            {"state": "max(okane_cache_breaker_state)"},
        ),
        panel(
            "Breaker transitions",
            {"{{state}}": f"sum by (state) (increase(okane_cache_breaker_transitions_total{R}))"},
        ),
        panel(
            "Invalidations by result",
            {"{{result}}": f"sum by (result) (rate(okane_cache_invalidations_total{R}))"},
            "ops",
        ),
    ],
)

WEBHOOKS = dashboard(
    "okane-webhooks",
    "OKANE / Bank webhooks",
    [
        panel(
            "Signature checks by outcome",
            {"{{outcome}}": f"sum by (outcome) (rate(okane_webhook_verifications_total{R}))"},
            "ops",
        ),
        panel(
            "Events by type and outcome",
            {
                "{{type}} {{outcome}}": f"sum by (type, outcome) (rate(okane_webhook_events_total{R}))"
            },
            "ops",
        ),
        panel(
            "Settlement lag p50 / p99",
            {
                "p50 {{kind}}": (
                    "histogram_quantile(0.5, sum by (kind, le) "
                    f"(rate(okane_settlement_lag_seconds_bucket{R})))"
                ),
                "p99 {{kind}}": (
                    "histogram_quantile(0.99, sum by (kind, le) "
                    f"(rate(okane_settlement_lag_seconds_bucket{R})))"
                ),
            },
            "s",
        ),
        panel(
            "Webhook latency p99",
            {
                "p99": (
                    "histogram_quantile(0.99, sum by (le) (rate("
                    f'okane_http_request_duration_seconds_bucket{{route="/webhooks/bank"}}{R})))'
                )
            },
            "s",
        ),
    ],
)

OPERATOR = dashboard(
    "okane-operator",
    "OKANE / Operator and cache warming",
    [
        panel(
            "Reconciles by result",
            {"{{result}}": f"sum by (result) (rate(okane_operator_reconciles_total{R}))"},
            "ops",
        ),
        panel(
            "Operator errors by reason",
            {"{{reason}}": f"sum by (reason) (increase(okane_operator_errors_total{R}))"},
        ),
        panel(
            "Warm runs seen by the operator",
            {
                "{{result}} {{trigger}}": "sum by (result, trigger) (increase(okane_operator_warm_runs_total[1h]))"
            },
        ),
        panel(
            "Run-now jobs",
            {"jobs": "sum(increase(okane_operator_run_now_jobs_total[1h]))"},
        ),
        panel(
            "Per CacheWarmJob: time since the last successful run",
            {
                "{{cachewarmjob_namespace}}/{{cachewarmjob}}": (
                    "time() - max by (cachewarmjob_namespace, cachewarmjob) "
                    "(okane_warm_job_last_success_timestamp_seconds)"
                )
            },
            "s",
        ),
        panel(
            "Per CacheWarmJob: last run's keys and duration, failures",
            {
                "keys {{cachewarmjob}}": "max by (cachewarmjob_namespace, cachewarmjob) "
                "(okane_warm_job_last_keys_written)",
                "seconds {{cachewarmjob}}": "max by (cachewarmjob_namespace, cachewarmjob) "
                "(okane_warm_job_last_duration_seconds)",
                "failures {{cachewarmjob}}": "sum by (cachewarmjob_namespace, cachewarmjob) "
                "(increase(okane_warm_job_failures_total[1h]))",
            },
        ),
        panel(
            "Warm runs and keys written",
            {
                "runs {{result}}": "sum by (result) (increase(okane_warm_runs_total[1h]))",
                "keys {{target}}": "sum by (target) (increase(okane_warm_keys_total[1h]))",
            },
        ),
        panel(
            "Warm duration p99",
            {
                "p99": "histogram_quantile(0.99, sum by (le) (rate(okane_warm_duration_seconds_bucket[1h])))"
            },
            "s",
        ),
    ],
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, board in {
        "services": SERVICES,
        "money": MONEY,
        "cache": CACHE,
        "webhooks": WEBHOOKS,
        "operator": OPERATOR,
    }.items():
        (OUT / f"okane-{name}.json").write_text(json.dumps(board, indent=2) + "\n")


if __name__ == "__main__":
    main()
