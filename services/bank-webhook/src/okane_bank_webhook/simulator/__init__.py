"""A simulated bank for development: the page a customer sees at their bank to confirm a top-up
(or a withdrawal), which then sends the bank's real, signed callback to /webhooks/bank.

Enabled only by ``OKANE_BANK_SIMULATOR=true`` (``okane up`` sets it): whoever can reach these
pages can approve any pending top-up, exactly like ``okane bank approve``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from okane_bank_webhook.simulator.endpoints import STATIC_DIR, Simulator
from okane_bank_webhook.simulator.endpoints import router as simulator_router
from okane_core.settings import Settings
from okane_web.security import SecurityHeaders, content_security_policy

log = logging.getLogger(__name__)


def install_simulator(app: FastAPI, settings: Settings, secrets: list[str]) -> None:
    if not settings.bank_simulator:
        return
    log.warning("the bank simulator is enabled at /simulator: for development only")
    app.state.simulator = Simulator.create(settings, secrets[0])
    app.include_router(simulator_router)
    app.mount("/simulator/static", StaticFiles(directory=STATIC_DIR), name="simulator-static")
    csp = content_security_policy(form_targets=[settings.public_url])
    app.add_middleware(SecurityHeaders, csp=csp, https=settings.public_url.startswith("https://"))
