"""Prometheus metrics of the operator, in a registry of its own (nothing global at import)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, start_http_server


class Metrics:
    """Reconciles, errors, and warm runs by result."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "okane_operator_reconciles",
            "CacheWarmJob reconciliations, by result (ok or error).",
            ["result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "okane_operator_errors",
            "Errors met while reconciling, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.runs = Counter(
            "okane_operator_warm_runs",
            "Finished warm runs seen by the operator, by result and trigger.",
            ["result", "trigger"],
            registry=self.registry,
        )
        self.run_now = Counter(
            "okane_operator_run_now_jobs",
            "Jobs started through the okane.dev/run-now annotation.",
            registry=self.registry,
        )
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    def serve(self, port: int, address: str) -> None:
        self._server = start_http_server(port, addr=address, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
