"""Writes OKANE's Prometheus recording rules and alerts (charts/okane/alerts/okane.rules.yaml).

Run ``python tools/alerts.py`` after changing a rule; commit the YAML it writes. It is a plain
Prometheus rules file: ``promtool check rules`` and ``promtool test rules`` read it as it is
(tests/observability/), a real Prometheus loads it in the tests, and the chart wraps it in a
PrometheusRule. Every alert has a section of docs/runbooks.md with its name as the heading.

SLOs over 30 days, per namespace and service (user-api, bank-webhook):
  availability: 99.9 % of API requests are answered without a 5xx (error budget 0.001);
  latency: 99 % of API requests are answered within 500 ms (budget 0.01).
The burn-rate alerts follow the multi-window, multi-burn-rate pattern of the SRE workbook: page
at 14.4x the budget over 1h and 5m, or 6x over 6h and 30m; ticket at 3x over 1d and 2h, or 1x
over 3d and 6h.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "charts" / "okane" / "alerts" / "okane.rules.yaml"
KUBE_OUT = ROOT / "charts" / "okane" / "alerts" / "kube-state-metrics.rules.yaml"
# The chart replaces this prefix with metrics.prometheusRule.runbookBaseUrl when it is set.
RUNBOOK = "docs/runbooks.md#"

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
API = 'route!~"/metrics|/healthz|/readyz|/v1/events"'  # what people call, not probes or streams
BY = "namespace, service"
SLOS = {"errors": 0.001, "slow": 0.01}
# (severity, burn rate, long window, short window)
BURNS = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6, "6h", "30m"),
    ("ticket", 3, "1d", "2h"),
    ("ticket", 1, "3d", "6h"),
)


def recording() -> list[dict[str, str]]:
    rules = []
    for w in WINDOWS:
        rules += [
            {
                "record": f"okane:api_requests:rate{w}",
                "expr": f"sum by ({BY}) (rate(okane_http_requests_total{{{API}}}[{w}]))",
            },
            {
                "record": f"okane:api_errors:ratio_rate{w}",
                "expr": (
                    f'(sum by ({BY}) (rate(okane_http_requests_total{{{API},status=~"5.."}}[{w}]))'
                    f" or okane:api_requests:rate{w} * 0) / okane:api_requests:rate{w}"
                ),
            },
            {
                "record": f"okane:api_slow:ratio_rate{w}",
                "expr": (
                    f"1 - sum by ({BY}) (rate(okane_http_request_duration_seconds_bucket"
                    f'{{{API},le="0.5"}}[{w}])) / sum by ({BY}) '
                    f"(rate(okane_http_request_duration_seconds_count{{{API}}}[{w}]))"
                ),
            },
        ]
    return rules


def burn_alerts() -> list[dict[str, Any]]:
    alerts = []
    for kind, what in (("errors", "ErrorBudget"), ("slow", "LatencyBudget")):
        budget = SLOS[kind]
        for severity, speed in (("page", "Fast"), ("ticket", "Slow")):
            terms = [
                f"(okane:api_{kind}:ratio_rate{long} > ({rate} * {budget})"
                f" and okane:api_{kind}:ratio_rate{short} > ({rate} * {budget}))"
                for sev, rate, long, short in BURNS
                if sev == severity
            ]
            name = f"OkaneApi{what}Burn{speed}"
            slo = "99.9 % without a 5xx" if kind == "errors" else "99 % within 500 ms"
            alerts.append(
                alert(
                    name,
                    " or ".join(terms),
                    severity,
                    "2m" if severity == "page" else "15m",
                    f"{{{{ $labels.service }}}} in {{{{ $labels.namespace }}}} burns its "
                    f"{'availability' if kind == 'errors' else 'latency'} error budget "
                    f"({slo}) {'fast' if severity == 'page' else 'steadily'}",
                )
            )
    return alerts


def alert(name: str, expr: str, severity: str, for_: str, summary: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "runbook_url": RUNBOOK + name.lower()}
    return rule


def money_alerts() -> list[dict[str, Any]]:
    return [
        alert(
            "OkaneWebhookSignatureFailures",
            "sum by (namespace) (increase("
            'okane_webhook_verifications_total{outcome!="valid"}[10m])) > 0',
            "ticket",
            "0m",
            "Bank callbacks in {{ $labels.namespace }} fail their signature check "
            "({{ $value | humanize }} in 10 minutes): a key rotation gone wrong or forged calls",
        ),
        alert(
            "OkaneWebhookServerErrors",
            'sum by (namespace) (rate(okane_http_requests_total{service="bank-webhook",'
            'route="/webhooks/bank",status=~"5.."}[5m])) > 0',
            "page",
            "5m",
            "The bank's callbacks in {{ $labels.namespace }} get 5xx answers: settlements wait",
        ),
        alert(
            "OkaneSettlementLagHigh",
            "histogram_quantile(0.9, sum by (namespace, kind, le) "
            "(rate(okane_settlement_lag_seconds_bucket[30m]))) > 900",
            "ticket",
            "15m",
            "The bank answers {{ $labels.kind }}s in {{ $labels.namespace }} slowly: p90 "
            "{{ $value | humanizeDuration }}",
        ),
        alert(
            "OkanePaymentsStuck",
            "max by (namespace, kind) (okane_pending_oldest_age_seconds) > 3600",
            "page",
            "10m",
            "A {{ $labels.kind }} in {{ $labels.namespace }} has waited for the bank for "
            "{{ $value | humanizeDuration }}",
        ),
        alert(
            "OkaneWithdrawalsPilingUp",
            'max by (namespace) (okane_pending_transactions{kind="withdrawal"}) > 500',
            "ticket",
            "30m",
            "{{ $value }} withdrawals in {{ $labels.namespace }} wait for the bank",
        ),
        alert(
            "OkaneLedgerViolations",
            "max by (namespace) (okane_ledger_check_violations) > 0",
            "page",
            "0m",
            "The last ledger reconciliation in {{ $labels.namespace }} found {{ $value }} "
            "violated invariants",
        ),
        alert(
            "OkaneLedgerCheckNotRunning",
            "time() - max by (namespace) "
            "(okane_ledger_check_last_run_timestamp_seconds) > 3 * 3600",
            "ticket",
            "15m",
            "No ledger reconciliation in {{ $labels.namespace }} has finished for "
            "{{ $value | humanizeDuration }}",
        ),
    ]


def platform_alerts() -> list[dict[str, Any]]:
    return [
        alert(
            "OkaneTargetDown",
            'up{job=~"user-api|bank-webhook|operator"} == 0',
            "page",
            "5m",
            "{{ $labels.job }} at {{ $labels.instance }} cannot be scraped",
        ),
        alert(
            "OkaneCacheBreakerOpen",
            "max by (namespace) (okane_cache_breaker_state) == 2",
            "ticket",
            "5m",
            "Redis in {{ $labels.namespace }} is unreachable: reads go to PostgreSQL",
        ),
        alert(
            "OkaneCacheWarmFailing",
            "sum by (namespace) "
            '(increase(okane_operator_warm_runs_total{result="failed"}[2h])) > 0',
            "ticket",
            "0m",
            "Cache warm runs in {{ $labels.namespace }} failed in the last 2 hours",
        ),
        alert(
            "OkaneCacheWarmLate",
            "sum by (namespace) (increase("
            'okane_operator_warm_runs_total{result="succeeded"}[3h])) == 0',
            "ticket",
            "15m",
            "Cache warm runs in {{ $labels.namespace }} succeeded before but none in 3 hours",
        ),
        alert(
            "OkaneOperatorReconcileErrors",
            "sum by (namespace) (increase(okane_operator_errors_total[15m])) > 3",
            "ticket",
            "15m",
            "The operator in {{ $labels.namespace }} keeps failing to reconcile",
        ),
    ]


def kube_alerts() -> list[dict[str, Any]]:
    return [
        alert(
            "OkanePodRestarting",
            "increase(kube_pod_container_status_restarts_total"
            '{container=~"user-api|bank-webhook|operator|postgresql|redis"}[1h]) > 3',
            "ticket",
            "5m",
            "{{ $labels.container }} in {{ $labels.namespace }}/{{ $labels.pod }} restarted "
            "{{ $value }} times in an hour",
        ),
    ]


HEADER = (
    "# Written by tools/alerts.py (edit that and run it); a plain Prometheus rules file that the\n"
    "# chart wraps in a PrometheusRule. Runbooks: docs/runbooks.md.\n"
)


def rules() -> dict[str, Any]:
    return {
        "groups": [
            {"name": "okane-slo", "rules": recording()},
            {"name": "okane-slo-alerts", "rules": burn_alerts()},
            {"name": "okane-money", "rules": money_alerts()},
            {"name": "okane-platform", "rules": platform_alerts()},
        ]
    }


def kube_rules() -> dict[str, Any]:
    return {"groups": [{"name": "okane-kube-state-metrics", "rules": kube_alerts()}]}


def render(content: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(content, sort_keys=False, width=120)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(rules()))
    KUBE_OUT.write_text(render(kube_rules()))


if __name__ == "__main__":
    main()
