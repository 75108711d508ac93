"""Request field types shared by the services."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from okane_core.ledger.domain import whole_paise

# A hard bound that a JSON number represents exactly; the configured per-transaction limit,
# lower, is enforced by the ledger (and written into user-api's OpenAPI document).
HARD_MAX_PAISE = 10**15

Paise = Annotated[
    int,
    Field(gt=0, le=HARD_MAX_PAISE, description="amount in paise (1 INR = 100)"),
    BeforeValidator(whole_paise),
]
