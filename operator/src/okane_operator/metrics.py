"""Prometheus metrics of the operator, in a registry of its own (nothing global at import)."""

from __future__ import annotations

import threading
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from okane_operator.status import Run

# The CacheWarmJob a per-job series belongs to. Not `namespace`: Prometheus gives every series the
# operator pod's own namespace under that name when it scrapes.
JOB_LABELS = ["cachewarmjob_namespace", "cachewarmjob"]


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
        # Per CacheWarmJob, from the run summaries the operator reads anyway (the warm pods
        # themselves live too briefly to be scraped).
        self.job_last_success = Gauge(
            "okane_warm_job_last_success_timestamp_seconds",
            "When the CacheWarmJob's last successful run completed, Unix time.",
            JOB_LABELS,
            registry=self.registry,
        )
        self.job_last_duration = Gauge(
            "okane_warm_job_last_duration_seconds",
            "How long the CacheWarmJob's last successful run took, by its summary.",
            JOB_LABELS,
            registry=self.registry,
        )
        self.job_last_keys = Gauge(
            "okane_warm_job_last_keys_written",
            "Keys the CacheWarmJob's last successful run wrote, over all targets.",
            JOB_LABELS,
            registry=self.registry,
        )
        self.job_failures = Counter(
            "okane_warm_job_failures",
            "Failed runs of the CacheWarmJob.",
            JOB_LABELS,
            registry=self.registry,
        )
        self._server: tuple[WSGIServer, threading.Thread] | None = None

    def record_run(self, namespace: str, name: str, run: Run) -> None:
        """One finished run of a CacheWarmJob, as the operator saw it."""
        self.runs.labels("succeeded" if run.succeeded else "failed", run.trigger.lower()).inc()
        if not run.succeeded:
            self.job_failures.labels(namespace, name).inc()
            return
        completed = datetime.fromisoformat(run.completion_time.replace("Z", "+00:00"))
        self.job_last_success.labels(namespace, name).set(completed.timestamp())
        if run.summary is not None:
            self.job_last_duration.labels(namespace, name).set(float(run.summary["seconds"]))
            written = run.summary.get("written", {})
            self.job_last_keys.labels(namespace, name).set(sum(written.values()))

    def serve(self, port: int, address: str) -> None:
        self._server = start_http_server(port, addr=address, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
