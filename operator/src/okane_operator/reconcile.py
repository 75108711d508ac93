"""What the handlers do, against the API: converge the CronJob, start run-now Jobs, write status.

Every function here reads the current state and converges towards the rendered one, so running
it twice, or after a restart, changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, cast

import kopf

from okane_operator.kube import ApiError, JsonObject, KubeClient, namespaced
from okane_operator.metrics import Metrics
from okane_operator.model import (
    API_VERSION,
    CACHE_WARM_JOB_LABEL,
    PLURAL,
    RUN_NOW_ANNOTATION,
    InvalidSpec,
)
from okane_operator.render import (
    WarmDefaults,
    cronjob_name,
    render_cronjob,
    render_run_now_job,
)
from okane_operator.status import Problem, StatusUpdate, compute_status

log = logging.getLogger(__name__)

STATUS_ATTEMPTS = 5


@dataclass
class Operator:
    """What the handlers share: one API client, the Job defaults, the metrics."""

    kube: KubeClient
    defaults: WarmDefaults
    metrics: Metrics


def _target(body: Mapping[str, Any]) -> kopf.Body:
    """The CacheWarmJob as an Event's involved object."""
    return kopf.Body(cast(kopf.RawBody, dict(body)))


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    owners = obj.get("metadata", {}).get("ownerReferences") or []
    return any(owner.get("uid") == uid and owner.get("controller") for owner in owners)


def _paths(namespace: str, name: str) -> tuple[str, str]:
    return (
        namespaced(API_VERSION, namespace, PLURAL, name),
        namespaced("batch/v1", namespace, "cronjobs", cronjob_name(name)),
    )


async def _fail(
    operator: Operator, body: Mapping[str, Any], problem: Problem, *, retry_after: float | None
) -> NoReturn:
    """Record a problem in the status and as an Event, then tell Kopf whether to retry."""
    operator.metrics.errors.labels(problem.reason).inc()
    operator.metrics.reconciles.labels("error").inc()
    meta = body["metadata"]
    kopf.warn(_target(body), reason=problem.reason, message=problem.message)
    try:
        await refresh_status(operator, meta["namespace"], meta["name"], problem=problem)
    except ApiError as error:
        log.warning("could not record %s in the status: %s", problem.reason, error)
    if retry_after is None:
        raise kopf.PermanentError(problem.message)
    raise kopf.TemporaryError(problem.message, delay=retry_after)


def _problem(error: ApiError) -> tuple[Problem, float | None]:
    """How an API refusal shows in the status, and when (if ever) to try again."""
    if error.status == 422:
        return Problem("InvalidSpec", f"the CronJob was refused: {error.message}"), None
    if error.status in {401, 403}:
        return Problem("Forbidden", f"the operator may not do this: {error.message}"), 60
    return Problem("ApiError", str(error)), 10 if error.retryable else 60


async def reconcile(operator: Operator, body: Mapping[str, Any]) -> None:
    """Converge the CronJob with the spec, start a run-now Job if asked, refresh the status."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
    _, cronjob_path = _paths(namespace, name)
    try:
        desired = render_cronjob(body, operator.defaults)
    except InvalidSpec as error:
        await _fail(operator, body, Problem("InvalidSpec", str(error)), retry_after=None)
    try:
        existing = await operator.kube.get(cronjob_path)
        if existing is not None and not _owned_by(existing, uid):
            problem = Problem(
                "CronJobConflict",
                f"CronJob {desired['metadata']['name']} exists and is not owned by this "
                "CacheWarmJob; delete or rename it",
            )
            await _fail(operator, body, problem, retry_after=300)
        applied = await operator.kube.apply(cronjob_path, desired)
        before = (existing or {}).get("metadata", {}).get("resourceVersion")
        if existing is None:
            kopf.info(
                _target(body),
                reason="CronJobCreated",
                message=f"created CronJob {applied['metadata']['name']}",
            )
        elif applied["metadata"]["resourceVersion"] != before:
            kopf.info(
                _target(body),
                reason="CronJobUpdated",
                message=f"updated CronJob {applied['metadata']['name']}",
            )
        handled = await _run_now(operator, body, applied)
        await refresh_status(operator, namespace, name, run_now=handled)
    except ApiError as error:
        problem, retry_after = _problem(error)
        await _fail(operator, body, problem, retry_after=retry_after)
    operator.metrics.reconciles.labels("ok").inc()


async def _run_now(operator: Operator, body: Mapping[str, Any], cronjob: JsonObject) -> str | None:
    """Start one Job for a new ``okane.dev/run-now`` value; returns the value if it was new."""
    value: str | None = (body["metadata"].get("annotations") or {}).get(RUN_NOW_ANNOTATION)
    if not value or value == (body.get("status") or {}).get("lastRunNow"):
        return None
    job = render_run_now_job(cronjob, value)
    path = namespaced("batch/v1", cronjob["metadata"]["namespace"], "jobs")
    try:
        await operator.kube.create(path, job)
    except ApiError as error:
        if error.status != 409:
            raise
        # Its deterministic name exists: this value was handled before a restart.
        return value
    operator.metrics.run_now.inc()
    kopf.info(
        _target(body),
        reason="RunNow",
        message=f"started Job {job['metadata']['name']} for run-now {value!r}",
    )
    return value


async def refresh_status(
    operator: Operator,
    namespace: str,
    name: str,
    *,
    problem: Problem | None = None,
    run_now: str | None = None,
) -> StatusUpdate | None:
    """Recompute the status from the cluster and write it if it changed.

    The write carries the resourceVersion it was computed from; a concurrent write makes it
    conflict, and it is recomputed from fresh reads.
    """
    path, cronjob_path = _paths(namespace, name)
    selector = f"{CACHE_WARM_JOB_LABEL}={name}"
    for _ in range(STATUS_ATTEMPTS):
        body = await operator.kube.get(path)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        cronjob = await operator.kube.get(cronjob_path)
        if cronjob is not None and not _owned_by(cronjob, body["metadata"]["uid"]):
            cronjob = None
        jobs: list[JsonObject] = []
        pods: list[JsonObject] = []
        if cronjob is not None:
            listed = await operator.kube.list(
                namespaced("batch/v1", namespace, "jobs"), label_selector=selector
            )
            jobs = [job for job in listed if _owned_by(job, cronjob["metadata"]["uid"])]
            pods = await operator.kube.list(
                namespaced("v1", namespace, "pods"), label_selector=selector
            )
        update = compute_status(
            cache_warm_job=body,
            cronjob=cronjob,
            jobs=jobs,
            pods=pods,
            now=datetime.now(UTC),
            problem=problem,
            run_now=run_now,
        )
        if update.status == body.get("status"):
            return update
        patch = {
            "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
            "status": update.status,
        }
        try:
            await operator.kube.merge_patch(f"{path}/status", patch)
        except ApiError as error:
            if error.status == 409:
                continue
            raise
        for run in update.new_runs:
            result = "succeeded" if run.succeeded else "failed"
            operator.metrics.record_run(namespace, name, run)
            post = kopf.info if run.succeeded else kopf.warn
            post(
                _target(body),
                reason=f"Run{result.capitalize()}",
                message=f"{run.job_name}: {run.message or 'ok'}",
            )
        return update
    log.warning(
        "status of %s/%s kept changing under us; the next event will retry", namespace, name
    )
    return None
