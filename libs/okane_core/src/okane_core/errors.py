"""The one error tree of OKANE.

Every error class carries a stable machine ``code`` and a transport-neutral ``category``: what
kind of refusal it is, said without HTTP. Each category has one base class here, and every error
of that category descends from it, so ``except Conflict`` catches exactly the conflicts. The
library never knows HTTP: ``okane_web.problems`` maps categories to statuses in one table.
Database errors are translated once, in :func:`okane_core.db.errors.translate_db_error`.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class Category(enum.StrEnum):
    """What kind of refusal an error is, whatever transport carries it."""

    UNCLASSIFIED = "unclassified"  # names no more precise kind (OkaneError itself, invariants)
    INVALID = "invalid"  # malformed, or breaks a rule that does not depend on stored state
    UNAUTHENTICATED = "unauthenticated"  # no valid credentials or signature
    FORBIDDEN = "forbidden"  # the caller is known but may not do this
    NOT_FOUND = "not_found"  # no such object (or not the caller's)
    CONFLICT = "conflict"  # collides with stored state: a key, a settled event, a duplicate
    REFUSED = "refused"  # a rule on stored state refused it: limits, funds, amounts
    RATE_LIMITED = "rate_limited"  # too many attempts; retry after a delay
    UNAVAILABLE = "unavailable"  # transient: the same request may succeed later


_BY_CODE: dict[str, type[OkaneError]] = {}


class OkaneError(Exception):
    """Base of every error OKANE raises on purpose."""

    code: ClassVar[str] = "okane_error"
    category: ClassVar[Category] = Category.UNCLASSIFIED

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "code" not in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} must name its own code")
        if cls.code in _BY_CODE:
            raise TypeError(f"{cls.__qualname__}: code {cls.code!r} is already taken")
        _BY_CODE[cls.code] = cls

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


_BY_CODE[OkaneError.code] = OkaneError


def error_class(code: str) -> type[OkaneError] | None:
    """The error class whose code this is (say, an outcome stored with a webhook event).

    Classes defined outside this module are known once their module has been imported.
    """
    return _BY_CODE.get(code)


def category_of(code: str) -> Category | None:
    """The category of the error with this code, or None when no error has it."""
    kind = error_class(code)
    return None if kind is None else kind.category


# --- invalid ------------------------------------------------------------------------------------


class InvalidRequest(OkaneError):
    """The request is malformed or breaks a rule that does not depend on stored state."""

    code = "invalid_request"
    category = Category.INVALID


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"


class AmountOverLimit(InvalidRequest):
    code = "amount_over_limit"


class SelfTransfer(InvalidRequest):
    code = "self_transfer"


class CurrencyMismatch(InvalidRequest):
    code = "currency_mismatch"


# --- unauthenticated ----------------------------------------------------------------------------


class AuthenticationFailed(OkaneError):
    """No valid credentials: missing, wrong, expired or revoked."""

    code = "unauthenticated"
    category = Category.UNAUTHENTICATED


class InvalidCredentials(AuthenticationFailed):
    code = "invalid_credentials"


class WebhookRejected(AuthenticationFailed):
    """A bank callback whose signature, timestamp or headers do not verify."""

    code = "invalid_signature"


# --- forbidden ----------------------------------------------------------------------------------


class PermissionDenied(OkaneError):
    code = "forbidden"
    category = Category.FORBIDDEN


class WrongPassword(PermissionDenied):
    """The current password, asked for again before changing it, is not the right one."""

    code = "wrong_password"


class InvalidCode(PermissionDenied):
    """A one-time code that is wrong, used, expired or tried too often: it proves nothing, so
    what it was to allow is refused."""

    code = "invalid_code"


class SecondAdminRequired(PermissionDenied):
    """Maker-checker: the admin who asked for a manual money movement cannot approve it."""

    code = "second_admin_required"


class OwnTransaction(PermissionDenied):
    """An admin acting on a transaction of their own wallet."""

    code = "own_transaction"


# --- not found ----------------------------------------------------------------------------------


class NotFound(OkaneError):
    code = "not_found"
    category = Category.NOT_FOUND


class RecipientNotFound(NotFound):
    code = "recipient_not_found"


class TransactionNotFound(NotFound):
    code = "transaction_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"


class AdminRequestNotFound(NotFound):
    code = "admin_request_not_found"


# --- conflict -----------------------------------------------------------------------------------


class Conflict(OkaneError):
    """The request is valid but collides with stored state."""

    code = "conflict"
    category = Category.CONFLICT


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class AlreadySettled(Conflict):
    code = "already_settled"


class SettlementExpired(Conflict):
    """The bank answered after the transaction had expired (the stored webhook outcome)."""

    code = "settlement_expired"


class NotReversible(Conflict):
    code = "not_reversible"


class AlreadyVerified(Conflict):
    code = "already_verified"


class NothingToVerify(Conflict):
    """The account has no address on that channel."""

    code = "nothing_to_verify"


class AlreadyDecided(Conflict):
    """An admin request that was already approved or rejected."""

    code = "already_decided"


class DuplicateUser(Conflict):
    code = "duplicate_user"


# --- refused ------------------------------------------------------------------------------------


class Refused(OkaneError):
    """The request is well formed, but a rule on stored state refuses it."""

    code = "refused"
    category = Category.REFUSED


class DailyLimitExceeded(Refused):
    code = "daily_limit_exceeded"


class InsufficientFunds(Refused):
    """Raised only where a shortfall cannot be recorded as a failed transaction (reversals)."""

    code = "insufficient_funds"


class AmountMismatch(Refused):
    code = "amount_mismatch"


# --- rate limited -------------------------------------------------------------------------------


class RateLimited(OkaneError):
    code = "rate_limited"
    category = Category.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class StepUpRequired(RateLimited):
    """Too many failed logins for the account from elsewhere: from an address new to it, a
    code sent to its proven phone or email is needed with the password."""

    code = "step_up_required"


# --- unavailable --------------------------------------------------------------------------------


class Unavailable(OkaneError):
    """A transient condition: the caller may retry the same request later."""

    code = "unavailable"
    category = Category.UNAVAILABLE


class LockTimeout(Unavailable):
    code = "lock_timeout"


class StatementTimeout(Unavailable):
    code = "statement_timeout"


class DatabaseUnavailable(Unavailable):
    """The connection to PostgreSQL was lost, or PostgreSQL cannot be reached."""

    code = "database_unavailable"


class RetryableConflict(Unavailable):
    """Serialization failure or deadlock that survived the bounded retries."""

    code = "retryable_conflict"
