"""History with filters and pages, a transaction's receipt, contacts, and the CSV export."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from okane_core.app import reads
from okane_core.errors import TransactionNotFound
from okane_core.ledger.views import TransactionView
from okane_user_api.web.export import history_csv
from okane_user_api.web.pages import Page, PageRoute, UserPage
from okane_user_api.web.present import KIND_LABELS, STATUS_LABELS

router = APIRouter(prefix="/wallet", route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 20
EXPORT_PAGE = 100
EXPORT_MAX_ROWS = 10_000


def _filter(value: str | None, allowed: dict[str, str]) -> str | None:
    return value if value in allowed else None


def _cursor(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.get("/history")
async def history(
    page: UserPage, kind: str | None = None, status: str | None = None, after: str | None = None
) -> Response:
    chosen_kind = _filter(kind, KIND_LABELS)
    chosen_status = _filter(status, STATUS_LABELS)
    found = await reads.history(
        page.state.okane.uow,
        page.signed_in.user_id,
        limit=PAGE_SIZE,
        starting_after=_cursor(after),
        kind=chosen_kind,
        status=chosen_status,
    )
    filters = {k: v for k, v in (("kind", chosen_kind), ("status", chosen_status)) if v}
    return await page.render(
        "history.html",
        transactions=found.data,
        has_more=found.has_more,
        kind=chosen_kind or "",
        status=chosen_status or "",
        filters=filters,
        paged=after is not None,
        next_cursor=str(found.data[-1].id) if found.has_more and found.data else None,
    )


@router.get("/history.csv")
async def history_export(
    page: UserPage, kind: str | None = None, status: str | None = None
) -> Response:
    """Every transaction matching the filters (up to 10,000), newest first."""
    views: list[TransactionView] = []
    cursor: uuid.UUID | None = None
    while len(views) < EXPORT_MAX_ROWS:
        found = await reads.history(
            page.state.okane.uow,
            page.signed_in.user_id,
            limit=EXPORT_PAGE,
            starting_after=cursor,
            kind=_filter(kind, KIND_LABELS),
            status=_filter(status, STATUS_LABELS),
        )
        views += found.data
        if not found.has_more or not found.data:
            break
        cursor = found.data[-1].id
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return Response(
        history_csv(views),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="okane-history-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


async def _transaction(page: Page, transaction_id: str) -> TransactionView:
    try:
        wanted = uuid.UUID(transaction_id)
    except ValueError:
        raise TransactionNotFound("There is no such transaction in your wallet.") from None
    return await reads.transaction(page.state.okane.uow, page.signed_in.user_id, wanted)


@router.get("/transactions/{transaction_id}")
async def receipt(page: UserPage, transaction_id: str) -> Response:
    return await page.render("receipt.html", t=await _transaction(page, transaction_id))


@router.get("/transactions/{transaction_id}/part")
async def receipt_part(page: UserPage, transaction_id: str) -> Response:
    """The receipt's status block, for its live refresh while the bank decides."""
    return await page.render("parts/receipt.html", t=await _transaction(page, transaction_id))


@router.get("/contacts")
async def contacts(page: UserPage) -> Response:
    found = await page.state.okane.cache.reads.contacts(page.signed_in.user_id, 100)
    return await page.render("contacts.html", contacts=found)
