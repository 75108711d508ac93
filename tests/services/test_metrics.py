"""Metrics scraped from the running services, including several uvicorn workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from okane_core.localstack import Endpoints, free_port
from tests.services.conftest import Stack


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(
        sum(
            v
            for (n, ls), v in samples.items()
            if n == name and all((k, labels[k]) in ls for k in labels)
        )
    )


async def test_services_report_requests_money_and_webhooks(stack: Stack) -> None:
    async with stack.api() as api:
        before_api, before_hook = scrape(stack.api_url), scrape(stack.webhook_url)
        payer = await api.signup("Metric Payer")
        payee = await api.signup("Metric Payee")
        await api.fund(payer, 10_000)
        await api.transfer(payer, payee.phone, 2_500)
        await api.transfer(payer, payee.phone, 99_999)  # insufficient funds
        await api.http.get(
            f"/v1/transactions/{'0' * 8}-0000-7000-8000-000000000000", headers=payer.auth
        )
        after_api, after_hook = scrape(stack.api_url), scrape(stack.webhook_url)

    def delta(after: dict, before: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "POST", "route": "/v1/transfers", "status": "201"}
    assert delta(after_api, before_api, "okane_http_requests_total", **route) == 2
    # The route *template*, never the raw path: label values stay bounded.
    assert (
        delta(
            after_api,
            before_api,
            "okane_http_requests_total",
            route="/v1/transactions/{transaction_id}",
            status="404",
        )
        == 1
    )
    assert (
        delta(
            after_api,
            before_api,
            "okane_http_request_duration_seconds_count",
            route="/v1/transfers",
        )
        == 2
    )
    assert (
        delta(after_api, before_api, "okane_transactions_total", kind="p2p", status="success") == 1
    )
    assert (
        delta(
            after_api,
            before_api,
            "okane_transactions_total",
            kind="p2p",
            status="failure",
            reason="insufficient_funds",
        )
        == 1
    )
    assert delta(after_api, before_api, "okane_money_moved_paise_total", kind="p2p") == 2_500
    # Each transfer left in a batch of its own (they were sent one after the other).
    assert delta(after_api, before_api, "okane_db_batch_size_count", kind="transfers") == 2
    assert (
        delta(
            after_api,
            before_api,
            "okane_db_transaction_duration_seconds_count",
            outcome="committed",
        )
        >= 3
    )
    assert delta(after_api, before_api, "okane_cache_invalidations_total", result="written") >= 3
    assert value(after_api, "okane_db_pool_connections", state="idle") >= 1
    # No `service` label: the scrape supplies it (it would collide with the ServiceMonitor's).
    assert not any(dict(labels).get("service") for _, labels in after_api)
    build = [dict(labels) for name, labels in after_api if name == "okane_build_info"]
    assert len(build) == 1 and build[0]["version"] and build[0]["commit"], build
    assert delta(after_hook, before_hook, "okane_webhook_verifications_total", outcome="valid") == 1
    assert (
        delta(
            after_hook,
            before_hook,
            "okane_webhook_events_total",
            type="topup.succeeded",
            outcome="applied",
        )
        == 1
    )
    assert delta(after_hook, before_hook, "okane_money_moved_paise_total", kind="topup") == 10_000
    assert delta(after_hook, before_hook, "okane_settlement_lag_seconds_count", kind="topup") == 1


@pytest.fixture(scope="module")
def two_workers(
    module_database_url: str, endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    metrics_dir = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    env = {
        **os.environ,
        "OKANE_DATABASE_URL": module_database_url,
        "OKANE_REDIS_URL": endpoints.redis_url,
        "OKANE_JWT_SECRET": "x" * 48,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = Path(metrics_dir) / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "okane_user_api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url, metrics_dir
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            tail = log.read_text(errors="replace").splitlines()[-40:]
            pytest.fail(
                "the server did not shut down within 30 s; its log ends:\n" + "\n".join(tail)
            )


def test_several_workers_report_one_aggregated_count(two_workers: tuple[str, Path]) -> None:
    url, metrics_dir = two_workers
    with httpx.Client(base_url=url) as client:
        before = value(scrape(url), "okane_http_requests_total", route="/healthz")
        # New connections each time, so both workers serve some of them.
        for _ in range(40):
            assert httpx.get(url + "/healthz").status_code == 200
        for _ in range(10):  # and keep-alive ones
            assert client.get("/healthz").status_code == 200
    after = value(scrape(url), "okane_http_requests_total", route="/healthz")
    assert after - before == 50
    # Both workers counted some of them: one file of counters per worker process.
    assert len(list(metrics_dir.glob("counter_*.db"))) >= 2
