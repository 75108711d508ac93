"""The one error tree of OKANE.

Every error carries a stable machine ``code``. The library never knows HTTP: each service maps
codes to statuses in one place. Database errors are translated once, in
:func:`okane_core.db.errors.translate_db_error`.
"""

from __future__ import annotations


class OkaneError(Exception):
    """Base of every error OKANE raises on purpose."""

    code = "okane_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(OkaneError):
    """The request is malformed or breaks a rule that does not depend on stored state."""

    code = "invalid_request"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"


class AmountOverLimit(InvalidRequest):
    code = "amount_over_limit"


class SelfTransfer(InvalidRequest):
    code = "self_transfer"


class CurrencyMismatch(InvalidRequest):
    code = "currency_mismatch"


class NotFound(OkaneError):
    code = "not_found"


class RecipientNotFound(NotFound):
    code = "recipient_not_found"


class TransactionNotFound(NotFound):
    code = "transaction_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class Conflict(OkaneError):
    """The request is valid but conflicts with stored state."""

    code = "conflict"


class DailyLimitExceeded(Conflict):
    code = "daily_limit_exceeded"


class InsufficientFunds(Conflict):
    """Raised only where a shortfall cannot be recorded as a failed transaction (reversals)."""

    code = "insufficient_funds"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class AlreadySettled(Conflict):
    code = "already_settled"


class SettlementExpired(Conflict):
    code = "settlement_expired"


class AmountMismatch(Conflict):
    code = "amount_mismatch"


class NotReversible(Conflict):
    code = "not_reversible"


class DuplicateUser(Conflict):
    code = "duplicate_user"


class Unavailable(OkaneError):
    """A transient condition: the caller may retry the same request later."""

    code = "unavailable"


class LockTimeout(Unavailable):
    code = "lock_timeout"


class StatementTimeout(Unavailable):
    code = "statement_timeout"


class RetryableConflict(Unavailable):
    """Serialization failure or deadlock that survived the bounded retries."""

    code = "retryable_conflict"


class AuthenticationFailed(OkaneError):
    """No valid credentials: missing, wrong, expired or revoked."""

    code = "unauthenticated"


class InvalidCredentials(AuthenticationFailed):
    code = "invalid_credentials"


class PermissionDenied(OkaneError):
    code = "forbidden"


class RateLimited(OkaneError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class WebhookRejected(OkaneError):
    """A bank callback whose signature, timestamp or headers do not verify."""

    code = "invalid_signature"
