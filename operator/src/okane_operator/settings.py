"""Operator settings, read from ``OKANE_OPERATOR_*`` environment variables (the chart sets them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PositiveInt, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """How the operator runs and what every warm Job gets unless its CacheWarmJob overrides it."""

    model_config = SettingsConfigDict(env_prefix="OKANE_OPERATOR_", extra="ignore", frozen=True)

    namespaces: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="namespaces to watch, comma-separated; empty means the operator's own",
    )
    warm_image: str = Field(
        default="okane:latest", description="image of warm Jobs without spec.image"
    )
    warm_image_pull_policy: str = "IfNotPresent"
    warm_service_account: str = Field(
        default="okane-warm", description="service account of warm pods (it has no API rights)"
    )
    warm_env_secret: str | None = Field(
        default=None, description="Secret whose keys become the warm container's environment"
    )
    warm_env_config_map: str | None = Field(
        default=None, description="ConfigMap whose keys become the warm container's environment"
    )
    peering_name: str = "okane-operator"
    peering_priority: int | None = Field(
        default=None,
        ge=0,
        description="this replica's peering priority; unset picks a random one, because Kopf "
        "pauses every replica when two live ones share a priority",
    )
    standalone: bool = Field(default=False, description="run without peering (one replica)")
    liveness_port: PositiveInt = 8080
    metrics_port: int = Field(default=9090, ge=0, description="Prometheus metrics; 0 disables")
    bind_address: str = "0.0.0.0"  # noqa: S104 - a pod serves probes and metrics on its own IP
    request_timeout_seconds: PositiveInt = 30

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
