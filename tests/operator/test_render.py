"""The CronJob and run-now Job rendered from a CacheWarmJob (pure; no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from okane_operator.model import CACHE_WARM_JOB_LABEL, GENERATION_ANNOTATION, InvalidSpec
from okane_operator.render import (
    CRONJOB_NAME_MAX,
    JOB_NAME_MAX,
    WarmDefaults,
    cronjob_name,
    render_cronjob,
    render_run_now_job,
    run_now_job_name,
)

DEFAULTS = WarmDefaults(image="okane:test", service_account="okane-warm", env_secret="okane-env")


def cwj(name: str = "hourly", generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "okane.dev/v1alpha1",
        "kind": "CacheWarmJob",
        "metadata": {"name": name, "namespace": "ns", "uid": "uid-1", "generation": generation},
        "spec": spec,
    }


def container(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [only] = pod["containers"]
    return dict(only)


def test_cronjob_carries_the_schedule_args_owner_and_labels() -> None:
    cronjob = render_cronjob(
        cwj(schedule="*/5 * * * *", targets=["profiles", "balances"], users=500), DEFAULTS
    )

    meta = cronjob["metadata"]
    assert meta["name"] == "okane-warm-hourly"
    assert meta["namespace"] == "ns"
    assert meta["labels"][CACHE_WARM_JOB_LABEL] == "hourly"
    assert meta["annotations"][GENERATION_ANNOTATION] == "1"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "okane.dev/v1alpha1",
            "kind": "CacheWarmJob",
            "name": "hourly",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = cronjob["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 300
    assert spec["suspend"] is False
    assert "timeZone" not in spec
    # Targets keep one canonical order, so reordering the list changes nothing.
    assert container(cronjob)["args"] == [
        "okane",
        "warm",
        "--targets",
        "balances,profiles",
        "--users",
        "500",
    ]
    pod_labels = spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert pod_labels[CACHE_WARM_JOB_LABEL] == "hourly"


def test_defaults_warm_every_target_and_leave_the_user_count_to_okane_warm() -> None:
    cronjob = render_cronjob(cwj(), DEFAULTS)

    assert cronjob["spec"]["schedule"] == "0 * * * *"
    assert container(cronjob)["args"] == [
        "okane",
        "warm",
        "--targets",
        "balances,profiles,contacts,history",
    ]
    assert container(cronjob)["image"] == "okane:test"
    assert container(cronjob)["envFrom"] == [{"secretRef": {"name": "okane-env"}}]


def test_overrides_reach_the_cronjob_and_its_pods() -> None:
    resources = {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    cronjob = render_cronjob(
        cwj(
            activeWithin="24h",
            suspend=True,
            timeZone="Asia/Kolkata",
            image="registry.local/okane:1.2",
            resources=resources,
            successfulJobsHistoryLimit=7,
            failedJobsHistoryLimit=2,
            backoffLimit=0,
            activeDeadlineSeconds=120,
        ),
        DEFAULTS,
    )

    spec = cronjob["spec"]
    assert spec["suspend"] is True
    assert spec["timeZone"] == "Asia/Kolkata"
    assert spec["successfulJobsHistoryLimit"] == 7
    assert spec["failedJobsHistoryLimit"] == 2
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120
    assert container(cronjob)["image"] == "registry.local/okane:1.2"
    assert container(cronjob)["resources"] == resources
    assert container(cronjob)["args"][-2:] == ["--active-within", "24h"]


def test_warm_pods_get_no_api_token_and_report_through_the_termination_message() -> None:
    cronjob = render_cronjob(cwj(), DEFAULTS)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]

    assert pod["serviceAccountName"] == "okane-warm"
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    warm = container(cronjob)
    assert warm["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert warm["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/dev/termination-log" in warm["command"][2]


@pytest.mark.parametrize(
    "spec",
    [
        {"targets": ["balances", "wallets"]},
        {"targets": ["balances", "balances"]},
        {"users": 0},
        {"users": -3},
        {"users": 10, "activeWithin": "1h"},
        {"activeWithin": "yesterday"},
        {"startingDeadlineSeconds": 1},
    ],
)
def test_specs_that_cannot_run_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec):
        render_cronjob(cwj(**spec), DEFAULTS)


def test_names_are_deterministic_and_fit_kubernetes_limits() -> None:
    long = "a" * 63
    assert cronjob_name(long) == cronjob_name(long)
    assert len(cronjob_name(long)) <= CRONJOB_NAME_MAX
    assert cronjob_name(long) != cronjob_name("a" * 62)
    assert run_now_job_name(cronjob_name(long), "1") != run_now_job_name(cronjob_name(long), "2")
    assert len(run_now_job_name(cronjob_name(long), "x" * 300)) <= JOB_NAME_MAX


def test_run_now_job_is_the_cronjob_template_owned_by_the_cronjob() -> None:
    cronjob = render_cronjob(cwj(users=10), DEFAULTS)
    cronjob["metadata"]["uid"] = "cron-uid"

    job = render_run_now_job(cronjob, "2026-11-26T10:00")

    assert job["metadata"]["name"] == run_now_job_name("okane-warm-hourly", "2026-11-26T10:00")
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["labels"][CACHE_WARM_JOB_LABEL] == "hourly"
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "CronJob",
        "okane-warm-hourly",
        "cron-uid",
        True,
    )
