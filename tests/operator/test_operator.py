"""okane-operator against a real kube-apiserver and kube-controller-manager.

The operator runs as a subprocess authenticated as its service account, bound by exactly the
chart's RBAC. There is no kubelet: where a run must finish, the test writes the pod's status
through the pods/status subresource the way a kubelet would, and the real Job controller turns
that into the Job's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from okane_operator.model import CACHE_WARM_JOB_LABEL, RUN_NOW_ANNOTATION
from okane_operator.render import cronjob_name, run_now_job_name
from tests.k8s.cluster import LocalCluster, wait_until
from tests.operator.conftest import RunningOperator, install_operator_rbac

pytestmark = pytest.mark.k8s

StartOperator = Callable[..., RunningOperator]
# The last line `okane warm` prints (okane_core.app.warming.WarmSummary.as_dict()).
SUMMARY = {
    "targets": {"balances": 1000, "profiles": 1000},
    "written": {"balances": 120, "profiles": 0},
    "users": 1000,
    "seconds": 1.23,
}


def cwj_path(namespace: str, name: str = "") -> str:
    base = f"/apis/okane.dev/v1alpha1/namespaces/{namespace}/cachewarmjobs"
    return f"{base}/{name}" if name else base


def apply_cwj(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> None:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    manifest = {
        "apiVersion": "okane.dev/v1alpha1",
        "kind": "CacheWarmJob",
        "metadata": metadata,
        "spec": spec,
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(manifest))


def cwj(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    body = cluster.get(cwj_path(namespace, name))
    assert body is not None
    return body


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in (body.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return dict(item)
    return {}


def wait_ready(
    cluster: LocalCluster, namespace: str, name: str, reason: str = "Scheduled"
) -> dict[str, Any]:
    """The CacheWarmJob once its status reflects its current generation with Ready=True."""

    def ready() -> dict[str, Any] | None:
        body = cwj(cluster, namespace, name)
        status = body.get("status") or {}
        ok = (
            status.get("observedGeneration") == body["metadata"]["generation"]
            and condition(body, "Ready").get("status") == "True"
            and condition(body, "Ready").get("reason") == reason
        )
        return body if ok else None

    result: dict[str, Any] = wait_until(ready, timeout=90, what=f"{name} Ready ({reason})")
    return result


def cronjobs(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = cluster.request(
        "GET",
        f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
        params={"labelSelector": f"{CACHE_WARM_JOB_LABEL}={name}"},
    )
    listed.raise_for_status()
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def jobs(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = cluster.request(
        "GET",
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        params={"labelSelector": f"{CACHE_WARM_JOB_LABEL}={name}"},
    )
    listed.raise_for_status()
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def the_cronjob(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    body = cluster.get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{cronjob_name(name)}")
    assert body is not None
    return body


def handled(cluster: LocalCluster, namespace: str, name: str, needle: str) -> bool:
    """Whether the operator has handled a version of the resource containing ``needle``."""
    annotations = cwj(cluster, namespace, name)["metadata"].get("annotations") or {}
    return needle in annotations.get("operator.okane.dev/last-handled-configuration", "")


def event_reasons(cluster: LocalCluster, namespace: str, selector: str) -> list[str]:
    reasons = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        selector,
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout
    return reasons.split()


def finish_pod(
    cluster: LocalCluster, namespace: str, job_name: str, *, exit_code: int, message: str
) -> None:
    """Stand in for the kubelet: the Job's pod ran the warm container, which ended so."""
    pods_path = f"/api/v1/namespaces/{namespace}/pods"

    def the_pod() -> dict[str, Any] | None:
        listed = cluster.request("GET", pods_path, params={"labelSelector": f"job-name={job_name}"})
        listed.raise_for_status()
        items = listed.json()["items"]
        return items[0] if items else None

    pod = wait_until(the_pod, timeout=90, what=f"the Job controller's pod for {job_name}")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "startTime": now,
        "containerStatuses": [
            {
                "name": "warm",
                "image": "okane:test",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": "Completed" if exit_code == 0 else "Error",
                        "message": message,
                        "startedAt": now,
                        "finishedAt": now,
                    }
                },
            }
        ],
    }
    response = cluster.request(
        "PATCH",
        f"{pods_path}/{pod['metadata']['name']}/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response.raise_for_status()


def test_a_cachewarmjob_becomes_an_owned_cronjob_and_reports_ready(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator()
    apply_cwj(
        k8s_cluster,
        namespace,
        "hourly",
        schedule="*/10 * * * *",
        targets=["profiles", "balances"],
        users=1000,
    )

    body = wait_ready(k8s_cluster, namespace, "hourly")
    cronjob = the_cronjob(k8s_cluster, namespace, "hourly")

    assert cronjob["spec"]["schedule"] == "*/10 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["startingDeadlineSeconds"] == 300
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "okane",
        "warm",
        "--targets",
        "balances,profiles",
        "--users",
        "1000",
    ]
    assert container["image"] == "okane:test"
    [owner] = cronjob["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "CacheWarmJob",
        "hourly",
        body["metadata"]["uid"],
    )
    assert owner["controller"] is True
    assert cronjob["metadata"]["labels"][CACHE_WARM_JOB_LABEL] == "hourly"
    assert cronjob["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "okane-operator"
    assert body["status"]["cronJobName"] == cronjob["metadata"]["name"]

    table = k8s_cluster.kubectl("get", "cwj", "-n", namespace).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "SCHEDULE",
        "SUSPENDED",
        "READY",
        "LAST",
        "SCHEDULE",
        "LAST",
        "SUCCESS",
        "AGE",
    ]
    assert table[1].split()[:8] == ["hourly", "*/10", "*", "*", "*", "*", "false", "True"]

    # Events and metrics are written just after the status; wait for them, do not race them.
    wait_until(
        lambda: (
            "CronJobCreated" in event_reasons(k8s_cluster, namespace, "involvedObject.name=hourly")
        ),
        what="a CronJobCreated event",
    )
    wait_until(
        lambda: 'okane_operator_reconciles_total{result="ok"}' in operator.metrics(),
        what="the reconcile counter",
    )


def test_spec_changes_are_followed_by_the_cronjob(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    start_operator()
    apply_cwj(k8s_cluster, namespace, "nightly", schedule="0 3 * * *")
    wait_ready(k8s_cluster, namespace, "nightly")

    apply_cwj(
        k8s_cluster,
        namespace,
        "nightly",
        schedule="30 4 * * *",
        targets=["contacts"],
        activeWithin="24h",
        timeZone="Asia/Kolkata",
    )
    body = wait_ready(k8s_cluster, namespace, "nightly")
    cronjob = the_cronjob(k8s_cluster, namespace, "nightly")
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert cronjob["spec"]["schedule"] == "30 4 * * *"
    assert cronjob["spec"]["timeZone"] == "Asia/Kolkata"
    assert container["args"] == ["okane", "warm", "--targets", "contacts", "--active-within", "24h"]
    assert body["status"]["observedGeneration"] == 2

    k8s_cluster.kubectl(
        "patch",
        "cwj",
        "nightly",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"suspend": true}}',
    )
    wait_ready(k8s_cluster, namespace, "nightly", reason="Suspended")
    assert the_cronjob(k8s_cluster, namespace, "nightly")["spec"]["suspend"] is True
    assert len(cronjobs(k8s_cluster, namespace, "nightly")) == 1


def test_an_unknown_time_zone_is_reported_not_retried_forever(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    start_operator()
    apply_cwj(k8s_cluster, namespace, "martian", timeZone="Mars/Olympus_Mons")

    def refused() -> dict[str, Any] | None:
        ready = condition(cwj(k8s_cluster, namespace, "martian"), "Ready")
        return ready if ready.get("reason") == "InvalidSpec" else None

    ready = wait_until(refused, timeout=90, what="InvalidSpec in Ready")
    assert ready["status"] == "False"
    assert "Mars/Olympus_Mons" in ready["message"]
    assert cronjobs(k8s_cluster, namespace, "martian") == []


def test_deleting_the_cachewarmjob_deletes_what_it_owns(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    start_operator()
    apply_cwj(k8s_cluster, namespace, "doomed", annotations={RUN_NOW_ANNOTATION: "1"})
    wait_ready(k8s_cluster, namespace, "doomed")
    wait_until(lambda: jobs(k8s_cluster, namespace, "doomed"), what="the run-now Job")

    k8s_cluster.kubectl("delete", "cwj", "doomed", "-n", namespace, "--wait=true")

    # The garbage collector follows the ownerReferences: CronJob, then its Jobs.
    wait_until(lambda: not cronjobs(k8s_cluster, namespace, "doomed"), what="CronJob collected")
    wait_until(lambda: not jobs(k8s_cluster, namespace, "doomed"), what="Jobs collected")


def test_run_now_starts_exactly_one_job_per_annotation_value(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator()
    apply_cwj(k8s_cluster, namespace, "manual", suspend=True)
    wait_ready(k8s_cluster, namespace, "manual", reason="Suspended")
    assert jobs(k8s_cluster, namespace, "manual") == []

    k8s_cluster.kubectl("annotate", "cwj", "manual", "-n", namespace, f"{RUN_NOW_ANNOTATION}=first")
    wait_until(
        lambda: cwj(k8s_cluster, namespace, "manual")["status"].get("lastRunNow") == "first",
        what="run-now 'first' handled",
    )
    [job] = jobs(k8s_cluster, namespace, "manual")
    assert job["metadata"]["name"] == run_now_job_name(cronjob_name("manual"), "first")
    assert job["metadata"]["annotations"][RUN_NOW_ANNOTATION] == "first"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("CronJob", cronjob_name("manual"))

    # Any other change, with the same run-now value, starts nothing.
    k8s_cluster.kubectl("label", "cwj", "manual", "-n", namespace, "touched=yes")
    wait_until(lambda: handled(k8s_cluster, namespace, "manual", "touched"), what="label handled")
    assert len(jobs(k8s_cluster, namespace, "manual")) == 1

    k8s_cluster.kubectl(
        "annotate", "--overwrite", "cwj", "manual", "-n", namespace, f"{RUN_NOW_ANNOTATION}=second"
    )
    wait_until(
        lambda: cwj(k8s_cluster, namespace, "manual")["status"].get("lastRunNow") == "second",
        what="run-now 'second' handled",
    )
    names = sorted(job["metadata"]["name"] for job in jobs(k8s_cluster, namespace, "manual"))
    assert names == sorted(run_now_job_name(cronjob_name("manual"), v) for v in ("first", "second"))
    wait_until(
        lambda: "okane_operator_run_now_jobs_total 2.0" in operator.metrics(),
        what="the run-now counter at 2",
    )


def test_run_results_reach_the_status(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator()
    apply_cwj(
        k8s_cluster, namespace, "warm", backoffLimit=0, annotations={RUN_NOW_ANNOTATION: "ok"}
    )
    wait_ready(k8s_cluster, namespace, "warm")
    ok_job = run_now_job_name(cronjob_name("warm"), "ok")

    finish_pod(
        k8s_cluster, namespace, ok_job, exit_code=0, message="warming\n" + json.dumps(SUMMARY)
    )

    def last_run(result: str, job: str) -> dict[str, Any] | None:
        body = cwj(k8s_cluster, namespace, "warm")
        run = (body.get("status") or {}).get("lastRun") or {}
        return body if (run.get("result"), run.get("jobName")) == (result, job) else None

    body = wait_until(lambda: last_run("Succeeded", ok_job), timeout=90, what="a successful run")
    status = body["status"]
    assert status["lastRun"]["targets"] == {"balances": 1000, "profiles": 1000}
    assert status["lastRun"]["written"] == {"balances": 120, "profiles": 0}
    assert status["lastRun"]["users"] == 1000
    assert status["lastRun"]["durationSeconds"] == 1.23
    assert status["lastRun"]["trigger"] == "Manual"
    assert status["lastSuccessfulTime"]
    assert status["lastScheduleTime"]
    assert condition(body, "Ready")["status"] == "True"
    assert condition(body, "LastRunSucceeded")["status"] == "True"

    k8s_cluster.kubectl(
        "annotate", "--overwrite", "cwj", "warm", "-n", namespace, f"{RUN_NOW_ANNOTATION}=broken"
    )
    bad_job = run_now_job_name(cronjob_name("warm"), "broken")
    finish_pod(
        k8s_cluster,
        namespace,
        bad_job,
        exit_code=1,
        message="redis.exceptions.ConnectionError: Connection refused",
    )

    body = wait_until(lambda: last_run("Failed", bad_job), timeout=90, what="a failed run")
    ready = condition(body, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "LastRunFailed")
    assert "ConnectionError: Connection refused" in ready["message"]
    assert body["status"]["lastSuccessfulTime"] == status["lastSuccessfulTime"]

    def counted(result: str) -> bool:
        sample = f'okane_operator_warm_runs_total{{result="{result}",trigger="manual"}} 1.0'
        return sample in operator.metrics()

    wait_until(lambda: counted("succeeded") and counted("failed"), what="one run of each result")
    job = f'cachewarmjob="warm",cachewarmjob_namespace="{namespace}"'
    exported = operator.metrics()
    assert f"okane_warm_job_last_keys_written{{{job}}} 120.0" in exported
    assert f"okane_warm_job_last_duration_seconds{{{job}}} 1.23" in exported
    assert f"okane_warm_job_failures_total{{{job}}} 1.0" in exported
    success = datetime.fromisoformat(status["lastSuccessfulTime"].replace("Z", "+00:00"))
    last = f"okane_warm_job_last_success_timestamp_seconds{{{job}}} "
    (line,) = [line for line in exported.splitlines() if line.startswith(last)]
    assert float(line.removeprefix(last)) == success.timestamp()
    wait_until(
        lambda: (
            "RunFailed"
            in event_reasons(k8s_cluster, namespace, "involvedObject.name=warm,type=Warning")
        ),
        what="a RunFailed warning event",
    )


def test_restarts_and_replicas_converge_without_duplicates(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator
) -> None:
    first = start_operator()
    apply_cwj(
        k8s_cluster,
        namespace,
        "steady",
        schedule="0 1 * * *",
        annotations={RUN_NOW_ANNOTATION: "a"},
    )
    wait_ready(k8s_cluster, namespace, "steady")
    wait_until(
        lambda: cwj(k8s_cluster, namespace, "steady")["status"].get("lastRunNow") == "a",
        what="run-now 'a' handled",
    )
    first.stop()

    # While no operator runs: the spec changes and a run is asked for.
    apply_cwj(
        k8s_cluster,
        namespace,
        "steady",
        schedule="0 2 * * *",
        annotations={RUN_NOW_ANNOTATION: "b"},
    )

    # Two replicas come up; peering lets one of them act.
    start_operator()
    start_operator()
    wait_ready(k8s_cluster, namespace, "steady")
    wait_until(
        lambda: cwj(k8s_cluster, namespace, "steady")["status"].get("lastRunNow") == "b",
        what="run-now 'b' handled",
    )

    assert [c["spec"]["schedule"] for c in cronjobs(k8s_cluster, namespace, "steady")] == [
        "0 2 * * *"
    ]
    names = sorted(job["metadata"]["name"] for job in jobs(k8s_cluster, namespace, "steady"))
    assert names == sorted(run_now_job_name(cronjob_name("steady"), v) for v in ("a", "b"))
    peering = f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/okane-operator"
    wait_until(
        lambda: len((k8s_cluster.get(peering) or {}).get("status") or {}) >= 2,
        what="both replicas in the KopfPeering",
    )


def test_the_operator_is_bound_by_the_charts_rbac(
    k8s_cluster: LocalCluster, namespace: str, start_operator: StartOperator, tmp_path: Any
) -> None:
    def without_cronjob_create(manifests: list[dict[str, Any]]) -> None:
        for manifest in manifests:
            if manifest["kind"] == "Role":
                for rule in manifest["rules"]:
                    if "cronjobs" in rule["resources"]:
                        rule["verbs"].remove("create")

    kubeconfig = install_operator_rbac(
        k8s_cluster, namespace, tmp_path / "weak.kubeconfig", edit=without_cronjob_create
    )
    start_operator(kubeconfig)
    apply_cwj(k8s_cluster, namespace, "denied")

    def forbidden() -> dict[str, Any] | None:
        ready = condition(cwj(k8s_cluster, namespace, "denied"), "Ready")
        return ready if ready.get("reason") == "Forbidden" else None

    ready = wait_until(forbidden, timeout=90, what="Forbidden in Ready")
    assert ready["status"] == "False"
    assert "cronjobs" in ready["message"]
    assert cronjobs(k8s_cluster, namespace, "denied") == []

    # And the RBAC grants nothing beyond the namespace and the verbs it lists.
    sa = f"system:serviceaccount:{namespace}:okane-operator"
    for verb, resource, where in [
        ("delete", "cronjobs", namespace),
        ("get", "secrets", namespace),
        ("create", "cronjobs", "default"),
    ]:
        answer = k8s_cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", where, f"--as={sa}", check=False
        ).stdout.strip()
        assert answer == "no", (verb, resource, where)
