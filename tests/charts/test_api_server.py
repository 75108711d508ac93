"""The rendered chart against a real kube-apiserver (Kubernetes v1.37, the targeted version).

Server-side dry-run sends every object through the same decoding, defaulting, validation
(including the CRDs' schemas, strict field validation) and admission as a real apply, without
storing it. A fresh control plane then goes through helm install, upgrade and uninstall.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import install_monitoring_crds
from tests.charts.helm import CHART, VALUES, helm_binary, render
from tests.k8s.cluster import ROOT, LocalCluster, toolchain, wait_until

pytestmark = pytest.mark.k8s


def dry_run(cluster: LocalCluster, objects: list[dict[str, Any]]) -> str:
    done = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(objects),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_crds_are_accepted_and_established(k8s_cluster: LocalCluster) -> None:
    out = k8s_cluster.kubectl("apply", "--dry-run=server", "-f", str(CHART / "crds")).stdout
    assert "cachewarmjobs.okane.dev" in out and "kopfpeerings.kopf.dev" in out
    for name in ("cachewarmjobs.okane.dev", "kopfpeerings.kopf.dev"):
        crd = k8s_cluster.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        assert crd is not None
        established = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
        assert established and established[0]["status"] == "True"


@pytest.mark.parametrize("values", list(VALUES))
@pytest.mark.usefixtures("monitoring_crds")
def test_every_rendered_object_passes_server_side_validation(
    k8s_cluster: LocalCluster, namespace: str, values: str
) -> None:
    objects = render(values, "cacheWarmJob.enabled=true", namespace=namespace).objects
    out = dry_run(k8s_cluster, objects)
    for obj in objects:
        assert f"{obj['metadata']['name']} created (server dry run)" in out, obj["kind"]


@pytest.mark.usefixtures("monitoring_crds")
def test_the_api_server_refuses_what_the_chart_must_not_render(
    k8s_cluster: LocalCluster, namespace: str
) -> None:
    """The dry-run is a real check: a broken object from the chart would be refused."""
    objects = render("production", namespace=namespace).objects
    monitor = next(o for o in objects if o["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["prot"] = "http"  # a typo in a field name
    done = k8s_cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(monitor),
        check=False,
    )
    assert done.returncode != 0 and "prot" in done.stderr
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    policy["spec"]["egress"][0]["ports"][0]["protocol"] = "ICMP"
    done = k8s_cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(policy), check=False
    )
    assert done.returncode != 0 and "protocol" in done.stderr


# -- helm install / upgrade / uninstall on a control plane of its own ------------------------


@pytest.fixture(scope="module")
def fresh_cluster(chart_tools_dir: Path) -> Iterator[LocalCluster]:
    """No CRDs installed: the chart has to bring them."""
    workdir = ROOT / ".okane" / "k8s-test" / "helm-lifecycle"
    shutil.rmtree(workdir, ignore_errors=True)
    with LocalCluster(workdir, toolchain()) as cluster:
        install_monitoring_crds(cluster, chart_tools_dir)
        yield cluster
    shutil.rmtree(workdir, ignore_errors=True)


class Helm:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [helm_binary(), f"--kubeconfig={self.cluster.admin_kubeconfig}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *args: str) -> str:
        process = self.start(*args)
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out
        return out


def items(cluster: LocalCluster, path: str) -> list[dict[str, Any]]:
    body = cluster.get(path)
    return list((body or {}).get("items") or [])


def hook_pod(cluster: LocalCluster, namespace: str, job: str) -> dict[str, Any]:
    """The pod the Job controller made for Helm's hook Job (Helm is waiting on it)."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    pod: dict[str, Any] = wait_until(
        lambda: next(iter(items(cluster, f"{pods}?labelSelector=job-name%3D{job}")), None),
        timeout=90,
        what=f"the pod of the hook Job {job}",
    )
    return pod


def complete(cluster: LocalCluster, pod: dict[str, Any]) -> None:
    """Stand in for the kubelet: the hook's container ran `okane db upgrade` and exited 0."""
    pods = f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = cluster.request(
        "PATCH",
        f"{pods}/{pod['metadata']['name']}/status",
        json={
            "status": {
                "phase": "Succeeded",
                "startTime": now,
                "containerStatuses": [
                    {
                        "name": "migrations",
                        "image": pod["spec"]["containers"][0]["image"],
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": {
                            "terminated": {
                                "exitCode": 0,
                                "reason": "Completed",
                                "startedAt": now,
                                "finishedAt": now,
                            }
                        },
                    }
                ],
            }
        },
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()


def secret_data(cluster: LocalCluster, namespace: str, name: str) -> dict[str, str]:
    body = cluster.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    assert body is not None, f"Secret {name} is missing"
    return {k: base64.b64decode(v).decode() for k, v in body["data"].items()}


def test_install_upgrade_uninstall_with_the_in_repo_servers(fresh_cluster: LocalCluster) -> None:
    helm, ns = Helm(fresh_cluster), "okane-dev"
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/cachewarmjobs.okane.dev"
    assert fresh_cluster.get(crd) is None

    install = helm.start(
        "install", "okane", str(CHART), f"--namespace={ns}", "--create-namespace", "--timeout=3m"
    )
    # With the in-repo PostgreSQL the migration runs after the release's objects exist.
    pod = hook_pod(fresh_cluster, ns, "okane-migrations")
    assert pod["spec"]["containers"][0]["command"] == ["okane", "db", "upgrade"]
    assert items(fresh_cluster, f"/apis/apps/v1/namespaces/{ns}/statefulsets")
    complete(fresh_cluster, pod)
    out, _ = install.communicate(timeout=180)
    assert install.returncode == 0, out
    assert "api.okane.localhost" in out  # NOTES.txt

    assert fresh_cluster.get(crd) is not None, "the chart installs its CRD"
    secrets = secret_data(fresh_cluster, ns, "okane-app-secrets")
    connections = secret_data(fresh_cluster, ns, "okane-connections")
    assert len(secrets["OKANE_JWT_SECRET"]) >= 32

    # An upgrade migrates before the new pods roll: the hook runs while the old spec is live.
    upgrade = helm.start(
        "upgrade",
        "okane",
        str(CHART),
        f"--namespace={ns}",
        "--timeout=3m",
        "--set=userApi.env.OKANE_WELCOME_CREDIT=100",
    )
    pod = hook_pod(fresh_cluster, ns, "okane-migrations")
    deployment = f"/apis/apps/v1/namespaces/{ns}/deployments/okane-user-api"

    def env_names() -> set[str]:
        body = fresh_cluster.get(deployment) or {}
        container = body["spec"]["template"]["spec"]["containers"][0]
        return {e["name"] for e in container.get("env", [])}

    assert "OKANE_WELCOME_CREDIT" not in env_names()
    complete(fresh_cluster, pod)
    out, _ = upgrade.communicate(timeout=180)
    assert upgrade.returncode == 0, out
    assert "OKANE_WELCOME_CREDIT" in env_names()
    # Generated secrets survive upgrades (lookup), or sessions and the database password break.
    assert secret_data(fresh_cluster, ns, "okane-app-secrets") == secrets
    assert secret_data(fresh_cluster, ns, "okane-connections") == connections

    helm.run("uninstall", "okane", f"--namespace={ns}", "--wait")
    assert not items(fresh_cluster, f"/apis/apps/v1/namespaces/{ns}/deployments")
    assert fresh_cluster.get(crd) is not None, "uninstall keeps the CRD (and every CacheWarmJob)"
    # Kept for a reinstall over the retained volumes, which adopts them and their passwords.
    assert secret_data(fresh_cluster, ns, "okane-connections") == connections
    reinstall = helm.start("install", "okane", str(CHART), f"--namespace={ns}", "--timeout=3m")
    complete(fresh_cluster, hook_pod(fresh_cluster, ns, "okane-migrations"))
    out, _ = reinstall.communicate(timeout=180)
    assert reinstall.returncode == 0, out
    assert secret_data(fresh_cluster, ns, "okane-connections") == connections
    assert secret_data(fresh_cluster, ns, "okane-app-secrets") == secrets


def test_with_an_external_database_the_migration_runs_before_anything_else(
    fresh_cluster: LocalCluster,
) -> None:
    helm, ns = Helm(fresh_cluster), "okane-prod"
    install = helm.start(
        "install",
        "okane",
        str(CHART),
        f"--namespace={ns}",
        "--create-namespace",
        "--timeout=3m",
        *[f"--values={p}" for p in VALUES["production"]],
    )
    pod = hook_pod(fresh_cluster, ns, "okane-migrations")
    assert pod["spec"]["containers"][0]["image"] == "ghcr.io/okane-dev/okane-user-api:0.1.0"
    # Helm is waiting for the migration: nothing of the release exists yet.
    assert not items(fresh_cluster, f"/apis/apps/v1/namespaces/{ns}/deployments")
    assert not items(fresh_cluster, f"/api/v1/namespaces/{ns}/services")
    complete(fresh_cluster, pod)
    out, _ = install.communicate(timeout=180)
    assert install.returncode == 0, out
    assert items(fresh_cluster, f"/apis/apps/v1/namespaces/{ns}/deployments")
    assert items(fresh_cluster, f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors")
    assert items(fresh_cluster, f"/apis/okane.dev/v1alpha1/namespaces/{ns}/cachewarmjobs")
