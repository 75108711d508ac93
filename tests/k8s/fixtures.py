"""Pytest fixtures for tests that need a Kubernetes API server (marker ``k8s``).

Import the fixtures into a conftest (``from tests.k8s.fixtures import *``). One control plane
serves the whole session; each test gets a namespace of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from tests.k8s.cluster import ROOT, LocalCluster, toolchain, wait_until

CHART = ROOT / "charts" / "okane"
REPORT = ROOT / ".okane" / "test-reports" / "k8s-cluster.json"

__all__ = ["CHART", "k8s_cluster", "namespace"]


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[LocalCluster]:
    """etcd + kube-apiserver + kube-controller-manager with the chart's CRDs installed."""
    workdir = ROOT / ".okane" / "k8s-test" / str(os.getpid())
    shutil.rmtree(workdir, ignore_errors=True)
    with LocalCluster(workdir, toolchain()) as cluster:
        cluster.kubectl("apply", "-f", str(CHART / "crds"))
        cluster.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/cachewarmjobs.okane.dev",
            "crd/kopfpeerings.kopf.dev",
        )
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        versions = cluster.kubectl("version", "-o", "json").stdout
        REPORT.write_text(
            json.dumps(
                {
                    "startup_seconds": round(cluster.startup_seconds, 2),
                    "server": json.loads(versions)["serverVersion"]["gitVersion"],
                    "binaries": str(cluster.bin_dir),
                },
                indent=2,
            )
        )
        print(f"\nkube-apiserver ready in {cluster.startup_seconds:.1f} s ({REPORT})")
        yield cluster
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def namespace(k8s_cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace, deleted (with everything in it) after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    k8s_cluster.kubectl("create", "namespace", name)
    wait_until(
        lambda: k8s_cluster.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
        what=f"the default service account in {name}",
    )
    yield name
    k8s_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
