"""Database errors, translated once into OKANE errors."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError

from okane_core.errors import (
    DatabaseUnavailable,
    LockTimeout,
    OkaneError,
    RetryableConflict,
    StatementTimeout,
)

SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
UNIQUE_VIOLATION = "23505"

RETRYABLE = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED})

# What a database failure can arrive as, through SQLAlchemy or from psycopg directly.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, psycopg.Error)


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error, if it carries one."""
    original = error.orig if isinstance(error, DBAPIError) else error
    return getattr(original, "sqlstate", None)


# The server ended the connection: admin shutdown, crash shutdown, cannot connect now.
CONNECTION_LOST = frozenset({"57P01", "57P02", "57P03"})


def is_connection_lost(error: BaseException) -> bool:
    """The connection dropped or could not be made (terminated backend, restart, network):
    nothing was committed unless COMMIT itself was under way, and the work may run again on a
    new connection."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    state = sqlstate(error)
    if state is None:
        # No SQLSTATE: the server never answered (refused, shutting down, not yet accepting
        # connections, network): psycopg says so with a bare OperationalError.
        original = error.orig if isinstance(error, DBAPIError) else error
        return isinstance(original, psycopg.OperationalError | OSError)
    return state in CONNECTION_LOST or state.startswith("08")


def is_retryable(error: BaseException) -> bool:
    return sqlstate(error) in RETRYABLE or is_connection_lost(error)


def translate_db_error(error: BaseException) -> OkaneError | None:
    """The OKANE error a database error (SQLAlchemy's or psycopg's) stands for, or None when
    it is a bug."""
    state = sqlstate(error)
    if state == LOCK_NOT_AVAILABLE:
        return LockTimeout("the account is busy; try again")
    if state == QUERY_CANCELED:
        return StatementTimeout("the database took too long; try again")
    if state in RETRYABLE:
        return RetryableConflict("the operation conflicted with another one; try again")
    if is_connection_lost(error):
        return DatabaseUnavailable("the database is unavailable; try again")
    return None
