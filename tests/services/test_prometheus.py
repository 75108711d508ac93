"""A real Prometheus 3 scrapes user-api, bank-webhook and the operator's metrics endpoint on
loopback after real traffic (sign-ups, signed bank settlements, transfers, forged callbacks, a
Redis outage, a warm run, a ledger reconciliation) and loads the chart's rules. Every dashboard
panel's query and every alert's expression is evaluated by it without error; panels return the
series the traffic made, and their values, read as totals, match what the test sent.

Queries and values go to ``.okane/test-reports/prometheus.json``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okane_core.localstack import LocalRedis, free_port
from okane_core.webhooks import signed_headers
from okane_operator.metrics import Metrics
from tests.observability.tools import Prometheus, alerts, groups, rule_files
from tests.services.conftest import Stack, start_stack, stop_stack
from tests.services.test_admin import granted

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "charts" / "okane" / "dashboards"
REPORT = ROOT / ".okane" / "test-reports" / "prometheus.json"
USERS = 3
FUNDS = 50_000  # paise per user
PAID = (1_000, 2_500, 4_000, 700, 1_300)  # transfers that succeed
FORGED = 4  # callbacks signed with a wrong key
# Panels that this traffic cannot fill, and why (they are still evaluated without error).
EMPTY_HERE = {
    "Error ratio (5xx) by route": "no request failed with a 5xx",
    "Database transactions p99 and retries": "retries: no deadlock happened (p99 is checked)",
    "Reconciles by result": "no CacheWarmJob here: tests/operator proves these",
    "Operator errors by reason": "as above",
    "Warm runs seen by the operator": "as above",
    "Run-now jobs": "as above",
    "Per CacheWarmJob: time since the last successful run": "as above",
    "Per CacheWarmJob: last run's keys and duration, failures": "as above",
    "Row lock wait p99": "filled only when a transfer waits for a lock",
}
# Alerts this traffic makes true (their `for` aside), and alerts it must leave quiet.
FIRING = {"OkaneWebhookSignatureFailures"}
QUIET = {
    "OkaneApiErrorBudgetBurnFast",
    "OkaneApiErrorBudgetBurnSlow",
    "OkaneWebhookServerErrors",
    "OkaneSettlementLagHigh",
    "OkanePaymentsStuck",
    "OkaneWithdrawalsPilingUp",
    "OkaneLedgerViolations",
    "OkaneLedgerCheckNotRunning",
    "OkaneTargetDown",
    "OkaneCacheWarmFailing",
    "OkaneCacheWarmLate",
    "OkaneOperatorReconcileErrors",
}


@pytest.fixture(scope="module")
def observed(
    module_database_url: str, own_redis: LocalRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Prometheus]]:
    stack = start_stack(
        module_database_url,
        own_redis.url,
        tmp_path_factory.mktemp("prometheus-logs"),
        OKANE_DEV_MAILBOX="true",
        OKANE_EXPIRY_SWEEP_SECONDS="1",
    )
    operator = Metrics()
    operator_port = free_port()
    operator.serve(operator_port, "127.0.0.1")
    address = {url: url.removeprefix("http://") for url in (stack.api_url, stack.webhook_url)}
    # The labels the chart's ServiceMonitors give each target: job and service, the component.
    targets = {
        "user-api": [(address[stack.api_url], {"service": "user-api"})],
        "bank-webhook": [(address[stack.webhook_url], {"service": "bank-webhook"})],
        "operator": [(f"127.0.0.1:{operator_port}", {"service": "operator"})],
    }
    try:
        with Prometheus(tmp_path_factory.mktemp("prometheus"), targets, rule_files()) as prom:
            # Targets are applied some seconds after start; traffic waits for a first scrape.
            wait_for(prom, "sum(up)", len(targets))
            yield stack, prom
    finally:
        operator.stop()
        stop_stack(stack)


def wait_for(prom: Prometheus, expr: str, value: float | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        seen = prom.query(expr)
        if seen and (value is None or float(seen[0]["value"][1]) == value):
            return
        time.sleep(0.5)
    raise AssertionError(f"{expr}: {seen}, wanted {value}")


def panels() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield path.stem, panel, target


def as_totals(expr: str) -> str:
    """The panel's query over everything since the processes started: rate(x[w]) and
    increase(x[w]) become x (every counter here began at zero with this test's stack)."""
    return re.sub(r"\b(?:rate|increase)\((okane_[a-z0-9_]+(?:\{[^}]*\})?)\[[^\]]+\]\)", r"\1", expr)


def by_labels(result: list[dict[str, Any]]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


async def traffic(stack: Stack, own_redis: LocalRedis, prom: Prometheus) -> dict[str, Any]:
    async with stack.api() as api:
        users = [await api.signup(f"Observed {i}") for i in range(USERS)]
        for user in users:
            await api.fund(user, FUNDS)
        for i, amount in enumerate(PAID):
            response = await api.transfer(users[i % USERS], users[(i + 1) % USERS].phone, amount)
            assert response.status_code == 201 and response.json()["status"] == "success"
        refused = await api.transfer(users[0], users[1].phone, 10 * FUNDS)
        assert refused.json()["failure_reason"] == "insufficient_funds", refused.text
        wrong_key = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        for i in range(FORGED):
            body = json.dumps({"type": "topup.succeeded", "data": {"reference": f"tp_{i}"}})
            forged = await api.bank_http.post(
                stack.webhook_url + "/webhooks/bank",
                content=body,
                headers={
                    "content-type": "application/json",
                    **signed_headers(wrong_key, f"evt_forged_{i}", body.encode()),
                },
            )
            assert forged.status_code == 401
        admin = await granted(api, stack, "Observed Admin")
        warmed = await api.http.post("/v1/admin/cache/warm", json={}, headers=admin.auth)
        assert warmed.status_code == 200, warmed.text
        # Redis hangs: reads go to PostgreSQL while the breaker is open; Prometheus sees it.
        os.kill(own_redis.pid, signal.SIGSTOP)
        try:
            outage: dict[str, Any] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not outage:
                assert (await api.wallet(users[0]))[0] >= 0
                seen = prom.query("max(okane_cache_breaker_state) == 2")
                if seen:
                    outage = {"breaker_alert": prom.query(expression("OkaneCacheBreakerOpen"))}
                await asyncio.sleep(0.3)
            assert outage.get("breaker_alert"), "the open breaker never reached Prometheus"
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
        # After the outage the breaker closes and the cache serves reads again.
        deadline = time.monotonic() + 60
        while not prom.query('sum(okane_cache_requests_total{result="hit"}) > 0'):
            assert time.monotonic() < deadline, "no cache hit after the outage"
            for user in users:
                await api.wallet(user)
            await asyncio.sleep(0.5)
    checked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "okane_core.cli", "ledger", "check"],
        env={
            **os.environ,
            "OKANE_DATABASE_URL": stack.database_url,
            "OKANE_REDIS_URL": "redis://unused.invalid:6379/0",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return outage


async def test_prometheus_evaluates_every_panel_and_alert_on_real_traffic(
    observed: tuple[Stack, Prometheus], own_redis: LocalRedis
) -> None:
    stack, prom = observed
    outage = await traffic(stack, own_redis, prom)
    # Everything the traffic did has been scraped, and the sweep saw the reconciliation.
    wait_for(prom, 'sum(okane_webhook_verifications_total{outcome="bad_signature"})', FORGED)
    wait_for(prom, "max(okane_ledger_check_last_run_timestamp_seconds) > 0")
    wait_for(prom, "max(okane_cache_breaker_state) == 0")
    wait_for(prom, 'sum(okane_webhook_events_total{type="topup.succeeded"})', USERS)
    await asyncio.sleep(3)  # a few evaluations of every rule on the final state
    report: dict[str, Any] = {"panels": [], "alerts": {}, "outage": outage}

    totals: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for board, panel, target in panels():
        expr = target["expr"].replace("$namespace", ".*")  # Grafana's "All"
        as_is = prom.query(expr)  # raises unless Prometheus evaluated it
        summed = by_labels(prom.query(as_totals(expr)))
        report["panels"].append(
            {
                "dashboard": board,
                "panel": panel["title"],
                "expr": expr,
                "series": len(as_is),
                "totals": {
                    ",".join(f"{k}={v}" for k, v in key): value for key, value in summed.items()
                },
            }
        )
        totals[f"{panel['title']}|{target['legendFormat']}"] = summed
        if panel["title"] not in EMPTY_HERE:
            assert as_is, f"{board} '{panel['title']}' returned nothing: {expr}"
        # Legends name labels; each returned series carries them.
        for label in re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]):
            for series in as_is:
                assert label in series["metric"], (panel["title"], label, series)

    def total(title: str, **labels: str) -> float:
        found = [
            value
            for key, series in totals.items()
            if key.startswith(title + "|")
            for labelset, value in series.items()
            if all((k, v) in labelset for k, v in labels.items())
        ]
        assert found, (title, labels)
        return sum(found)

    assert total("Signature checks by outcome", outcome="bad_signature") == FORGED
    assert total("Signature checks by outcome", outcome="valid") == USERS
    assert total("Events by type and outcome", type="topup.succeeded", outcome="applied") == USERS
    assert total("Transactions by kind and status", kind="p2p", status="success") == len(PAID)
    assert total("Transactions by kind and status", kind="topup", status="success") == USERS
    assert total("Failures by reason", kind="p2p", reason="insufficient_funds") == 1
    assert total("Money moved (INR per second) by kind", kind="p2p") == sum(PAID) / 100
    assert total("Money moved (INR per second) by kind", kind="topup") == USERS * FUNDS / 100
    assert (
        total("Requests per second by route", service="user-api", route="/v1/transfers")
        == len(PAID) + 1
    )
    assert total("Client errors (4xx) by route", route="/webhooks/bank", status="401") == FORGED
    assert total("Breaker transitions", state="open") >= 1
    assert total("Warm runs and keys written", result="success") == 1
    assert total("Pending top-ups and withdrawals", kind="topup") == 0

    rules = prom.api("rules")
    loaded = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(loaded) == sum(
        len(group["rules"]) for path in rule_files() for group in groups(path)
    )
    assert all(rule["health"] == "ok" for rule in loaded), [
        (rule["name"], rule.get("lastError")) for rule in loaded if rule["health"] != "ok"
    ]
    for path in rule_files():
        for rule in alerts(path):
            result = prom.query(rule["expr"])
            report["alerts"][rule["alert"]] = [r["metric"] for r in result]
            if rule["alert"] in FIRING:
                assert result, f"{rule['alert']} should be true after this traffic"
            if rule["alert"] in QUIET:
                assert not result, f"{rule['alert']} fired: {result}"
    firing = {
        a["labels"]["alertname"]: a for a in prom.api("alerts")["alerts"] if a["state"] == "firing"
    }
    signature = firing["OkaneWebhookSignatureFailures"]  # its `for` is 0: firing already
    assert signature["annotations"]["summary"].startswith("Bank callbacks in")
    assert (
        signature["annotations"]["runbook_url"] == "docs/runbooks.md#okanewebhooksignaturefailures"
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True))


def expression(name: str) -> str:
    return next(
        str(rule["expr"]) for path in rule_files() for rule in alerts(path) if rule["alert"] == name
    )
