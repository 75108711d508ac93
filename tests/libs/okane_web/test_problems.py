"""Every OKANE error answers with the same status and code as it always has, through one table."""

from __future__ import annotations

import gc

import httpx
import psycopg
import pytest
from fastapi import FastAPI, Request
from sqlalchemy.exc import OperationalError

import okane_core.ledger.domain  # noqa: F401  (defines errors of its own)
from okane_core import errors
from okane_core.localstack import free_port
from okane_web.problems import (
    STATUS_BY_CATEGORY,
    TYPE_BASE,
    install_problem_handlers,
    status_for,
    status_of,
)
from tests.served import Served

# Written out by hand: what each error answered when statuses were still picked per class
# (first match in an ordered list of classes, 400 when none matched). Change an entry only on
# purpose: API clients and the bank rely on these.
EXPECTED: dict[str, tuple[str, int]] = {
    "OkaneError": ("okane_error", 400),
    "InvalidRequest": ("invalid_request", 422),
    "InvalidAmount": ("invalid_amount", 422),
    "AmountOverLimit": ("amount_over_limit", 422),
    "SelfTransfer": ("self_transfer", 422),
    "CurrencyMismatch": ("currency_mismatch", 422),
    "AuthenticationFailed": ("unauthenticated", 401),
    "InvalidCredentials": ("invalid_credentials", 401),
    "WebhookRejected": ("invalid_signature", 401),
    "PermissionDenied": ("forbidden", 403),
    "NotFound": ("not_found", 404),
    "RecipientNotFound": ("recipient_not_found", 404),
    "TransactionNotFound": ("transaction_not_found", 404),
    "UserNotFound": ("user_not_found", 404),
    "SessionNotFound": ("session_not_found", 404),
    "AdminRequestNotFound": ("admin_request_not_found", 404),
    "SecondAdminRequired": ("second_admin_required", 403),
    "OwnTransaction": ("own_transaction", 403),
    "AlreadyDecided": ("already_decided", 409),
    "AlreadyVerified": ("already_verified", 409),
    "InvalidCode": ("invalid_code", 403),
    "NothingToVerify": ("nothing_to_verify", 409),
    "WrongPassword": ("wrong_password", 403),
    "StepUpRequired": ("step_up_required", 429),
    "Conflict": ("conflict", 409),
    "IdempotencyConflict": ("idempotency_conflict", 409),
    "AlreadySettled": ("already_settled", 409),
    "SettlementExpired": ("settlement_expired", 409),
    "NotReversible": ("not_reversible", 409),
    "DuplicateUser": ("duplicate_user", 409),
    "Refused": ("refused", 422),  # the base of the three below; nothing raises it by itself
    "DailyLimitExceeded": ("daily_limit_exceeded", 422),
    "InsufficientFunds": ("insufficient_funds", 422),
    "AmountMismatch": ("amount_mismatch", 422),
    "RateLimited": ("rate_limited", 429),
    "Unavailable": ("unavailable", 503),
    "LockTimeout": ("lock_timeout", 503),
    "StatementTimeout": ("statement_timeout", 503),
    "RetryableConflict": ("retryable_conflict", 503),
    "DatabaseUnavailable": ("database_unavailable", 503),
    "UnbalancedPostings": ("unbalanced_postings", 400),
    "IllegalTransition": ("illegal_transition", 400),
}


def every_error_class() -> list[type[errors.OkaneError]]:
    gc.collect()  # a class refused in test_errors stays a subclass until it is collected
    found: list[type[errors.OkaneError]] = []
    pending: list[type[errors.OkaneError]] = [errors.OkaneError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def instance(kind: type[errors.OkaneError]) -> errors.OkaneError:
    if issubclass(kind, errors.RateLimited):
        return kind("slow down", retry_after=7)
    return kind("something went wrong")


def test_every_error_class_is_in_the_expected_table() -> None:
    assert sorted(kind.__name__ for kind in every_error_class()) == sorted(EXPECTED)


@pytest.mark.parametrize("kind", every_error_class(), ids=lambda kind: kind.__name__)
def test_each_error_keeps_its_code_and_status(kind: type[errors.OkaneError]) -> None:
    error = instance(kind)
    assert (error.code, status_for(error)) == EXPECTED[kind.__name__]


def test_the_table_covers_every_category() -> None:
    assert set(STATUS_BY_CATEGORY) == set(errors.Category)
    assert status_of(errors.Category.REFUSED) == 422


def test_a_stored_code_finds_its_status() -> None:
    for kind in every_error_class():
        category = errors.category_of(kind.code)
        assert category is not None
        assert status_of(category) == EXPECTED[kind.__name__][1]
    assert errors.category_of("no_such_code") is None


def _app_raising(error: errors.OkaneError) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize("kind", every_error_class(), ids=lambda kind: kind.__name__)
async def test_the_api_answers_each_error_as_a_problem(kind: type[errors.OkaneError]) -> None:
    error = instance(kind)
    error.field = "amount"
    transport = httpx.ASGITransport(app=_app_raising(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    code, status = EXPECTED[kind.__name__]
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == TYPE_BASE + code == f"https://okane.dev/problems/{code}"
    assert (body["status"], body["code"], body["field"]) == (status, code, "amount")
    assert body["detail"] == error.message
    # Throttled: when to come back; unavailable: retry the same request soon.
    expected = {429: "7", 503: "1"}.get(status)
    assert response.headers.get("Retry-After") == expected
    bearer = issubclass(kind, errors.AuthenticationFailed) and kind is not errors.WebhookRejected
    assert response.headers.get("WWW-Authenticate") == ('Bearer realm="okane"' if bearer else None)


async def test_a_dropped_database_connection_answers_503_and_keeps_the_http_connection() -> None:
    """A psycopg failure that escapes as far as the app (a session that could not roll back on
    a connection the server dropped) is a 503 with Retry-After, answered from the handler that
    does not re-raise: the server keeps the client's connection, so the answer is never lost."""
    port = free_port()  # nothing listens there: a real connection failure, no SQLSTATE
    with pytest.raises(psycopg.OperationalError) as failure:
        await psycopg.AsyncConnection.connect(f"host=127.0.0.1 port={port} connect_timeout=2")
    dropped = failure.value
    app = FastAPI()
    install_problem_handlers(app)
    peers: list[object] = []

    @app.get("/through-sqlalchemy")
    async def through_sqlalchemy(request: Request) -> None:
        peers.append(request.scope["client"])
        raise OperationalError("ROLLBACK", None, dropped)

    @app.get("/from-psycopg")
    async def from_psycopg(request: Request) -> None:
        peers.append(request.scope["client"])
        raise dropped

    with Served(app) as served:
        async with httpx.AsyncClient(base_url=served.url) as client:
            answers = [await client.get(path) for path in ["/through-sqlalchemy", "/from-psycopg"]]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["code"] == "database_unavailable"
    assert len(peers) == 2 and peers[0] == peers[1], "the server closed the client's connection"
