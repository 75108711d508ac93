"""The CacheWarmJob CRD as the API server enforces it: defaults, validation, explain, columns."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.k8s.cluster import LocalCluster

pytestmark = pytest.mark.k8s


def cache_warm_job(name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "okane.dev/v1alpha1",
            "kind": "CacheWarmJob",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def test_defaults_are_filled_in_by_the_api_server(
    k8s_cluster: LocalCluster, namespace: str
) -> None:
    k8s_cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=cache_warm_job("plain"))

    stored = k8s_cluster.get(f"/apis/okane.dev/v1alpha1/namespaces/{namespace}/cachewarmjobs/plain")

    assert stored is not None
    assert stored["spec"]["schedule"] == "0 * * * *"
    assert stored["spec"]["targets"] == ["balances", "profiles", "contacts", "history"]
    assert stored["spec"]["suspend"] is False
    assert stored["spec"]["successfulJobsHistoryLimit"] == 3
    assert stored["spec"]["startingDeadlineSeconds"] == 300


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"schedule": "every hour"}, "spec.schedule"),
        ({"schedule": "61 * * * *"}, "spec.schedule"),
        ({"schedule": "0 * * * * *"}, "spec.schedule"),
        ({"targets": ["balances", "wallets"]}, "spec.targets[1]"),
        ({"targets": ["balances", "balances"]}, "spec.targets[1]"),
        ({"targets": []}, "spec.targets"),
        ({"users": -5}, "spec.users"),
        ({"users": 0}, "spec.users"),
        ({"users": 10, "activeWithin": "24h"}, "set users or activeWithin, not both"),
        ({"activeWithin": "a while"}, "spec.activeWithin"),
        ({"timeZone": "not a zone!"}, "spec.timeZone"),
        ({"successfulJobsHistoryLimit": -1}, "spec.successfulJobsHistoryLimit"),
        ({"resources": {"limits": {"memory": "lots"}}}, "spec.resources.limits.memory"),
        ({"suspend": "yes"}, "spec.suspend"),
    ],
)
def test_invalid_specs_are_rejected_by_the_api_server(
    k8s_cluster: LocalCluster, namespace: str, spec: dict[str, Any], complaint: str
) -> None:
    done = k8s_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=cache_warm_job("bad", **spec), check=False
    )

    assert done.returncode != 0
    assert "is invalid" in done.stderr
    assert complaint in done.stderr
    assert (
        k8s_cluster.get(f"/apis/okane.dev/v1alpha1/namespaces/{namespace}/cachewarmjobs/bad")
        is None
    )


def test_names_longer_than_a_label_value_are_rejected(
    k8s_cluster: LocalCluster, namespace: str
) -> None:
    done = k8s_cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=cache_warm_job("n" * 64), check=False
    )
    assert done.returncode != 0
    assert "at most 63 characters" in done.stderr


def test_kubectl_explain_documents_the_fields(k8s_cluster: LocalCluster) -> None:
    explained = k8s_cluster.kubectl("explain", "cwj.spec").stdout

    for field in (
        "schedule",
        "timeZone",
        "targets",
        "users",
        "activeWithin",
        "suspend",
        "image",
        "resources",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ):
        assert field in explained
    assert "five-field cron" in explained
    assert "okane.dev/run-now" in k8s_cluster.kubectl("explain", "cachewarmjobs").stdout
