"""Pure computation of a CacheWarmJob's status from what it owns.

The status is rebuilt from scratch on every change (level-based): the CronJob, its Jobs and their
pods, plus the previous status for what the cluster no longer holds (a Job removed by the history
limit still happened). Conditions follow the Kubernetes API conventions: each has a type, a
status, a machine reason, a message for people, the generation it reflects, and the time its
status last changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeGuard

from okane_operator.model import GENERATION_ANNOTATION, RUN_NOW_ANNOTATION
from okane_operator.render import CONTAINER

READY = "Ready"
RECONCILED = "Reconciled"
LAST_RUN_SUCCEEDED = "LastRunSucceeded"
MESSAGE_MAX = 1024


class Verdict(NamedTuple):
    """A condition's status, machine reason and message."""

    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Problem:
    """Why the CronJob could not be brought in line with the spec."""

    reason: str
    message: str


@dataclass(frozen=True)
class Run:
    """One finished warm run (a Job that completed or failed)."""

    job_name: str
    succeeded: bool
    trigger: str
    start_time: str | None
    completion_time: str
    message: str = ""
    summary: Mapping[str, Any] | None = None

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "jobName": self.job_name,
            "result": "Succeeded" if self.succeeded else "Failed",
            "trigger": self.trigger,
            "completionTime": self.completion_time,
        }
        if self.start_time:
            status["startTime"] = self.start_time
        if self.message:
            status["message"] = self.message
        if self.summary is not None:
            status["targets"] = dict(self.summary["targets"])
            if "written" in self.summary:
                status["written"] = dict(self.summary["written"])
            if "users" in self.summary:
                status["users"] = self.summary["users"]
            status["durationSeconds"] = self.summary["seconds"]
        return status


@dataclass(frozen=True)
class StatusUpdate:
    status: dict[str, Any]
    new_runs: list[Run] = field(default_factory=list)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _latest(*values: str | None) -> str | None:
    """The latest of some RFC 3339 timestamps (None when there are none)."""
    present = [(parsed, value) for value in values if (parsed := _parse_time(value))]
    return max(present)[1] if present else None


def _counts(value: object) -> TypeGuard[dict[str, int]]:
    """A mapping of target name to an integer count."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in value.items()
    )


def parse_summary(message: str | None) -> dict[str, Any] | None:
    """The JSON summary `okane warm` prints last, or None if ``message`` does not end with one.

    Shape: ``{"targets": {"balances": 1000, ...}, "written": {"balances": 40, ...},
    "users": 1000, "seconds": 1.23}`` (``written`` and ``users`` may be absent).
    """
    lines = [line for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        summary = json.loads(lines[-1])
    except ValueError:
        return None
    if not isinstance(summary, dict):
        return None
    targets = summary.get("targets")
    written = summary.get("written", {})
    seconds = summary.get("seconds")
    users = summary.get("users")
    if not (_counts(targets) and _counts(written)):
        return None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    result: dict[str, Any] = {"targets": dict(targets), "seconds": float(seconds)}
    if written:
        result["written"] = dict(written)
    if isinstance(users, int) and not isinstance(users, bool):
        result["users"] = users
    return result


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _termination(pods: Sequence[Mapping[str, Any]], job_uid: str) -> Mapping[str, Any] | None:
    """The warm container's last termination among the Job's pods."""
    terminations = [
        terminated
        for pod in pods
        if any(
            o.get("uid") == job_uid for o in pod.get("metadata", {}).get("ownerReferences") or []
        )
        for container in pod.get("status", {}).get("containerStatuses") or []
        if container.get("name") == CONTAINER
        and (terminated := (container.get("state") or {}).get("terminated"))
    ]
    return max(
        terminations,
        key=lambda t: _parse_time(t.get("finishedAt")) or datetime.min.replace(tzinfo=UTC),
        default=None,
    )


def finished_run(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Run | None:
    """The outcome of a Job, or None while it is still running."""
    meta = job.get("metadata", {})
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    if complete is None and failed is None:
        return None
    status = job.get("status", {})
    termination = _termination(pods, meta.get("uid", ""))
    text = str((termination or {}).get("message") or "")
    summary = parse_summary(text)
    manual = (meta.get("annotations") or {}).get("cronjob.kubernetes.io/instantiate") == "manual"
    trigger = (
        "Manual"
        if manual or RUN_NOW_ANNOTATION in (meta.get("annotations") or {})
        else ("Scheduled")
    )
    finished = (
        status.get("completionTime")
        or (complete or failed or {}).get("lastTransitionTime")
        or meta.get("creationTimestamp")
    )
    if complete is not None:
        message = "" if summary else "the run finished without a summary line"
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        reason = (failed or {}).get("reason") or "Failed"
        detail = lines[-1] if lines else (failed or {}).get("message") or "no termination message"
        message = f"failed ({reason}): {detail}"
    return Run(
        job_name=meta.get("name", ""),
        succeeded=complete is not None,
        trigger=trigger,
        start_time=status.get("startTime"),
        completion_time=str(finished),
        message=message[:MESSAGE_MAX],
        summary=summary,
    )


def _set_condition(
    previous: Sequence[Mapping[str, Any]],
    kind: str,
    verdict: Verdict,
    *,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """A condition whose lastTransitionTime moves only when its status changes."""
    before = next((c for c in previous if c.get("type") == kind), None)
    return {
        "type": kind,
        "status": verdict.status,
        "reason": verdict.reason,
        "message": verdict.message[:MESSAGE_MAX],
        "observedGeneration": generation,
        "lastTransitionTime": (
            before["lastTransitionTime"]
            if before is not None and before.get("status") == verdict.status
            else format_time(now)
        ),
    }


def _runs(
    previous: Mapping[str, Any],
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> tuple[list[Run], list[Run], dict[str, Any] | None]:
    """All finished runs, those newer than the previous status's lastRun, and the new lastRun.

    The previous lastRun is kept when its Job is gone (removed by the history limit).
    """
    runs = sorted(
        (run for job in jobs if (run := finished_run(job, pods)) is not None),
        key=lambda run: (_parse_time(run.completion_time), run.job_name),
    )
    before: Mapping[str, Any] = previous.get("lastRun") or {}
    seen = _parse_time(before.get("completionTime"))
    new = [
        run
        for run in runs
        if seen is None
        or (_parse_time(run.completion_time), run.job_name) > (seen, before.get("jobName", ""))
    ]
    if new or (runs and runs[-1].job_name == before.get("jobName")):
        return runs, new, runs[-1].as_status()
    return runs, new, dict(before) or None


def _reconciled(
    problem: Problem | None,
    cronjob: Mapping[str, Any] | None,
    generation: int,
    previous: Mapping[str, Any],
) -> tuple[Verdict, int]:
    """Whether the CronJob reflects the current spec, and the generation it reflects."""
    annotations = (cronjob or {}).get("metadata", {}).get("annotations") or {}
    rendered = int(annotations.get(GENERATION_ANNOTATION) or 0)
    if problem is not None:
        return Verdict("False", problem.reason, problem.message), generation
    if cronjob is not None and rendered >= generation:
        name, schedule = cronjob["metadata"]["name"], cronjob["spec"]["schedule"]
        return Verdict("True", "CronJobUpToDate", f"CronJob {name} runs on {schedule!r}"), rendered
    observed = rendered if cronjob is not None else int(previous.get("observedGeneration", 0))
    # A problem recorded for this generation stands until the CronJob catches up.
    kept = next((c for c in previous.get("conditions") or [] if c.get("type") == RECONCILED), None)
    if kept and kept.get("status") == "False" and kept.get("observedGeneration") == generation:
        return Verdict("False", kept["reason"], kept["message"]), generation
    return Verdict("False", "Pending", "the CronJob is being brought up to date"), observed


def _last_run(last_run: Mapping[str, Any] | None) -> Verdict:
    if last_run is None:
        return Verdict("Unknown", "NoRunYet", "no run has finished yet")
    if last_run["result"] == "Succeeded":
        counts = ", ".join(f"{k}={v}" for k, v in sorted((last_run.get("targets") or {}).items()))
        return Verdict(
            "True", "Succeeded", f"{last_run['jobName']} warmed {counts or 'nothing reported'}"
        )
    return Verdict("False", "Failed", f"{last_run['jobName']} {last_run.get('message', '')}")


def _ready(reconciled: Verdict, last: Verdict, *, suspended: bool) -> Verdict:
    """Ready: the schedule is in place and the latest run did not fail."""
    if reconciled.status != "True":
        return reconciled
    if last.status == "False":
        return Verdict("False", "LastRunFailed", last.message)
    if suspended:
        return Verdict("True", "Suspended", "the schedule is suspended; run-now still works")
    return Verdict("True", "Scheduled", reconciled.message)


def compute_status(
    *,
    cache_warm_job: Mapping[str, Any],
    cronjob: Mapping[str, Any] | None,
    jobs: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
    problem: Problem | None = None,
    run_now: str | None = None,
) -> StatusUpdate:
    """The status a CacheWarmJob should have, and the runs finished since the previous one."""
    generation = int(cache_warm_job["metadata"].get("generation", 0))
    previous: Mapping[str, Any] = cache_warm_job.get("status") or {}
    suspended = bool((cache_warm_job.get("spec") or {}).get("suspend"))
    cron_status = (cronjob or {}).get("status") or {}

    runs, new_runs, last_run = _runs(previous, jobs, pods)
    reconciled, observed = _reconciled(problem, cronjob, generation, previous)
    last = _last_run(last_run)
    verdicts = {
        READY: _ready(reconciled, last, suspended=suspended),
        RECONCILED: reconciled,
        LAST_RUN_SUCCEEDED: last,
    }
    old_conditions = previous.get("conditions") or []
    finished = {run.job_name for run in runs}
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "conditions": [
            _set_condition(old_conditions, kind, verdict, generation=generation, now=now)
            for kind, verdict in verdicts.items()
        ],
        "activeJobs": sorted(
            job["metadata"]["name"] for job in jobs if job["metadata"]["name"] not in finished
        ),
    }
    optional = {
        "cronJobName": (cronjob or {}).get("metadata", {}).get("name")
        or previous.get("cronJobName"),
        "lastScheduleTime": _latest(
            previous.get("lastScheduleTime"),
            cron_status.get("lastScheduleTime"),
            *(job.get("metadata", {}).get("creationTimestamp") for job in jobs),
        ),
        "lastSuccessfulTime": _latest(
            previous.get("lastSuccessfulTime"),
            cron_status.get("lastSuccessfulTime"),
            *(run.completion_time for run in runs if run.succeeded),
        ),
        "lastRun": last_run,
        "lastRunNow": run_now if run_now is not None else previous.get("lastRunNow"),
    }
    status.update({key: value for key, value in optional.items() if value is not None})
    return StatusUpdate(status=status, new_runs=new_runs)
