"""The plumbing every web page shares: templates, who is signed in, forms with CSRF tokens,
and errors shown as pages (the API's errors stay problem+json)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from okane_core.errors import Category, InvalidRequest, OkaneError, RateLimited
from okane_core.ledger.domain import storable_text
from okane_core.users.views import UserRecord
from okane_user_api.state import AppState
from okane_user_api.web import present, session
from okane_user_api.web.csrf import FIELD, CsrfGuard
from okane_user_api.web.session import WebSession
from okane_web.money import format_inr
from okane_web.problems import status_for, status_of

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


class LoginRequired(Exception):
    """The page needs a signed-in visitor: send them to the login page and back."""


class FormRefused(Exception):
    """A POST without a valid CSRF token, or from another origin."""


@dataclass
class Web:
    """What the pages build once at start-up."""

    templates: Jinja2Templates
    csrf: CsrfGuard
    bank_simulator_url: str | None

    @classmethod
    def create(cls, csrf: CsrfGuard, bank_simulator_url: str | None) -> Web:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        versions = {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in STATIC_DIR.iterdir()
            if path.is_file()
        }
        environment.globals.update(
            static=lambda name: f"/static/{name}?v={versions[name]}",
            title=present.title,
            KIND_LABELS=present.KIND_LABELS,
            STATUS_LABELS=present.STATUS_LABELS,
            FAILURE_LABELS=present.FAILURE_LABELS,
        )
        environment.filters.update(
            inr=format_inr,
            money=present.money,
            iso=present.iso,
            fallback_date=present.fallback_date,
        )
        return cls(Jinja2Templates(env=environment), csrf, bank_simulator_url)


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


@dataclass
class Page:
    """One page request: the app, and who is signed in (if anyone)."""

    request: Request
    state: AppState
    web: Web
    session: WebSession | None

    @property
    def signed_in(self) -> WebSession:
        if self.session is None:
            raise LoginRequired
        return self.session

    async def user(self) -> UserRecord | None:
        if self.session is None:
            return None
        return await self.state.okane.cache.reads.profile(self.session.user_id)

    async def render(
        self, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        token, anonymous = self.web.csrf.issue(self.request, self.session)
        response = self.web.templates.TemplateResponse(
            self.request,
            template,
            {"me": await self.user(), "csrf_field": FIELD, "csrf_token": token, **context},
            status_code=status_code,
            headers={"Cache-Control": "no-store"},
        )
        if anonymous is not None:
            self.web.csrf.remember(response, anonymous)
        return response

    async def form(self) -> dict[str, str]:
        """The posted form, after its CSRF token checked out."""
        data = await self.request.form()
        fields = {key: value for key, value in data.items() if isinstance(value, str)}
        for key, value in fields.items():
            try:
                storable_text(value)
            except ValueError as error:  # NUL, lone surrogates: refused, never stored
                raise InvalidRequest(f"{key}: {error}", field=key) from None
        if not self.web.csrf.verify(self.request, self.session, fields.get(FIELD)):
            raise FormRefused
        return fields


async def page(request: Request) -> Page:
    state: AppState = request.app.state.okane
    return Page(request, state, get_web(request), await session.resolve(state, request))


async def signed_in_page(current: Annotated[Page, Depends(page)]) -> Page:
    current.signed_in  # noqa: B018 - raises LoginRequired for a signed-out visitor
    return current


AnyPage = Annotated[Page, Depends(page)]
UserPage = Annotated[Page, Depends(signed_in_page)]


def redirect(url: str) -> RedirectResponse:
    """POST-redirect-GET: a reload shows the result instead of repeating the action."""
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None, default: str = "/wallet") -> str:
    """A ``next`` parameter, accepted only as a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


async def error_page(request: Request, status_code: int, message: str) -> Response:
    current = await page(request)
    return await current.render(
        "error.html", status_code=status_code, status=status_code, message=message
    )


class PageRoute(APIRoute):
    """Routes of the web app: a signed-out visitor is sent to log in, a refused form or an
    OKANE error becomes a page that says what happened."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect("/login?next=" + quote(target, safe=""))
            except FormRefused:
                return await error_page(
                    request,
                    status_of(Category.FORBIDDEN),
                    "This form has expired or did not come from OKANE. "
                    "Go back, reload the page and try again.",
                )
            except OkaneError as error:
                response = await error_page(request, status_for(error), error.message)
                if isinstance(error, RateLimited):
                    response.headers["Retry-After"] = str(error.retry_after)
                return response

        return handle
