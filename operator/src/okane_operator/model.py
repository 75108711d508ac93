"""The CacheWarmJob resource: its names, labels and a typed view of its spec.

The API server validates and defaults the spec against the CRD schema
(``charts/okane/crds/cachewarmjobs.okane.dev.yaml``); ``parse_spec`` reads the result and still
refuses anything the schema should have caught, so a spec that slipped past an older CRD fails
loudly instead of producing a broken CronJob.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "okane.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "CacheWarmJob"
PLURAL = "cachewarmjobs"

# Labels on everything the operator creates; the first one finds a resource's CronJob and Jobs.
CACHE_WARM_JOB_LABEL = "okane.dev/cache-warm-job"
MANAGED_BY = "okane-operator"
# The generation of the CacheWarmJob that the CronJob was rendered from.
GENERATION_ANNOTATION = "okane.dev/generation"
# Setting this annotation to a value not used before starts one run at once.
RUN_NOW_ANNOTATION = "okane.dev/run-now"
# Kopf's own bookkeeping (handler progress, last handled spec). Kept apart from ``okane.dev/`` on
# purpose: Kopf leaves every annotation under its storage prefix out of the diff it reacts to,
# and ``okane.dev/run-now`` must stay in it.
KOPF_PREFIX = "operator.okane.dev"

TARGETS = ("balances", "profiles", "contacts", "history")
DEFAULT_SCHEDULE = "0 * * * *"

# What `okane warm --active-within` accepts (with a unit always, as the CRD requires).
_DURATION = re.compile(r"^[1-9][0-9]*[smhdw]$")


class InvalidSpec(ValueError):
    """The spec cannot be turned into a CronJob; retrying will not help."""


@dataclass(frozen=True)
class CacheWarmJobSpec:
    """What one CacheWarmJob asks for, with the CRD's defaults."""

    schedule: str = DEFAULT_SCHEDULE
    time_zone: str | None = None
    targets: tuple[str, ...] = TARGETS
    users: int | None = None
    active_within: str | None = None
    suspend: bool = False
    image: str | None = None
    resources: Mapping[str, Any] | None = None
    starting_deadline_seconds: int = 300
    active_deadline_seconds: int = 3600
    backoff_limit: int = 1
    successful_jobs_history_limit: int = 3
    failed_jobs_history_limit: int = 3


def _int(spec: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidSpec(f"spec.{key} must be an integer >= {minimum}, not {value!r}")
    return value


def parse_spec(spec: Mapping[str, Any]) -> CacheWarmJobSpec:
    """A typed spec from the resource's ``spec``; raises InvalidSpec on what cannot run."""
    schedule = spec.get("schedule", DEFAULT_SCHEDULE)
    if not isinstance(schedule, str) or not schedule.strip():
        raise InvalidSpec("spec.schedule must be a cron expression")
    targets = tuple(spec.get("targets") or TARGETS)
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown or len(set(targets)) != len(targets):
        raise InvalidSpec(f"spec.targets must be distinct names from {TARGETS}, not {targets}")
    users = spec.get("users")
    active_within = spec.get("activeWithin")
    if users is not None and active_within is not None:
        raise InvalidSpec("set spec.users or spec.activeWithin, not both")
    if users is not None:
        users = _int(spec, "users", 0, 1)
    if active_within is not None and not (
        isinstance(active_within, str) and _DURATION.match(active_within)
    ):
        raise InvalidSpec(f"spec.activeWithin must be a duration like 24h, not {active_within!r}")
    resources = spec.get("resources")
    return CacheWarmJobSpec(
        schedule=schedule,
        time_zone=spec.get("timeZone"),
        # Keep the order of TARGETS so that reordering the list does not change the CronJob.
        targets=tuple(target for target in TARGETS if target in targets),
        users=users,
        active_within=active_within,
        suspend=bool(spec.get("suspend", False)),
        image=spec.get("image"),
        resources=dict(resources) if resources else None,
        starting_deadline_seconds=_int(spec, "startingDeadlineSeconds", 300, 10),
        active_deadline_seconds=_int(spec, "activeDeadlineSeconds", 3600, 1),
        backoff_limit=_int(spec, "backoffLimit", 1, 0),
        successful_jobs_history_limit=_int(spec, "successfulJobsHistoryLimit", 3, 0),
        failed_jobs_history_limit=_int(spec, "failedJobsHistoryLimit", 3, 0),
    )
