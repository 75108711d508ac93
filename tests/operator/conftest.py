"""Run okane-operator against the test cluster as its own service account, with the chart's RBAC."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from okane_core.localstack import free_port
from tests.k8s.cluster import LocalCluster, wait_until
from tests.k8s.fixtures import CHART, k8s_cluster, namespace

__all__ = ["k8s_cluster", "namespace"]

RELEASE = "okane"
OPERATOR_SA = f"{RELEASE}-operator"
WARM_SA = f"{RELEASE}-warm"


def chart_manifests(cluster: LocalCluster, namespace: str) -> list[dict[str, Any]]:
    """The chart's operator RBAC, service accounts and peering for a release in ``namespace``."""
    return cluster.helm_template(
        CHART,
        RELEASE,
        f"--namespace={namespace}",
        "--show-only=templates/operator-rbac.yaml",
        "--show-only=templates/operator-peering.yaml",
    )


def install_operator_rbac(
    cluster: LocalCluster,
    namespace: str,
    kubeconfig_path: Path,
    edit: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Path:
    """Apply the chart's RBAC (optionally edited) and return a kubeconfig for the operator's SA."""
    manifests = chart_manifests(cluster, namespace)
    if edit is not None:
        edit(manifests)
    cluster.apply(manifests)
    return cluster.service_account_kubeconfig(namespace, OPERATOR_SA, kubeconfig_path)


@dataclass
class RunningOperator:
    popen: subprocess.Popen[bytes]
    log: Path
    liveness_port: int
    metrics_port: int

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def operator_kubeconfig(k8s_cluster: LocalCluster, namespace: str, tmp_path: Path) -> Path:
    return install_operator_rbac(k8s_cluster, namespace, tmp_path / "operator.kubeconfig")


@pytest.fixture
def start_operator(
    namespace: str, operator_kubeconfig: Path, tmp_path: Path
) -> Iterator[Callable[..., RunningOperator]]:
    """Start okane-operator processes (as its service account); all are stopped afterwards."""
    started: list[RunningOperator] = []

    def start(kubeconfig: Path | None = None) -> RunningOperator:
        liveness, metrics = free_port(), free_port()
        log = tmp_path / f"operator-{len(started)}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig or operator_kubeconfig),
            "OKANE_OPERATOR_NAMESPACES": namespace,
            "OKANE_OPERATOR_BIND_ADDRESS": "127.0.0.1",
            "OKANE_OPERATOR_LIVENESS_PORT": str(liveness),
            "OKANE_OPERATOR_METRICS_PORT": str(metrics),
            "OKANE_OPERATOR_WARM_SERVICE_ACCOUNT": WARM_SA,
            "OKANE_OPERATOR_WARM_IMAGE": "okane:test",
        }
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "okane_operator"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        operator = RunningOperator(popen, log, liveness, metrics)
        started.append(operator)

        def up() -> bool:
            if popen.poll() is not None:
                raise AssertionError(f"okane-operator exited:\n{operator.output()[-3000:]}")
            return operator.healthy()

        wait_until(up, timeout=90, what="okane-operator liveness")
        return operator

    yield start
    for operator in started:
        operator.stop()
    for operator in started:
        # Left in the test's report when it fails; harmless when it passes.
        sys.stderr.write(f"--- {operator.log.name} ---\n{operator.output()[-4000:]}\n")
