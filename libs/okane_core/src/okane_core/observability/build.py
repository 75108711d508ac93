"""What is running: the release version and the commit it was built from, for
``okane_build_info`` and the OpenTelemetry resource (``service.version``).

The version is okane-core's package version; the commit comes from ``OKANE_COMMIT``, which the
images bake in at build time (``--build-arg OKANE_COMMIT=...``), or ``unknown``.
"""

from __future__ import annotations

import os
from importlib import metadata

from prometheus_client import Gauge

BUILD_INFO = Gauge(
    "okane_build_info",
    "Always 1; the labels say which release (version) and commit this process runs",
    ["version", "commit"],
    multiprocess_mode="max",
)


def version() -> str:
    try:
        return metadata.version("okane-core")
    except metadata.PackageNotFoundError:  # pragma: no cover - only in a source tree unsynced
        return "0+unknown"


def commit() -> str:
    return os.environ.get("OKANE_COMMIT", "").strip() or "unknown"


def record_build_info() -> None:
    BUILD_INFO.labels(version(), commit()).set(1)
