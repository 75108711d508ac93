"""Kopf handlers for CacheWarmJob resources. Thin: the work is in ``reconcile``.

Importing this module registers the handlers with Kopf's default registry.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from okane_operator.kube import ApiError, KubeClient
from okane_operator.metrics import Metrics
from okane_operator.model import CACHE_WARM_JOB_LABEL, GROUP, KOPF_PREFIX, PLURAL, VERSION
from okane_operator.reconcile import Operator, reconcile, refresh_status
from okane_operator.render import WarmDefaults
from okane_operator.settings import OperatorSettings

log = logging.getLogger(__name__)


def _login(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    """In a pod, its service account; elsewhere, the kubeconfig (``KUBECONFIG``)."""
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
        settings=settings
    )
    if info is None:
        raise kopf.LoginError("no service account token and no kubeconfig")
    return info


def _operator(memo: kopf.Memo) -> Operator:
    operator = memo.get("operator")
    if not isinstance(operator, Operator):
        raise kopf.TemporaryError("the operator is still starting", delay=1)
    return operator


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    return _login(settings)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = OperatorSettings()
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    # Serve the watched namespaces and the resources present at startup; no cluster-wide
    # list/watch of namespaces and CRDs, so the operator needs no ClusterRole at all.
    settings.scanning.disabled = True
    settings.peering.name = config.peering_name
    settings.peering.mandatory = not config.standalone
    settings.posting.level = logging.INFO
    settings.networking.request_timeout = config.request_timeout_seconds
    settings.watching.server_timeout = 300
    metrics = Metrics()
    if config.metrics_port:
        metrics.serve(config.metrics_port, config.bind_address)
    memo["operator"] = Operator(
        kube=KubeClient(lambda: _login(settings), timeout=config.request_timeout_seconds),
        defaults=WarmDefaults(
            image=config.warm_image,
            image_pull_policy=config.warm_image_pull_policy,
            service_account=config.warm_service_account,
            env_secret=config.warm_env_secret,
            env_config_map=config.warm_env_config_map,
        ),
        metrics=metrics,
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    operator = memo.get("operator")
    if isinstance(operator, Operator):
        operator.metrics.stop()
        await operator.kube.aclose()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def converge(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Spec, suspend or run-now changed (or the operator started): converge everything."""
    await reconcile(_operator(memo), body)


@kopf.on.event("batch", "v1", "cronjobs", labels={CACHE_WARM_JOB_LABEL: kopf.PRESENT})
@kopf.on.event("batch", "v1", "jobs", labels={CACHE_WARM_JOB_LABEL: kopf.PRESENT})
async def owned_changed(
    labels: kopf.Labels, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """A CronJob scheduled a run or a Job finished: the owner's status follows."""
    if not namespace:
        return
    operator = _operator(memo)
    try:
        await refresh_status(operator, namespace, labels[CACHE_WARM_JOB_LABEL])
    except ApiError as error:
        # Event handlers are not retried; the next change of the Job or CronJob tries again.
        operator.metrics.errors.labels("StatusRefresh").inc()
        log.warning("could not refresh the status of %s: %s", labels[CACHE_WARM_JOB_LABEL], error)
