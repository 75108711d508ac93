"""Database errors, translated once into OKANE errors."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from okane_core.errors import LockTimeout, OkaneError, RetryableConflict, StatementTimeout

SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
UNIQUE_VIOLATION = "23505"

RETRYABLE = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED})


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error, if it carries one."""
    original = error.orig if isinstance(error, DBAPIError) else error
    return getattr(original, "sqlstate", None)


def is_retryable(error: BaseException) -> bool:
    return sqlstate(error) in RETRYABLE


def translate_db_error(error: DBAPIError) -> OkaneError | None:
    """The OKANE error a database error stands for, or None when it is a bug."""
    state = sqlstate(error)
    if state == LOCK_NOT_AVAILABLE:
        return LockTimeout("the account is busy; try again")
    if state == QUERY_CANCELED:
        return StatementTimeout("the database took too long; try again")
    if state in RETRYABLE:
        return RetryableConflict("the operation conflicted with another one; try again")
    return None
