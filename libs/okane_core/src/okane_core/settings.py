"""Process settings, read from ``OKANE_*`` environment variables.

Nothing here runs at import time: the app factories, the CLI and the tests call
:func:`load_settings` and pass the result down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, SecretStr
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
    batch_transfers: bool = Field(
        default=True,
        description="concurrent transfers of one process leave for PostgreSQL together, one "
        "statement and one commit per batch",
    )
    max_batch: PositiveInt = Field(default=256, le=10_000, description="transfers per batch")

    # Money rules.
    currency: str = Field(default="INR", pattern=r"^[A-Z]{3}$")
    max_transaction_amount: PositiveInt = 1_00_000 * RUPEE
    daily_outgoing_limit: PositiveInt = 2_00_000 * RUPEE
    payee_lookups_per_window: NonNegativeInt = Field(
        default=30,
        description="payees outside one's contacts (or nobody) a user may pay or look up per "
        "window, on every path (API transfers, the web app's look-up); 0: no limit (load "
        "tests only)",
    )
    payee_lookup_window_seconds: PositiveInt = 10 * 60
    daily_topup_limit: PositiveInt = 2_00_000 * RUPEE
    welcome_credit: int = Field(default=0, ge=0, description="paise granted at sign-up")
    settlement_deadline_seconds: PositiveInt = 30 * 60
    idempotency_ttl_seconds: PositiveInt = 24 * 60 * 60

    # Cache.
    cache_enabled: bool = Field(default=True, description="serve reads from Redis when possible")
    cache_ttl_seconds: PositiveInt = Field(default=600, description="lifetime of cached values")
    cache_tombstone_ttl_seconds: PositiveInt = Field(
        default=1800, description="lifetime of invalidation markers (longer than values)"
    )
    cache_lease_ms: int = Field(
        default=500,
        ge=40,
        le=10_000,
        description="trust lease L: a process serves from Redis only within L of its last "
        "renewal from PostgreSQL (renewed every L/4); a write whose invalidation Redis did not "
        "confirm is answered L late",
    )
    cache_pending_limit: PositiveInt = Field(
        default=1000,
        description="users with unconfirmed invalidations beyond which a process serves nothing "
        "from Redis until the outbox is drained",
    )

    # Services.
    user_api_host: str = "127.0.0.1"
    user_api_port: PositiveInt = 8000
    user_api_workers: PositiveInt = Field(
        default=2, description="uvicorn worker processes of user-api (okane up; the chart's own)"
    )
    bank_webhook_host: str = "127.0.0.1"
    bank_webhook_port: PositiveInt = 8001
    bank_webhook_secret: SecretStr | None = Field(
        default=None,
        description="whsec_... secret(s) of the bank's Standard Webhooks signatures; several "
        "space-separated secrets are accepted while keys rotate",
    )
    bank_webhook_url: str = Field(
        default="http://127.0.0.1:8001/webhooks/bank",
        description="where the bank simulator (okane bank) delivers callbacks",
    )
    bank_simulator: bool = Field(
        default=False,
        description="development only: bank-webhook serves a simulated bank's confirmation "
        "pages at /simulator, and the web app's Add money sends people there",
    )
    bank_simulator_url: str | None = Field(
        default=None,
        description="where browsers reach the simulator's pages (default: the origin of "
        "bank_webhook_url + /simulator)",
    )
    verify_contacts: Literal["required", "off"] = Field(
        default="required",
        description="required: only a verified phone or email finds a payee; off (load tests, "
        "demos): any does. Either way nothing unverified gains a role or a Google link",
    )
    code_lifetime_seconds: PositiveInt = Field(
        default=600, description="how long a one-time code (verification, reset) works"
    )
    code_attempts: PositiveInt = Field(
        default=5, description="wrong tries after which a one-time code stops working"
    )
    codes_per_hour: PositiveInt = Field(
        default=5, description="one-time codes a user (or, for resets, an account) may ask for"
    )
    notification_sender: Literal["mailbox", "webhook"] = Field(
        default="mailbox",
        description="mailbox: notifications stay in the database, shown by the development "
        "mailbox; webhook: each is POSTed, signed, to notification_webhook_url",
    )
    notification_webhook_url: str | None = Field(
        default=None, description="the SMS and email gateway's endpoint (webhook sender)"
    )
    notification_webhook_secret: SecretStr | None = Field(
        default=None, description="whsec_... key that signs notification webhooks"
    )
    dev_mailbox: bool = Field(
        default=False,
        description="development only: user-api shows every notification at /dev/mailbox",
    )
    expiry_sweep_seconds: PositiveInt = Field(
        default=30,
        description="how often bank-webhook sets aside overdue top-ups and withdrawals as "
        "unknown and asks the bank about them",
    )
    bank_status_url: str | None = Field(
        default=None,
        description="the bank's status inquiry, with {reference} in it (GET, answers JSON "
        '{"status": "succeeded" | "failed" | "pending" | "not_found"}); default with the '
        "simulator on: the simulator's; unset otherwise (unknown payments then wait for the "
        "bank's late callback)",
    )

    # Authentication (user-api).
    jwt_secret: SecretStr | None = Field(
        default=None, description="HMAC key for access tokens (32+ bytes of randomness)"
    )
    access_token_seconds: PositiveInt = 15 * 60
    refresh_token_seconds: PositiveInt = 30 * 24 * 60 * 60
    refresh_retry_seconds: float = Field(
        default=30,
        ge=0,
        le=300,
        description="a refresh retried with the previous refresh token within this long of "
        "its rotation (its answer was lost) gets the same new token instead of ending the "
        "session",
    )
    login_attempts_per_account: PositiveInt = Field(
        default=5,
        description="failed logins per account from one client address per window before "
        "that address gets 429 for that account (other addresses are not affected)",
    )
    login_failures_per_account: PositiveInt = Field(
        default=50,
        description="failed logins per account from all addresses per window before "
        "addresses that never signed in to it get 429; its owner's known addresses still may",
    )
    login_known_address_days: PositiveInt = Field(
        default=30, description="how long a successful login makes its address known"
    )
    login_attempts_per_address: PositiveInt = Field(
        default=30, description="login attempts per client address per window before 429"
    )
    login_window_seconds: PositiveInt = 15 * 60
    streams_per_user: PositiveInt = Field(
        default=5, description="open event streams per user per user-api process before 429"
    )
    signups_per_address: PositiveInt = Field(
        default=10, description="sign-ups per client address per hour before 429"
    )
    max_body_bytes: PositiveInt = 64 * 1024

    # Google sign-in (OpenID Connect).
    oidc_issuer: str | None = Field(default=None, description="e.g. https://accounts.google.com")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="user-api's external base URL"
    )
    session_secret: SecretStr | None = Field(
        default=None, description="signs the short-lived cookie that carries OIDC state"
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
