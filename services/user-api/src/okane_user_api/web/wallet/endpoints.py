"""Dashboard, add money, send money, withdraw, and the live event stream of the pages.

Every money-moving form carries an idempotency key that the server generated when it rendered
the form: a double click, a reload or a resubmitted form repeats the key, and the ledger
answers with the first result instead of moving money again. Every POST answers with a
redirect to a page (POST-redirect-GET), so a reload repeats a GET, never a payment.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response, StreamingResponse

from okane_core.app import topups, transfers, withdrawals
from okane_core.errors import Category, InvalidRequest, OkaneError, RateLimited
from okane_user_api.events.endpoints import event_stream
from okane_user_api.schemas import TopupRequest, TransferRequest, WithdrawalRequest
from okane_user_api.web.forms import validate
from okane_user_api.web.pages import Page, PageRoute, UserPage, redirect
from okane_user_api.web.recipients import recipient_name
from okane_web.money import format_decimal, parse_rupees
from okane_web.problems import status_for, status_of

router = APIRouter(prefix="/wallet", route_class=PageRoute, include_in_schema=False)

RECENT = 8
QUICK_PAYEES = 6

# A form shown again with what was wrong answers as invalid input, whatever refused it.
SHOWN_AGAIN = status_of(Category.INVALID)


def new_idempotency_key() -> str:
    return "web-" + secrets.token_urlsafe(18)


def _key(form: dict[str, str]) -> str:
    key = form.get("idempotency_key", "")
    if not 1 <= len(key) <= 255:
        raise InvalidRequest("This form is incomplete; reload the page and try again.")
    return key


def receipt_url(transaction_id: object) -> str:
    return f"/wallet/transactions/{transaction_id}"


async def _summary(page: Page) -> dict[str, Any]:
    user_id = page.signed_in.user_id
    reads = page.state.okane.cache.reads
    wallet = await reads.wallet(user_id)
    recent = await reads.history(user_id, RECENT)
    return {"wallet": wallet, "recent": recent.data, "more": recent.has_more}


@router.get("")
async def dashboard(page: UserPage) -> Response:
    contacts = await page.state.okane.cache.reads.contacts(page.signed_in.user_id, QUICK_PAYEES)
    return await page.render("dashboard.html", contacts=contacts, **await _summary(page))


@router.get("/parts/summary")
async def summary_part(page: UserPage) -> Response:
    """The balances and recent transactions, for the dashboard's live refresh."""
    return await page.render("parts/summary.html", **await _summary(page))


@router.get("/events")
async def events(
    page: UserPage,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """The API's event stream, authenticated by the session cookie (EventSource cannot send
    an Authorization header)."""
    return event_stream(page.request, page.state, page.signed_in.principal, last_event_id)


# --- add money --------------------------------------------------------------------------------


async def _add_form(page: Page, *, amount: str = "", error: str | None = None) -> Response:
    return await page.render(
        "add_money.html",
        status_code=200 if error is None else SHOWN_AGAIN,
        amount=amount,
        error=error,
        idempotency_key=new_idempotency_key(),
        simulator=page.web.bank_simulator_url is not None,
    )


@router.get("/add")
async def add_money_form(page: UserPage) -> Response:
    return await _add_form(page)


@router.post("/add")
async def add_money(page: UserPage) -> Response:
    form = await page.form()
    typed = form.get("amount", "")
    try:
        body = validate(TopupRequest, amount=parse_rupees(typed))
        view, _ = await topups.start_topup(
            page.state.okane,
            user_id=page.signed_in.user_id,
            amount=body.amount,
            idempotency_key=_key(form),
        )
    except InvalidRequest as error:
        return await _add_form(page, amount=typed, error=error.message)
    except OkaneError as error:
        if status_for(error) >= 500:
            raise
        return await _add_form(page, amount=typed, error=error.message)
    back = page.state.settings.public_url.rstrip("/") + receipt_url(view.id)
    if page.web.bank_simulator_url is None or view.reference is None:
        return redirect(receipt_url(view.id))
    # The bank's confirmation page; it sends the customer back here, and its signed callback
    # settles the top-up on its own schedule.
    return redirect(
        f"{page.web.bank_simulator_url}/{quote(view.reference)}?{urlencode({'return_to': back})}"
    )


# --- send money -------------------------------------------------------------------------------


async def _send_form(
    page: Page,
    *,
    to: str = "",
    amount: str = "",
    note: str = "",
    error: str | None = None,
    field: str | None = None,
) -> Response:
    contacts = await page.state.okane.cache.reads.contacts(page.signed_in.user_id, QUICK_PAYEES)
    return await page.render(
        "send.html",
        status_code=200 if error is None else SHOWN_AGAIN,
        to=to,
        amount=amount,
        note=note,
        error=error,
        field=field,
        contacts=contacts,
    )


@router.get("/send")
async def send_form(page: UserPage, to: str = "", amount: str = "", note: str = "") -> Response:
    return await _send_form(page, to=to[:254], amount=amount[:32], note=note[:140])


@router.get("/send/review")
async def send_review(page: UserPage, to: str = "", amount: str = "", note: str = "") -> Response:
    """Step two: the recipient's name, the amount and the Pay button. Nothing moves yet."""
    to, amount, note = to.strip()[:254], amount.strip()[:32], note.strip()[:140]
    try:
        paise = parse_rupees(amount)
        body = validate(TransferRequest, to=to, amount=paise, note=note or None)
        name = await recipient_name(page.state, page.signed_in.user_id, body.to)
    except (InvalidRequest, RateLimited) as error:
        return await _send_form(
            page, to=to, amount=amount, note=note, error=error.message, field=error.field
        )
    except OkaneError as error:  # not found, or paying oneself
        if status_for(error) >= 500:
            raise
        return await _send_form(
            page, to=to, amount=amount, note=note, error=error.message, field="to"
        )
    return await page.render(
        "send_review.html",
        to=body.to,
        name=name,
        amount=body.amount,
        amount_text=format_decimal(body.amount),
        note=body.note or "",
        idempotency_key=new_idempotency_key(),
        error=None,
    )


@router.get("/send/recipient")
async def send_recipient(page: UserPage, to: str = "") -> JSONResponse:
    """The name behind an exact phone or email, for the form's inline confirmation."""
    try:
        name = await recipient_name(page.state, page.signed_in.user_id, to[:254])
    except OkaneError as error:
        headers = (
            {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
        )
        return JSONResponse({"error": error.message}, status_for(error), headers=headers)
    return JSONResponse({"name": name}, headers={"Cache-Control": "no-store"})


@router.post("/send")
async def send(page: UserPage) -> Response:
    form = await page.form()
    to, note = form.get("to", ""), form.get("note", "").strip()
    try:
        amount = parse_rupees(form.get("amount", ""))
        body = validate(TransferRequest, to=to, amount=amount, note=note or None)
        view, _ = await transfers.transfer(
            page.state.okane,
            user_id=page.signed_in.user_id,
            to=body.to,
            amount=body.amount,
            note=body.note,
            idempotency_key=_key(form),
        )
    except OkaneError as error:
        if status_for(error) >= 500:
            raise
        return await _send_form(
            page,
            to=to,
            amount=form.get("amount", ""),
            note=note,
            error=error.message,
            field=error.field,
        )
    return redirect(receipt_url(view.id))


# --- withdraw ---------------------------------------------------------------------------------


async def _withdraw_form(page: Page, *, amount: str = "", error: str | None = None) -> Response:
    wallet = await page.state.okane.cache.reads.wallet(page.signed_in.user_id)
    return await page.render(
        "withdraw.html",
        status_code=200 if error is None else SHOWN_AGAIN,
        wallet=wallet,
        amount=amount,
        error=error,
        idempotency_key=new_idempotency_key(),
    )


@router.get("/withdraw")
async def withdraw_form(page: UserPage) -> Response:
    return await _withdraw_form(page)


@router.post("/withdraw")
async def withdraw(page: UserPage) -> Response:
    form = await page.form()
    typed = form.get("amount", "")
    try:
        body = validate(WithdrawalRequest, amount=parse_rupees(typed))
        view, _ = await withdrawals.request_withdrawal(
            page.state.okane,
            user_id=page.signed_in.user_id,
            amount=body.amount,
            idempotency_key=_key(form),
        )
    except OkaneError as error:
        if status_for(error) >= 500:
            raise
        return await _withdraw_form(page, amount=typed, error=error.message)
    return redirect(receipt_url(view.id))
