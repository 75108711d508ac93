"""/v1/me/verification: prove one's phone (a six-digit code by SMS) or email (a link); and, in
development only, /dev/mailbox/messages: what the notification outbox holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, StrictStr

from okane_core.app import reads, verification
from okane_core.errors import NotFound
from okane_user_api.deps import CurrentUser, State
from okane_user_api.schemas import NO_NUL, Request, UserOut
from okane_user_api.verification import service
from okane_web.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["verification"])
mailbox_router = APIRouter(prefix="/dev/mailbox", tags=["development"])

Channel = Literal["phone", "email"]


class VerificationRequest(Request):
    channel: Channel


class VerificationSent(BaseModel):
    channel: Channel
    sent_to: str = Field(description="the address, masked")
    expires_in: int


class VerificationConfirm(Request):
    channel: Channel
    code: StrictStr = Field(
        min_length=4,
        max_length=128,
        pattern=NO_NUL,
        description="the six digits of the SMS, or the token of the email's link",
    )


class EmailLink(Request):
    token: StrictStr = Field(min_length=10, max_length=128, pattern=NO_NUL)


@router.post(
    "/me/verification",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        401, 409, 413, 422, 429, d409="already verified, or no such address on the account"
    ),
)
async def send_code(
    body: VerificationRequest, principal: CurrentUser, state: State
) -> VerificationSent:
    """Send a new code to your phone, or a new link to your email (earlier ones stop working)."""
    sent = await service.send_code(state, principal.user_id, body.channel)
    return VerificationSent(channel=body.channel, sent_to=sent.masked, expires_in=sent.expires_in)


@router.post(
    "/me/verification/confirm",
    responses=problem_responses(401, 403, 413, 422, d403="a wrong, used or expired code"),
)
async def confirm_code(body: VerificationConfirm, principal: CurrentUser, state: State) -> UserOut:
    """Prove the address with the code it received; a wrong code counts as one try."""
    user = await verification.confirm_verification(
        state.okane, principal.user_id, body.channel, body.code
    )
    return UserOut.of(user)


@router.post(
    "/email-verification",
    responses=problem_responses(403, 413, 422, d403="a wrong, used or expired link"),
)
async def confirm_email_link(body: EmailLink, state: State) -> UserOut:
    """The token of a verification email's link: proves the email without signing in."""
    return UserOut.of(await verification.confirm_email_link(state.okane, body.token))


class MailboxMessage(BaseModel):
    id: int
    channel: Channel
    to: str
    kind: str
    subject: str
    body: str
    created_at: datetime
    sent: bool


class Mailbox(BaseModel):
    messages: list[MailboxMessage]


@mailbox_router.get("/messages", responses=problem_responses(404, 422))
async def mailbox_messages(
    state: State,
    to: Annotated[str | None, Query(max_length=254, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Mailbox:
    """Development only (``OKANE_DEV_MAILBOX``): the newest notifications, to one address or
    to anyone."""
    if not state.settings.dev_mailbox:
        raise NotFound("the development mailbox is off")
    found = await reads.notifications(state.okane.uow, address=to, limit=limit)
    return Mailbox(
        messages=[
            MailboxMessage(
                id=n.id,
                channel="phone" if n.channel == "phone" else "email",
                to=n.address,
                kind=n.kind,
                subject=n.subject,
                body=n.body,
                created_at=n.created_at,
                sent=n.sent_at is not None,
            )
            for n in found
        ]
    )
