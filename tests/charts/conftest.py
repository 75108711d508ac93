"""Fixtures of the chart tests: the API server (tests/k8s) and the monitoring CRDs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.k8s.cluster import ROOT, LocalCluster, wait_until
from tests.k8s.fixtures import k8s_cluster, namespace

__all__ = ["k8s_cluster", "namespace"]

CHART_TOOLS = ROOT / "tools" / "chart-tools.sh"


def chart_tools() -> Path:
    """actionlint and the Prometheus Operator CRDs (built on first use, then cached)."""
    done = subprocess.run(["bash", str(CHART_TOOLS)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def chart_tools_dir() -> Path:
    return chart_tools()


def install_monitoring_crds(cluster: LocalCluster, tools: Path) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(tools / "crds"))
    for name in ("servicemonitors", "podmonitors"):
        path = (
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}.monitoring.coreos.com"
        )

        def established(path: str = path) -> bool:
            conditions = ((cluster.get(path) or {}).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        wait_until(established, what=f"the {name} CRD")


@pytest.fixture(scope="session")
def monitoring_crds(k8s_cluster: LocalCluster, chart_tools_dir: Path) -> None:
    """The ServiceMonitor CRD, so the API server validates the chart's ServiceMonitors."""
    install_monitoring_crds(k8s_cluster, chart_tools_dir)
