"""History as CSV, for a spreadsheet or an accountant."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from okane_core.ledger.views import TransactionView
from okane_user_api.web import present
from okane_web.money import format_decimal

COLUMNS = [
    "date",
    "transaction_id",
    "type",
    "direction",
    "status",
    "amount_inr",
    "counterparty",
    "note",
    "reference",
    "failure_reason",
]
# A cell starting with one of these is a formula to a spreadsheet: a note like
# "=HYPERLINK(...)" written by whoever paid you must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_START) else value


def history_csv(views: Iterable[TransactionView]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for view in views:
        counterparty = view.counterparty_name or (
            "Bank" if view.kind in {"topup", "withdrawal"} else ""
        )
        writer.writerow(
            [
                view.created_at.isoformat(),
                str(view.id),
                view.kind,
                view.direction or "",
                view.status,
                format_decimal(present.signed_amount(view)),
                _text(counterparty),
                _text(view.note),
                view.reference or "",
                view.failure_reason or "",
            ]
        )
    return out.getvalue()
