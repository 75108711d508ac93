"""Status computed from a CacheWarmJob's CronJob, Jobs and pods (pure; no cluster)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from okane_core.app.warming import WarmSummary
from okane_operator.model import GENERATION_ANNOTATION
from okane_operator.status import Problem, compute_status, parse_summary

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SUMMARY = {
    "targets": {"balances": 1000, "profiles": 990},
    "written": {"balances": 40, "profiles": 0},
    "users": 1000,
    "seconds": 1.5,
}


def cwj(generation: int = 2, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "hourly", "namespace": "ns", "uid": "u", "generation": generation},
        "spec": {"schedule": "0 * * * *", **spec},
        "status": status or {},
    }


def cronjob(generation: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "okane-warm-hourly",
            "uid": "c",
            "annotations": {GENERATION_ANNOTATION: str(generation)},
        },
        "spec": {"schedule": "0 * * * *"},
        "status": status,
    }


def job(name: str, result: str | None, finished: str = "2026-11-26T11:00:30Z") -> dict[str, Any]:
    conditions = []
    status: dict[str, Any] = {"startTime": "2026-11-26T11:00:00Z"}
    if result == "Complete":
        conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": finished})
        status["completionTime"] = finished
    elif result == "Failed":
        conditions.append(
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "lastTransitionTime": finished,
            }
        )
    status["conditions"] = conditions
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-26T11:00:00Z",
        },
        "status": status,
    }


def pod(job_name: str, message: str, finished: str = "2026-11-26T11:00:29Z") -> dict[str, Any]:
    return {
        "metadata": {"ownerReferences": [{"uid": f"uid-{job_name}"}]},
        "status": {
            "containerStatuses": [
                {
                    "name": "warm",
                    "state": {"terminated": {"message": message, "finishedAt": finished}},
                }
            ]
        },
    }


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_up_to_date_cronjob_without_runs_is_ready() -> None:
    update = compute_status(cache_warm_job=cwj(), cronjob=cronjob(), jobs=[], pods=[], now=NOW)

    status = update.status
    assert status["observedGeneration"] == 2
    assert status["cronJobName"] == "okane-warm-hourly"
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Scheduled")
    assert ready["lastTransitionTime"] == "2026-11-26T12:00:00Z"
    assert condition(status, "LastRunSucceeded")["status"] == "Unknown"
    assert "lastRun" not in status
    assert update.new_runs == []


def test_cronjob_from_an_older_generation_is_not_ready_yet() -> None:
    status = compute_status(
        cache_warm_job=cwj(generation=3), cronjob=cronjob(generation=2), jobs=[], pods=[], now=NOW
    ).status

    assert status["observedGeneration"] == 2
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "Reconciled")["reason"] == "Pending"


def test_a_problem_is_reported_for_the_current_generation_and_survives_a_refresh() -> None:
    first = compute_status(
        cache_warm_job=cwj(generation=3),
        cronjob=cronjob(generation=2),
        jobs=[],
        pods=[],
        now=NOW,
        problem=Problem("InvalidSpec", "unknown time zone Mars/Olympus"),
    ).status
    assert first["observedGeneration"] == 3
    ready = condition(first, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "Mars/Olympus" in ready["message"]

    # A later refresh (a Job event) without the problem at hand keeps reporting it.
    again = compute_status(
        cache_warm_job=cwj(generation=3, status=first),
        cronjob=cronjob(generation=2),
        jobs=[],
        pods=[],
        now=NOW,
    ).status
    assert condition(again, "Ready")["reason"] == "InvalidSpec"


def test_a_successful_run_reports_what_it_warmed() -> None:
    done = job("okane-warm-hourly-1", "Complete")
    update = compute_status(
        cache_warm_job=cwj(),
        cronjob=cronjob(lastScheduleTime="2026-11-26T11:00:00Z"),
        jobs=[done],
        pods=[pod("okane-warm-hourly-1", "warming...\n" + json.dumps(SUMMARY))],
        now=NOW,
    )

    status = update.status
    assert status["lastRun"] == {
        "jobName": "okane-warm-hourly-1",
        "result": "Succeeded",
        "trigger": "Scheduled",
        "startTime": "2026-11-26T11:00:00Z",
        "completionTime": "2026-11-26T11:00:30Z",
        "targets": {"balances": 1000, "profiles": 990},
        "written": {"balances": 40, "profiles": 0},
        "users": 1000,
        "durationSeconds": 1.5,
    }
    assert status["lastSuccessfulTime"] == "2026-11-26T11:00:30Z"
    assert status["lastScheduleTime"] == "2026-11-26T11:00:00Z"
    assert condition(status, "LastRunSucceeded")["status"] == "True"
    assert "balances=1000" in condition(status, "LastRunSucceeded")["message"]
    assert condition(status, "Ready")["status"] == "True"
    assert [run.job_name for run in update.new_runs] == ["okane-warm-hourly-1"]

    # Seen again, the same run is not new any more.
    again = compute_status(
        cache_warm_job=cwj(status=status),
        cronjob=cronjob(),
        jobs=[done],
        pods=[pod("okane-warm-hourly-1", json.dumps(SUMMARY))],
        now=NOW,
    )
    assert again.new_runs == []
    assert again.status == status


def test_a_failed_last_run_makes_the_resource_not_ready_with_its_error() -> None:
    failed = job("okane-warm-hourly-2", "Failed", finished="2026-11-26T11:30:00Z")
    status = compute_status(
        cache_warm_job=cwj(),
        cronjob=cronjob(),
        jobs=[job("okane-warm-hourly-1", "Complete"), failed],
        pods=[
            pod("okane-warm-hourly-1", json.dumps(SUMMARY)),
            pod("okane-warm-hourly-2", "Traceback ...\nredis.exceptions.ConnectionError: refused"),
        ],
        now=NOW,
    ).status

    assert status["lastRun"]["result"] == "Failed"
    assert "ConnectionError: refused" in status["lastRun"]["message"]
    assert "BackoffLimitExceeded" in status["lastRun"]["message"]
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "LastRunFailed")
    assert "ConnectionError" in ready["message"]
    # The earlier success still counts as the last success.
    assert status["lastSuccessfulTime"] == "2026-11-26T11:00:30Z"


def test_running_jobs_are_listed_and_history_outlives_deleted_jobs() -> None:
    previous = compute_status(
        cache_warm_job=cwj(),
        cronjob=cronjob(),
        jobs=[job("j1", "Complete")],
        pods=[pod("j1", json.dumps(SUMMARY))],
        now=NOW,
    ).status

    # j1 was removed by the history limit; j2 is running.
    status = compute_status(
        cache_warm_job=cwj(status=previous),
        cronjob=cronjob(),
        jobs=[job("j2", None)],
        pods=[],
        now=NOW,
    ).status

    assert status["activeJobs"] == ["j2"]
    assert status["lastRun"]["jobName"] == "j1"
    assert status["lastSuccessfulTime"] == previous["lastSuccessfulTime"]


def test_condition_transition_time_moves_only_when_the_status_changes() -> None:
    first = compute_status(cache_warm_job=cwj(), cronjob=cronjob(), jobs=[], pods=[], now=NOW)
    later = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    same = compute_status(
        cache_warm_job=cwj(status=first.status), cronjob=cronjob(), jobs=[], pods=[], now=later
    )
    assert condition(same.status, "Ready")["lastTransitionTime"] == "2026-11-26T12:00:00Z"

    changed = compute_status(
        cache_warm_job=cwj(generation=5, status=first.status),
        cronjob=cronjob(),
        jobs=[],
        pods=[],
        now=later,
    )
    assert condition(changed.status, "Ready")["lastTransitionTime"] == "2026-11-26T13:00:00Z"


def test_run_now_value_is_remembered() -> None:
    first = compute_status(
        cache_warm_job=cwj(), cronjob=cronjob(), jobs=[], pods=[], now=NOW, run_now="v1"
    ).status
    assert first["lastRunNow"] == "v1"
    kept = compute_status(
        cache_warm_job=cwj(status=first), cronjob=cronjob(), jobs=[], pods=[], now=NOW
    ).status
    assert kept["lastRunNow"] == "v1"


def test_the_line_okane_warm_prints_is_understood() -> None:
    # Exactly what `okane warm` echoes last (okane_core.cli.warm_command).
    printed = json.dumps(
        WarmSummary(
            targets={"balances": 7, "history": 5},
            written={"balances": 2, "history": 5},
            users=7,
            seconds=0.25,
        ).as_dict(),
        sort_keys=True,
    )

    assert parse_summary(printed) == {
        "targets": {"balances": 7, "history": 5},
        "written": {"balances": 2, "history": 5},
        "users": 7,
        "seconds": 0.25,
    }


def test_summary_is_the_last_line_and_must_have_the_contract_shape() -> None:
    assert parse_summary("log line\n" + json.dumps(SUMMARY) + "\n") == {
        "targets": {"balances": 1000, "profiles": 990},
        "written": {"balances": 40, "profiles": 0},
        "users": 1000,
        "seconds": 1.5,
    }
    assert parse_summary('{"targets": {"history": 3}, "seconds": 0.5}') == {
        "targets": {"history": 3},
        "seconds": 0.5,
    }
    assert (
        parse_summary('{"targets": {"balances": 1}, "written": {"x": "y"}, "seconds": 1}') is None
    )
    assert parse_summary(json.dumps(SUMMARY) + "\nlater line") is None
    assert parse_summary('{"targets": {"balances": "many"}, "seconds": 1}') is None
    assert parse_summary('{"targets": {}}') is None
    assert parse_summary("") is None
    assert parse_summary(None) is None
