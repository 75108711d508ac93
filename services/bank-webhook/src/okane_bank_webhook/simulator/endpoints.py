"""/simulator: the simulated bank's pages. Approving or declining sends a real Standard
Webhooks callback through :class:`okane_core.banksim.BankSimulator` to the configured
``OKANE_BANK_WEBHOOK_URL``, a moment after the customer is sent back, the way a real bank's
callback arrives on its own schedule."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from okane_bank_webhook.endpoints import REFERENCE_PATTERN, WebhookState
from okane_core.app import settlements
from okane_core.banksim import BankSimulator
from okane_core.settings import Settings
from okane_web.money import format_inr

log = logging.getLogger(__name__)
router = APIRouter(prefix="/simulator", include_in_schema=False)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CALLBACK_DELAY_SECONDS = 1.0
_REFERENCE = re.compile(REFERENCE_PATTERN)


@dataclass
class Simulator:
    settings: Settings
    templates: Jinja2Templates
    bank: BankSimulator
    key: bytes
    deliveries: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    def create(cls, settings: Settings, secret: str) -> Simulator:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        environment.filters["inr"] = format_inr
        return cls(
            settings=settings,
            templates=Jinja2Templates(env=environment),
            bank=BankSimulator(settings.bank_webhook_url, secret),
            key=hmac.new(secret.encode(), b"okane-bank-simulator-form", hashlib.sha256).digest(),
        )

    def form_token(self, reference: str) -> str:
        """The approve/decline form's CSRF token: only a page this simulator rendered for this
        payment carries it."""
        digest = hmac.new(self.key, reference.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def safe_return(self, target: str | None) -> str | None:
        """Send people back only to the wallet (no open redirect)."""
        base = self.settings.public_url.rstrip("/") + "/"
        return target if target and target.startswith(base) else None

    def send_later(self, event_type: str, reference: str, amount: int) -> None:
        async def deliver() -> None:
            await asyncio.sleep(CALLBACK_DELAY_SECONDS)
            try:
                delivery = await self.bank.deliver(event_type, reference, amount)
                log.info("simulated bank: %s %s -> %s", event_type, reference, delivery.status)
            except Exception:
                log.exception("simulated bank: could not deliver %s %s", event_type, reference)

        task = asyncio.create_task(deliver(), name=f"bank-callback-{reference}")
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)


def _parts(request: Request) -> tuple[Simulator, WebhookState]:
    return request.app.state.simulator, request.app.state.webhook


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    simulator, _ = _parts(request)
    return simulator.templates.TemplateResponse(
        request, name, context, status_code=status_code, headers={"Cache-Control": "no-store"}
    )


@router.get("")
async def waiting(request: Request) -> Response:
    """Everything waiting for the bank (the same list as ``okane bank list``)."""
    _, state = _parts(request)
    payments = await settlements.waiting_payments(state.okane.uow, limit=50)
    return _page(request, "index.html", payments=payments)


@router.get("/{reference}")
async def confirm(request: Request, reference: str, return_to: str | None = None) -> Response:
    simulator, state = _parts(request)
    payment = None
    if _REFERENCE.match(reference):
        payment = await settlements.payment(state.okane.uow, reference)
    if payment is None:
        return _page(request, "missing.html", 404, reference=reference[:64])
    return _page(
        request,
        "confirm.html",
        payment=payment,
        token=simulator.form_token(payment.reference),
        return_to=simulator.safe_return(return_to) or "",
    )


@router.get("/payments/{reference}")
async def payment_status(request: Request, reference: str) -> JSONResponse:
    """The simulated bank's status inquiry, as payout rails have one: ``succeeded`` or
    ``failed`` once it decided, ``pending`` while it has not, ``not_found`` if it never had it."""
    _, state = _parts(request)
    if not _REFERENCE.fullmatch(reference):
        return JSONResponse({"reference": reference[:64], "status": "not_found"}, 404)
    status = await settlements.bank_status(state.okane.uow, reference)
    return JSONResponse(
        {"reference": reference, "status": status}, 404 if status == "not_found" else 200
    )


@router.post("/{reference}")
async def decide(request: Request, reference: str) -> Response:
    simulator, state = _parts(request)
    form = await request.form()
    token, decision = str(form.get("csrf_token", "")), str(form.get("decision", ""))
    if not hmac.compare_digest(simulator.form_token(reference), token):
        return _page(request, "missing.html", 403, reference=reference[:64])
    payment = await settlements.payment(state.okane.uow, reference)
    if payment is None or decision not in {"approve", "decline"}:
        return _page(request, "missing.html", 404, reference=reference[:64])
    outcome = "succeeded" if decision == "approve" else "failed"
    # The bank's own record first: it answers status inquiries even if the callback is lost.
    await settlements.record_decision(
        state.okane.uow, payment.reference, succeeded=decision == "approve"
    )
    simulator.send_later(f"{payment.kind}.{outcome}", payment.reference, payment.amount)
    back = simulator.safe_return(str(form.get("return_to", "")))
    return RedirectResponse(back or "/simulator", status_code=303)
