"""Sign up, log in (password or Google), log out: each ends in a cookie session and a redirect."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from okane_core.app.verification import Sent
from okane_core.errors import (
    AuthenticationFailed,
    Category,
    DuplicateUser,
    InvalidCode,
    InvalidRequest,
    RateLimited,
)
from okane_user_api.auth import oidc
from okane_user_api.auth import service as auth_service
from okane_user_api.deps import Revocation, client_address
from okane_user_api.schemas import SignupConfirm, SignupRequest
from okane_user_api.web import session
from okane_user_api.web.forms import validate
from okane_user_api.web.pages import AnyPage, PageRoute, local_path, redirect
from okane_web.problems import status_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)

GOOGLE_CALLBACK = "/login/google/callback"


def _signed_in(page: AnyPage, credential: str, target: str) -> Response:
    response = redirect(target)
    session.set_cookie(response, page.state.settings, credential)
    return response


@router.get("/")
async def home(page: AnyPage) -> Response:
    return redirect("/wallet" if page.session else "/login")


@router.get("/login")
async def login_form(page: AnyPage, next: str | None = None) -> Response:
    if page.session is not None:
        return redirect(local_path(next))
    return await page.render(
        "login.html", next=local_path(next), error=None, login="", google=_google_enabled(page)
    )


def _google_enabled(page: AnyPage) -> bool:
    return page.request.app.state.oauth is not None


@router.post("/login")
async def login(page: AnyPage) -> Response:
    form = await page.form()
    target = local_path(form.get("next"))
    login_value = form.get("login", "").strip()
    try:
        _require_both(login_value, form.get("password", ""))
        user = await auth_service.authenticate(
            page.state,
            login=login_value[:254],
            password=form.get("password", "")[:128],
            client=client_address(page.request),
        )
    except (AuthenticationFailed, InvalidRequest, RateLimited) as error:
        message = (
            "The phone number, email or password is wrong."
            if error.category is Category.UNAUTHENTICATED
            else error.message
        )
        # A refused sign-in answers as one, even for a missing field; a throttle says so.
        answered_as = (
            Category.RATE_LIMITED
            if error.category is Category.RATE_LIMITED
            else Category.UNAUTHENTICATED
        )
        return await page.render(
            "login.html",
            status_code=status_of(answered_as),
            next=target,
            error=message,
            login=login_value,
            google=_google_enabled(page),
        )
    credential = await session.start(page.state, user, method="password")
    return _signed_in(page, credential, target)


def _require_both(login_value: str, password: str) -> None:
    if not login_value or not password:
        raise InvalidRequest("Enter your phone number or email, and your password.")


@router.get("/signup")
async def signup_form(page: AnyPage) -> Response:
    if page.session is not None:
        return redirect("/wallet")
    return await page.render("signup.html", error=None, field=None, values={})


@router.post("/signup")
async def signup(page: AnyPage) -> Response:
    form = await page.form()
    values = {
        "name": " ".join(form.get("name", "").split()),
        "phone": form.get("phone", "").replace(" ", "").replace("-", ""),
        "email": form.get("email", "").strip() or None,
        "password": form.get("password", ""),
    }
    try:
        body = validate(SignupRequest, **values)
        user = await auth_service.signup(
            page.state,
            name=body.name,
            phone=body.phone,
            email=body.email,
            password=body.password,
            client=client_address(page.request),
        )
    except (InvalidRequest, DuplicateUser) as error:
        message = error.message
        if isinstance(error, DuplicateUser):
            message = "An OKANE account already uses this phone number or email. Log in instead."
        shown = {k: v for k, v in values.items() if k != "password"}
        return await page.render(
            "signup.html",
            status_code=status_of(Category.INVALID),  # the form again, with what to change
            error=message,
            field=error.field,
            values=shown,
        )
    if isinstance(user, Sent):  # contacts to verify: the account opens with the phone's code
        return await page.render(
            "signup_code.html", phone=body.phone, sent_to=user.masked, error=None
        )
    credential = await session.start(page.state, user, method="signup")
    return _signed_in(page, credential, "/wallet")


@router.post("/signup/confirm")
async def signup_confirm(page: AnyPage) -> Response:
    form = await page.form()
    phone = form.get("phone", "")[:20]
    try:
        body = validate(SignupConfirm, phone=phone, code=form.get("code", "").strip())
        user = await auth_service.confirm_signup(
            page.state, phone=body.phone, code=body.code, client=client_address(page.request)
        )
    except (InvalidRequest, InvalidCode, DuplicateUser) as error:
        return await page.render(
            "signup_code.html",
            status_code=status_of(Category.INVALID),
            phone=phone,
            sent_to=None,
            error=error.message,
        )
    credential = await session.start(page.state, user, method="signup")
    return _signed_in(page, credential, "/wallet")


@router.post("/logout")
async def logout(page: AnyPage, revocations: Revocation) -> Response:
    await page.form()
    if page.session is not None:
        await session.end(page.state, revocations, page.session)
    response = redirect("/login")
    session.clear_cookie(response, page.state.settings)
    return response


@router.get("/login/google")
async def google_login(page: AnyPage) -> RedirectResponse:
    """Google sign-in for the browser: the same OIDC flow as the API's, with a callback of
    its own that ends in a cookie session instead of a JSON token pair."""
    redirect_uri = page.state.settings.public_url.rstrip("/") + GOOGLE_CALLBACK
    return await oidc.begin(page.request.app.state.oauth, page.request, redirect_uri)


@router.get(GOOGLE_CALLBACK)
async def google_callback(page: AnyPage) -> Response:
    try:
        claims = await oidc.complete(page.request.app.state.oauth, page.request)
        user = await oidc.user_for(page.state, claims)
    except (AuthenticationFailed, DuplicateUser) as error:
        return await page.render(
            "login.html",
            status_code=status_of(Category.UNAUTHENTICATED),
            next="/wallet",
            error=f"Google sign-in did not work: {error.message}",
            login="",
            google=_google_enabled(page),
        )
    credential = await session.start(page.state, user, method="google")
    return _signed_in(page, credential, "/wallet")
