"""OpenTelemetry tracing: on when the standard ``OTEL_*`` variables ask for an exporter
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
``OTEL_TRACES_EXPORTER=otlp``), off otherwise. Spans cover SQLAlchemy/psycopg, Redis and
outgoing HTTP (httpx); the HTTP services add FastAPI's server spans.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext

from okane_core.observability import build

_LIBRARIES_INSTRUMENTED = False


def exporter_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_TRACES_EXPORTER", "none").lower() == "otlp"
    )


def configure_tracing(service: str, processor: SpanProcessor | None = None) -> bool:
    """Install a tracer provider for this process. Returns whether tracing is on.

    ``processor`` overrides the OTLP exporter (tests pass an in-memory one).
    """
    if processor is None:
        if not exporter_configured():
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        processor = BatchSpanProcessor(OTLPSpanExporter())
    # OTEL_RESOURCE_ATTRIBUTES adds the rest; the chart fills it with the k8s.* attributes of
    # the pod from the downward API.
    resource = Resource.create(
        {
            SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service),
            SERVICE_VERSION: build.version(),
            "vcs.ref.head.revision": build.commit(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    return True


def _instrument_libraries() -> None:
    global _LIBRARIES_INSTRUMENTED  # noqa: PLW0603 - instrumentation is process-wide
    if _LIBRARIES_INSTRUMENTED:
        return
    RedisInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    # Wraps engine creation: every engine made from now on gets statement spans. The
    # instrumentation declares SQLAlchemy < 2.1; it works with 2.1 (the span-tree test proves it).
    SQLAlchemyInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
    _LIBRARIES_INSTRUMENTED = True


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store beside what it started."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def link_to(traceparent: str | None) -> list[Link]:
    """A span link to the span that ``traceparent`` names (e.g. the request that started the
    top-up a bank callback settles)."""
    if not traceparent:
        return []
    context = trace.get_current_span(extract({"traceparent": traceparent})).get_span_context()
    if not isinstance(context, SpanContext) or not context.is_valid:
        return []
    return [Link(context)]
