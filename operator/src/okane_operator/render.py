"""Pure functions from a CacheWarmJob to the objects it owns: its CronJob and run-now Jobs."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from okane_operator.model import (
    API_VERSION,
    CACHE_WARM_JOB_LABEL,
    GENERATION_ANNOTATION,
    KIND,
    MANAGED_BY,
    RUN_NOW_ANNOTATION,
    CacheWarmJobSpec,
    parse_spec,
)

# A CronJob's name leaves room for the 11 characters the controller appends to its Jobs' names.
CRONJOB_NAME_MAX = 52
JOB_NAME_MAX = 63
CONTAINER = "warm"

# `okane warm` prints a JSON summary as its last stdout line. The wrapper keeps the output in the
# log and leaves that line in the container's termination message, which the kubelet copies into
# the pod's status, where the operator reads it: the warm pod itself needs no API access at all.
# /tmp is an emptyDir; the root filesystem stays read-only.
WARM_WRAPPER = """\
{ "$@"; echo "$?" > /tmp/okane-warm.rc; } | tee /tmp/okane-warm.out
tail -n 1 /tmp/okane-warm.out > /dev/termination-log
exit "$(cat /tmp/okane-warm.rc)"
"""

DEFAULT_RESOURCES: Mapping[str, Any] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}


@dataclass(frozen=True)
class WarmDefaults:
    """What the operator's configuration contributes to every warm Job."""

    image: str
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "okane-warm"
    env_secret: str | None = None
    env_config_map: str | None = None


def _bounded_name(base: str, limit: int, suffix: str = "") -> str:
    """``base + suffix`` if it fits in ``limit``, else a truncated base with a stable hash."""
    if len(base) + len(suffix) <= limit:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 1
    return f"{base[:keep].rstrip('-.')}-{digest}{suffix}"


def cronjob_name(cache_warm_job: str) -> str:
    """The deterministic name of a CacheWarmJob's CronJob (a restart finds, never duplicates)."""
    return _bounded_name(f"okane-warm-{cache_warm_job}", CRONJOB_NAME_MAX)


def run_now_job_name(cronjob: str, value: str) -> str:
    """One Job name per run-now value: creating it twice is a conflict, not a second run."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return _bounded_name(cronjob, JOB_NAME_MAX, f"-now-{digest}")


def labels(cache_warm_job: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "okane-warm",
        "app.kubernetes.io/component": "cache-warm",
        "app.kubernetes.io/part-of": "okane",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        CACHE_WARM_JOB_LABEL: cache_warm_job,
    }


def warm_args(spec: CacheWarmJobSpec) -> list[str]:
    """The `okane warm` command line for a spec."""
    args = ["okane", "warm", "--targets", ",".join(spec.targets)]
    if spec.users is not None:
        args += ["--users", str(spec.users)]
    elif spec.active_within is not None:
        args += ["--active-within", spec.active_within]
    return args


def _container(spec: CacheWarmJobSpec, defaults: WarmDefaults) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image or defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "command": ["/bin/sh", "-c", WARM_WRAPPER, "okane-warm"],
        "args": warm_args(spec),
        "resources": dict(spec.resources or DEFAULT_RESOURCES),
        "terminationMessagePath": "/dev/termination-log",
        # If the wrapper dies before writing the summary, the log's tail explains why.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    env_from: list[dict[str, Any]] = []
    if defaults.env_config_map:
        env_from.append({"configMapRef": {"name": defaults.env_config_map}})
    if defaults.env_secret:
        env_from.append({"secretRef": {"name": defaults.env_secret}})
    if env_from:
        container["envFrom"] = env_from
    return container


def owner_reference(cache_warm_job: Mapping[str, Any]) -> dict[str, Any]:
    meta = cache_warm_job["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def render_cronjob(cache_warm_job: Mapping[str, Any], defaults: WarmDefaults) -> dict[str, Any]:
    """The CronJob a CacheWarmJob should own, complete, for server-side apply.

    Raises ``InvalidSpec`` for a spec that cannot run.
    """
    meta = cache_warm_job["metadata"]
    name = meta["name"]
    spec = parse_spec(cache_warm_job.get("spec") or {})
    common = labels(name)
    cron_spec: dict[str, Any] = {
        "schedule": spec.schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": spec.starting_deadline_seconds,
        "suspend": spec.suspend,
        "successfulJobsHistoryLimit": spec.successful_jobs_history_limit,
        "failedJobsHistoryLimit": spec.failed_jobs_history_limit,
        "jobTemplate": {
            "metadata": {"labels": common},
            "spec": {
                "backoffLimit": spec.backoff_limit,
                "activeDeadlineSeconds": spec.active_deadline_seconds,
                "template": {
                    "metadata": {"labels": common},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": defaults.service_account,
                        "automountServiceAccountToken": False,
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [_container(spec, defaults)],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            },
        },
    }
    if spec.time_zone:
        cron_spec["timeZone"] = spec.time_zone
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(name),
            "namespace": meta["namespace"],
            "labels": common,
            "annotations": {GENERATION_ANNOTATION: str(meta.get("generation", 0))},
            "ownerReferences": [owner_reference(cache_warm_job)],
        },
        "spec": cron_spec,
    }


def render_run_now_job(cronjob: Mapping[str, Any], value: str) -> dict[str, Any]:
    """A Job from the CronJob's template, as ``kubectl create job --from=cronjob/...`` makes it."""
    meta = cronjob["metadata"]
    template = cronjob["spec"]["jobTemplate"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": run_now_job_name(meta["name"], value),
            "namespace": meta["namespace"],
            "labels": dict(template.get("metadata", {}).get("labels") or {}),
            "annotations": {
                "cronjob.kubernetes.io/instantiate": "manual",
                RUN_NOW_ANNOTATION: value,
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template["spec"],
    }
