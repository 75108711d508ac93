"""How transactions read on a page: words, signs and dates. Pure functions, used as Jinja
filters and by the CSV export."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from okane_core.ledger.views import TransactionView
from okane_web.money import format_inr

# Dates are rendered as ISO 8601 in <time datetime> and reformatted in the reader's locale and
# time zone by the page's script; this zone is only the fallback text (India, where INR is).
FALLBACK_ZONE = ZoneInfo("Asia/Kolkata")

KIND_LABELS = {
    "topup": "Added money",
    "p2p": "Payment",
    "withdrawal": "Withdrawal",
    "reversal": "Reversal",
}
STATUS_LABELS = {
    "processing": "Processing",
    "unknown": "Waiting for the bank",
    "success": "Success",
    "failure": "Failed",
}
FAILURE_LABELS = {
    "insufficient_funds": "Not enough money in the wallet",
    "bank_declined": "The bank declined it",
    "expired": "The bank did not answer in time",
}


def title(view: TransactionView) -> str:
    """One line saying what happened, from the viewer's side."""
    other = view.counterparty_name
    if view.kind == "topup":
        return "Added money from bank"
    if view.kind == "withdrawal":
        return "Withdrawal to bank"
    if view.kind == "reversal":
        return "Reversal" + (f" with {other}" if other else "")
    if view.direction == "credit":
        return f"Received from {other or 'OKANE'}"
    return f"Paid {other or 'OKANE'}"


def signed_amount(view: TransactionView) -> int:
    """Paise as the viewer's wallet sees them: negative when money leaves it."""
    return -view.amount if view.direction == "debit" else view.amount


def money(view: TransactionView) -> str:
    return format_inr(signed_amount(view), signed=True)


def fallback_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(FALLBACK_ZONE)
    return local.strftime("%d %b %Y, %H:%M IST")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()
