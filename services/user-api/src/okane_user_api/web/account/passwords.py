"""Changing one's password, and resetting a forgotten one with a code, in the web app."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from okane_core.errors import InvalidCode, InvalidRequest, RateLimited, WrongPassword
from okane_user_api.auth import service as auth_service
from okane_user_api.deps import Revocation, client_address
from okane_user_api.schemas import PasswordChange, ResetConfirm, ResetRequest
from okane_user_api.web.forms import validate
from okane_user_api.web.pages import AnyPage, Page, PageRoute, UserPage

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SHOWN_AGAIN = 422


async def _change_form(
    page: Page, *, error: str | None = None, done: bool = False, status_code: int = 200
) -> Response:
    return await page.render("password.html", status_code=status_code, error=error, done=done)


@router.get("/wallet/password")
async def change_form(page: UserPage) -> Response:
    return await _change_form(page)


@router.post("/wallet/password")
async def change(page: UserPage, revocations: Revocation) -> Response:
    form = await page.form()
    try:
        body = validate(
            PasswordChange,
            current_password=form.get("current_password", ""),
            new_password=form.get("new_password", ""),
        )
        await auth_service.change_password(
            page.state,
            revocations,
            page.signed_in.principal,
            current=body.current_password,
            new=body.new_password,
        )
    except (InvalidRequest, WrongPassword, RateLimited) as error:
        return await _change_form(page, error=error.message, status_code=SHOWN_AGAIN)
    return await _change_form(page, done=True)


async def _forgot_form(
    page: Page,
    *,
    login: str = "",
    sent: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return await page.render(
        "forgot.html",
        status_code=status_code,
        login=login,
        sent=sent,
        error=error,
        mailbox=page.state.settings.dev_mailbox,
    )


@router.get("/forgot")
async def forgot_form(page: AnyPage) -> Response:
    return await _forgot_form(page)


@router.post("/forgot")
async def forgot(page: AnyPage) -> Response:
    form = await page.form()
    login = form.get("login", "").strip()[:254]
    try:
        body = validate(ResetRequest, login=login)
        await auth_service.start_reset(
            page.state, login=body.login, client=client_address(page.request)
        )
    except (InvalidRequest, RateLimited) as error:
        return await _forgot_form(page, login=login, error=error.message, status_code=SHOWN_AGAIN)
    return await _forgot_form(page, login=login, sent=True)


@router.post("/forgot/confirm")
async def forgot_confirm(page: AnyPage, revocations: Revocation) -> Response:
    form = await page.form()
    login = form.get("login", "").strip()[:254]
    try:
        body = validate(
            ResetConfirm,
            login=login,
            code=form.get("code", "").strip(),
            new_password=form.get("new_password", ""),
        )
        await auth_service.finish_reset(
            page.state,
            revocations,
            login=body.login,
            code=body.code,
            new=body.new_password,
            client=client_address(page.request),
        )
    except (InvalidRequest, InvalidCode, RateLimited) as error:
        return await _forgot_form(
            page, login=login, sent=True, error=error.message, status_code=SHOWN_AGAIN
        )
    return await page.render(
        "login.html",
        next="/wallet",
        error=None,
        login=login,
        google=page.request.app.state.oauth is not None,
        notice="Your password is set. Log in with it.",
    )
