"""Process settings, read from ``OKANE_*`` environment variables.

Nothing here runs at import time: the app factories, the CLI and the tests call
:func:`load_settings` and pass the result down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# 1 rupee = 100 paise. Limits are in paise, like every amount in OKANE.
RUPEE = 100


class Settings(BaseSettings):
    """Everything an OKANE process can be configured with."""

    model_config = SettingsConfigDict(env_prefix="OKANE_", extra="ignore", frozen=True)

    # Connections. When unset, the local stack (see okane_core.localstack) provides them.
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db"
    )
    redis_url: str | None = Field(default=None, description="redis://host:port/db")
    data_dir: Path = Field(
        default=Path(".okane"), description="where the local stack keeps its data and logs"
    )
    local_postgres_port: PositiveInt = 54329
    local_redis_port: PositiveInt = 63799

    # Database behaviour.
    db_pool_size: PositiveInt = 10
    db_max_overflow: int = Field(default=10, ge=0)
    lock_timeout_ms: PositiveInt = 2_000
    statement_timeout_ms: PositiveInt = 10_000
    max_retries: PositiveInt = 5

    # Money rules.
    currency: str = Field(default="INR", pattern=r"^[A-Z]{3}$")
    max_transaction_amount: PositiveInt = 1_00_000 * RUPEE
    daily_outgoing_limit: PositiveInt = 2_00_000 * RUPEE
    daily_topup_limit: PositiveInt = 2_00_000 * RUPEE
    welcome_credit: int = Field(default=0, ge=0, description="paise granted at sign-up")
    settlement_deadline_seconds: PositiveInt = 30 * 60
    idempotency_ttl_seconds: PositiveInt = 24 * 60 * 60

    # Services.
    user_api_host: str = "127.0.0.1"
    user_api_port: PositiveInt = 8000
    bank_webhook_host: str = "127.0.0.1"
    bank_webhook_port: PositiveInt = 8001
    bank_webhook_secret: SecretStr | None = None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
