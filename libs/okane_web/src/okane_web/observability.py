"""HTTP metrics, the ``/metrics`` endpoint, JSON logs and tracing for a FastAPI service.

Metrics with several uvicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` (an empty, writable
directory) before the workers start; each writes its own files and ``/metrics`` aggregates them.
"""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, FastAPI, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okane_core.observability.build import record_build_info
from okane_core.observability.logs import configure_logging
from okane_core.observability.tracing import configure_tracing

HTTP_REQUESTS = Counter(
    "okane_http_requests_total",
    "HTTP requests by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "okane_http_request_duration_seconds",
    "HTTP request duration by method, route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_FLIGHT = Gauge(
    "okane_http_requests_in_flight",
    "HTTP requests being served",
    multiprocess_mode="livesum",
)
# Streams stay open for minutes; their duration would drown the request latency.
# FastAPI's own OpenTelemetry layer, off: traces come from the OpenTelemetry FastAPI
# instrumentation (``configure_tracing``) and metrics from Prometheus, and the layer would look
# up the global providers (and the environment) on every request. Pass as ``FastAPI(telemetry=)``.
NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

UNTIMED_ROUTES = frozenset({"/v1/events", "/metrics"})


class HttpMetrics:
    """Count and time every request by its route *template* (bounded label values).

    No ``service`` label: the scrape says which service a series came from (the chart's
    ServiceMonitors set ``service`` to the component, user-api or bank-webhook), so the two
    never collide as ``exported_service``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            HTTP_IN_FLIGHT.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if template != "unmatched" else "other"
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            if template not in UNTIMED_ROUTES:
                HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            body = generate_latest(registry)
        else:
            body = generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def observe(app: FastAPI, service: str, *, span_processor: SpanProcessor | None = None) -> None:
    """Logs, metrics and (when configured) tracing for this app. Call from the app factory."""
    configure_logging(service, os.environ.get("OKANE_LOG_LEVEL", "INFO"))
    record_build_info()
    app.include_router(metrics_router())
    app.add_middleware(HttpMetrics)
    if configure_tracing(service, span_processor):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
