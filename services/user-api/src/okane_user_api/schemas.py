"""Request and response bodies. Requests refuse unknown fields and coerce nothing: an amount
is a JSON integer of paise, never a string or a float."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, field_validator

from okane_core.ledger.domain import NOTE_CONTROLS, storable_text
from okane_core.ledger.views import TransactionView, Wallet
from okane_core.text import JOINERS, invisible_characters, invisible_class
from okane_core.users.domain import EMAIL_PATTERN
from okane_core.users.views import ContactRecord, UserRecord
from okane_web.fields import Paise

# Text that PostgreSQL can store (no NUL) and, for names, is not blank.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"
# What people read on another person's screen: no controls, format characters (bidi overrides,
# zero-width characters) or line separators, as okane_core.text refuses them (a joiner passes
# here and is checked in context there); a note may have newlines and tabs.
# The pattern documents the rule for clients and fuzzers; the validator gives the clear reason.
_HIDDEN = invisible_class(JOINERS)
NAME_PATTERN = f"^[^{_HIDDEN}]*[^{_HIDDEN}\\s][^{_HIDDEN}]*$"
_HIDDEN_IN_NOTES = invisible_class(JOINERS | NOTE_CONTROLS)
NOTE_PATTERN = f"^[^{_HIDDEN_IN_NOTES}]*$"


def _visible_name(value: str) -> str:
    hidden = invisible_characters(value)
    if hidden:
        raise ValueError(f"must not contain control or formatting characters ({', '.join(hidden)})")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _visible_note(value: str) -> str:
    hidden = invisible_characters(value, allowed=NOTE_CONTROLS)
    if hidden:
        raise ValueError(
            "must not contain control or formatting characters other than newline and tab "
            f"({', '.join(hidden)})"
        )
    return value


Name = Annotated[
    StrictStr,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(_visible_name),
]
Note = Annotated[
    StrictStr,
    Field(max_length=140, json_schema_extra={"pattern": NOTE_PATTERN}),
    AfterValidator(_visible_note),
]
PHONE_PATTERN = r"^(\+[1-9][0-9]{6,14}|[6-9][0-9]{9}|91[6-9][0-9]{9})$"
USER_ID_PATTERN = (
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
Phone = Annotated[
    StrictStr,
    Field(
        pattern=PHONE_PATTERN,
        description="E.164 (+919876543210) or a 10-digit Indian mobile number",
        examples=["+919876543210"],
    ),
]
Email = Annotated[StrictStr, Field(max_length=254, pattern=EMAIL_PATTERN)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        return storable_text(value)


AMOUNT_MODELS = ("TopupRequest", "TransferRequest", "WithdrawalRequest")


class SignupRequest(Request):
    name: Name
    phone: Phone
    email: Email | None = None
    password: StrictStr = Field(min_length=8, max_length=128, pattern=NO_NUL)


class LoginRequest(Request):
    login: StrictStr = Field(
        min_length=1, max_length=254, pattern=NO_NUL, description="phone or email"
    )
    password: StrictStr = Field(min_length=1, max_length=128, pattern=NO_NUL)
    code: StrictStr | None = Field(
        default=None,
        min_length=6,
        max_length=128,
        pattern=NO_NUL,
        description="a sign-in code (POST /v1/auth/login/code), when the login asked for one",
    )


Password = Annotated[StrictStr, Field(min_length=8, max_length=128, pattern=NO_NUL)]


class PasswordChange(Request):
    current_password: StrictStr = Field(min_length=1, max_length=128, pattern=NO_NUL)
    new_password: Password


class ResetRequest(Request):
    login: StrictStr = Field(
        min_length=1, max_length=254, pattern=NO_NUL, description="phone or email"
    )


class ResetConfirm(ResetRequest):
    code: StrictStr = Field(
        min_length=6,
        max_length=128,
        pattern=NO_NUL,
        description="the six digits of the SMS, or the code of the email",
    )
    new_password: Password


class ResetStarted(BaseModel):
    detail: str


class SignupStarted(BaseModel):
    detail: str
    sent_to: str = Field(description="the phone the code went to, masked")
    expires_in: int


class SignupConfirm(Request):
    phone: Phone
    code: StrictStr = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class RefreshRequest(Request):
    refresh_token: StrictStr = Field(min_length=1, max_length=256, pattern=NO_NUL)


class ProfileUpdate(Request):
    name: Name | None = None
    email: Email | None = None


class TopupRequest(Request):
    amount: Paise


class TransferRequest(Request):
    to: StrictStr = Field(
        max_length=254,
        pattern=f"{PHONE_PATTERN}|{EMAIL_PATTERN}|{USER_ID_PATTERN}",
        description="the recipient's phone, email or user id",
    )
    amount: Paise
    note: Note | None = None


class WithdrawalRequest(Request):
    amount: Paise


class ReversalRequest(Request):
    note: Note | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    phone_verified: bool
    email_verified: bool

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        return cls(
            id=user.id,
            name=user.name,
            phone=user.phone,
            email=user.email,
            phone_verified=user.phone_verified,
            email_verified=user.email_verified,
        )


class SessionOut(BaseModel):
    id: uuid.UUID
    method: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class SessionList(BaseModel):
    data: list[SessionOut]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - not a secret
    expires_in: int = Field(description="seconds until the access token expires")


class WalletOut(BaseModel):
    currency: str
    available: int
    locked: int
    version: int = Field(description="increases on every change of this wallet")

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        return cls(
            currency=wallet.currency,
            available=wallet.available,
            locked=wallet.locked,
            version=wallet.version,
        )


class Counterparty(BaseModel):
    id: uuid.UUID | None = Field(description="the other user; null for the bank")
    name: str


class TransactionOut(BaseModel):
    id: uuid.UUID
    kind: Literal["topup", "p2p", "withdrawal", "reversal"]
    status: Literal["processing", "unknown", "success", "failure"]
    amount: int
    currency: str
    direction: Literal["debit", "credit"] | None
    failure_reason: str | None
    reference: str | None = Field(description="what the bank quotes for top-ups and withdrawals")
    note: str | None
    counterparty: Counterparty | None
    reverses: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, view: TransactionView) -> TransactionOut:
        counterparty = None
        if view.counterparty_id is not None:
            counterparty = Counterparty(id=view.counterparty_id, name=view.counterparty_name or "")
        elif view.direction is not None:
            # The other side is a system account: OKANE itself for grants, else the bank.
            counterparty = Counterparty(id=None, name="OKANE" if view.kind == "p2p" else "Bank")
        return cls(
            id=view.id,
            kind=view.kind,
            status=view.status,
            amount=view.amount,
            currency=view.currency,
            direction=view.direction,
            failure_reason=view.failure_reason,
            reference=view.reference,
            note=view.note,
            counterparty=counterparty,
            reverses=view.reverses_id,
            created_at=view.created_at,
            updated_at=view.updated_at,
            settled_at=view.settled_at,
            expires_at=view.expires_at,
        )


class TransactionPage(BaseModel):
    data: list[TransactionOut]
    has_more: bool


class ContactOut(BaseModel):
    id: uuid.UUID = Field(description="pay them again by this id")
    name: str
    paid_as: str | None = Field(
        description="the phone or email you typed when you paid them (their own phone and "
        "email are never shown)"
    )
    last_paid_at: datetime
    payments: int

    @classmethod
    def of(cls, contact: ContactRecord) -> ContactOut:
        return cls(
            id=contact.user_id,
            name=contact.name,
            paid_as=contact.paid_as,
            last_paid_at=contact.last_paid_at,
            payments=contact.payments,
        )


class ContactList(BaseModel):
    data: list[ContactOut]
