"""The wallet web app: server-rendered pages served by user-api, with a little JavaScript
(static files only) for live updates, local dates and the recipient's name."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from okane_core.settings import Settings
from okane_user_api.web.account.endpoints import router as account_router
from okane_user_api.web.account.passwords import router as passwords_router
from okane_user_api.web.account.verify import router as verify_router
from okane_user_api.web.csrf import CsrfGuard
from okane_user_api.web.history.endpoints import router as history_router
from okane_user_api.web.pages import STATIC_DIR, Web
from okane_user_api.web.session import is_https
from okane_user_api.web.wallet.endpoints import router as wallet_router
from okane_web.security import SecurityHeaders, content_security_policy, origin_of


def bank_simulator_url(settings: Settings) -> str | None:
    """Where a browser reaches the simulated bank's pages, when they are enabled."""
    if not settings.bank_simulator:
        return None
    if settings.bank_simulator_url:
        return settings.bank_simulator_url.rstrip("/")
    return origin_of(settings.bank_webhook_url) + "/simulator"


def install_web(app: FastAPI, settings: Settings, *, secret: str) -> None:
    """Add the pages, their static files and the browser security headers to ``app``."""
    simulator = bank_simulator_url(settings)
    app.state.web = Web.create(CsrfGuard(secret, settings), simulator)
    app.include_router(account_router)
    app.include_router(verify_router)
    app.include_router(passwords_router)
    app.include_router(wallet_router)
    app.include_router(history_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    csp = content_security_policy(form_targets=[simulator] if simulator else [])
    app.add_middleware(SecurityHeaders, csp=csp, https=is_https(settings))
