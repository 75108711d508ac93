"""``okane-operator``: run the CacheWarmJob operator (in a pod, or against a kubeconfig)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import kopf

from okane_operator import handlers
from okane_operator.settings import OperatorSettings

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def watched_namespaces(settings: OperatorSettings) -> list[str]:
    """The configured namespaces, else the operator's own (the Role grants no more than that)."""
    if settings.namespaces:
        return list(settings.namespaces)
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return [SERVICE_ACCOUNT_NAMESPACE.read_text().strip()]
    return ["default"]


def main() -> None:
    settings = OperatorSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    assert handlers.__name__  # imported for its registrations
    kopf.run(
        standalone=settings.standalone,
        peering_name=settings.peering_name,
        priority=(
            settings.peering_priority
            if settings.peering_priority is not None
            else secrets.randbelow(2**31)
        ),
        namespaces=watched_namespaces(settings),
        liveness_endpoint=f"http://{settings.bind_address}:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
