"""The span tree of one transfer, and a bank callback's trace linked to the top-up it settles.

Both services run in this process (uvicorn in threads, real HTTP on loopback) so their spans
land in one in-memory exporter.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from okane_bank_webhook.app import create_app as create_webhook
from okane_core.localstack import Endpoints
from okane_core.observability.logs import JsonFormatter
from okane_core.settings import load_settings
from okane_user_api.app import create_app as create_user_api
from tests.served import Served
from tests.services.client import Api


@pytest.fixture(scope="module")
def traced(
    module_database_url: str, endpoints: Endpoints
) -> Iterator[tuple[Api, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    settings = load_settings(
        database_url=module_database_url,
        redis_url=endpoints.redis_url,
        jwt_secret="t" * 48,
        bank_webhook_secret=secret,
        login_attempts_per_address=100_000,  # every test signs in from 127.0.0.1
        verify_contacts="off",
        signups_per_address=100_000,  # payees are found by phones nobody verified
    )
    api_app = create_user_api(settings, span_processor=processor)
    webhook_app = create_webhook(settings, span_processor=processor)
    with Served(api_app) as api_server, Served(webhook_app) as hook_server:
        yield Api(api_server.url, hook_server.url, secret), exporter


def children_of(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def descendants(spans: list[ReadableSpan], root: ReadableSpan) -> list[ReadableSpan]:
    found, frontier = [], [root]
    while frontier:
        node = frontier.pop()
        for child in children_of(spans, node):
            found.append(child)
            frontier.append(child)
    return found


async def test_the_span_tree_of_one_transfer(traced: tuple[Api, InMemorySpanExporter]) -> None:
    api, exporter = traced
    payer = await api.signup("Span Payer")
    payee = await api.signup("Span Payee")
    await api.fund(payer, 5_000)
    exporter.clear()
    paid = await api.transfer(payer, payee.phone, 1_234)
    assert paid.status_code == 201
    spans = list(exporter.get_finished_spans())
    roots = [s for s in spans if s.kind is SpanKind.SERVER and s.name == "POST /v1/transfers"]
    assert len(roots) == 1
    root = roots[0]
    # Its parent, if any, is the calling client's span (httpx propagates the trace context).
    assert root.parent is None or root.parent.is_remote
    assert root.attributes is not None and root.attributes.get("http.route") == "/v1/transfers"
    below = descendants(spans, root)
    assert all(s.context.trace_id == root.context.trace_id for s in below)
    sql = [s for s in below if (s.attributes or {}).get("db.system") == "postgresql"]
    redis = [s for s in below if (s.attributes or {}).get("db.system") == "redis"]
    # The transfer is one database round trip, in the request's trace: its wait for the batch
    # that carried it, whose statement is the ledger's function (it locks, writes the
    # transaction, postings and balances, and checks the session: no Redis revocation call).
    [waited] = [
        s for s in sql if "okane_transfers_v3" in str((s.attributes or {}).get("db.statement"))
    ]
    assert not any(s.name.startswith("EXISTS") for s in redis), [s.name for s in redis]
    # The batch has its own trace, linked to each request it carried; under it the cache
    # invalidation and the live event, sent to Redis after the commit.
    [batch] = [
        s for s in spans if any(link.context.span_id == waited.context.span_id for link in s.links)
    ]
    assert batch.name == "transfers batch" and (batch.attributes or {}).get("okane.batch_size") == 1
    names = [
        s.name
        for s in descendants(spans, batch)
        if (s.attributes or {}).get("db.system") == "redis"
    ]
    # One round trip: per user one script call (their tombstones and their live event), then
    # one wake-up of the replicas.
    assert names == ["EVALSHA EVALSHA PUBLISH"], names


async def test_a_bank_callback_links_to_the_top_up_it_settles(
    traced: tuple[Api, InMemorySpanExporter],
) -> None:
    api, exporter = traced
    user = await api.signup("Span Topup")
    exporter.clear()
    started = await api.post(user, "/v1/topups", {"amount": 700})
    topup_root = next(
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name == "POST /v1/topups"
    )
    exporter.clear()
    delivery = await api.bank.approve("topup", started.json()["reference"], 700)
    assert delivery.status == 200
    callback = next(
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name == "POST /webhooks/bank"
    )
    linked = {(link.context.trace_id, link.context.span_id) for link in callback.links}
    assert (topup_root.context.trace_id, topup_root.context.span_id) in linked
    assert callback.context.trace_id != topup_root.context.trace_id


def test_log_lines_are_json_with_the_trace_and_span_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("okane.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    tracer = trace.get_tracer("okane.tests")
    with tracer.start_as_current_span("work") as span:
        logger.warning("paid %s", "Ravi", extra={"amount": 5})
    line = json.loads(stream.getvalue().strip())
    context = span.get_span_context()
    assert line["message"] == "paid Ravi"
    assert line["level"] == "warning" and line["amount"] == 5
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
