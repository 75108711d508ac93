"""Proving one's phone and email in the web app, the email link's landing page, and the
development mailbox (``OKANE_DEV_MAILBOX``) that shows what would have been sent."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from okane_core.app import reads, verification
from okane_core.errors import (
    AlreadyVerified,
    InvalidCode,
    NotFound,
    NothingToVerify,
    RateLimited,
)
from okane_user_api.verification import service
from okane_user_api.web.pages import AnyPage, Page, PageRoute, UserPage, redirect

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SHOWN_AGAIN = 422


async def _verify_form(
    page: Page, *, error: str | None = None, sent: str | None = None, status_code: int = 200
) -> Response:
    return await page.render(
        "verify.html",
        status_code=status_code,
        error=error,
        sent=sent,
        mailbox=page.state.settings.dev_mailbox,
    )


@router.get("/wallet/verify")
async def verify_form(page: UserPage) -> Response:
    return await _verify_form(page)


@router.post("/wallet/verify")
async def verify(page: UserPage) -> Response:
    form = await page.form()
    try:
        await verification.confirm_verification(
            page.state.okane, page.signed_in.user_id, "phone", form.get("code", "")[:16]
        )
    except InvalidCode as error:
        return await _verify_form(page, error=error.message, status_code=SHOWN_AGAIN)
    return redirect("/wallet")


@router.post("/wallet/verify/send")
async def send_code(page: UserPage) -> Response:
    form = await page.form()
    channel = "email" if form.get("channel") == "email" else "phone"
    try:
        sent = await service.send_code(page.state, page.signed_in.user_id, channel)
    except (AlreadyVerified, NothingToVerify, RateLimited) as error:
        return await _verify_form(page, error=error.message, status_code=SHOWN_AGAIN)
    return await _verify_form(page, sent=f"We sent a new {channel} code to {sent.masked}.")


@router.get("/verify-email")
async def verify_email(page: AnyPage, token: str = "") -> Response:
    try:
        user = await verification.confirm_email_link(page.state.okane, token[:128])
    except InvalidCode as error:
        return await page.render("verified.html", status_code=SHOWN_AGAIN, error=error.message)
    return await page.render("verified.html", error=None, email=user.email)


@router.get("/dev/mailbox")
async def mailbox(page: AnyPage, to: str = "") -> Response:
    if not page.state.settings.dev_mailbox:
        raise NotFound("Not found")
    address = to.strip()[:254] or None
    messages = await reads.notifications(page.state.okane.uow, address=address, limit=100)
    return await page.render("mailbox.html", messages=messages, to=address or "")
