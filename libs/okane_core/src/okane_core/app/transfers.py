"""Use case: pay another user (``ledger.transfers``).

With batching on (the default), the transfer joins the process's next batch: one statement and
one commit for every transfer that arrived while the previous batch was in the database. Off,
it is a unit of work of its own. Either way the commit hook has run before the answer leaves.
"""

from __future__ import annotations

import uuid

from opentelemetry import trace

from okane_core.app.context import Okane
from okane_core.cache.outbox import Pending
from okane_core.ledger import transfers
from okane_core.ledger.repository.transfers import TRANSFERS_SQL
from okane_core.ledger.views import TransactionView

tracer = trace.get_tracer(__name__)


async def transfer(
    okane: Okane,
    *,
    user_id: uuid.UUID,
    to: str,
    amount: int,
    note: str | None,
    idempotency_key: str,
    session_id: uuid.UUID | None = None,
) -> tuple[TransactionView, bool]:
    """The transaction, and whether this request replays an earlier one with the same key.
    With ``session_id``, the session is checked live in the same round trip: a transfer of a
    session that has ended is refused (``unauthenticated``)."""
    request = transfers.prepare(
        okane.ledger,
        user_id=user_id,
        to=to,
        amount=amount,
        note=note,
        idempotency_key=idempotency_key,
        session_id=session_id,
    )
    if okane.transfers is None:
        (outcome,) = await okane.uow.write(lambda s: transfers.apply(okane.ledger, s, [request]))
    elif trace.get_current_span().is_recording():
        # The request's wait for its batch: the batch's own span links back to this one.
        with tracer.start_as_current_span(
            "okane_transfers_v3",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": TRANSFERS_SQL},
        ):
            outcome = await okane.transfers.submit(request)
    else:
        outcome = await okane.transfers.submit(request)  # untraced: no span to start
    view, replayed = outcome.result()
    if outcome.pending:
        await okane.cache.lease.settle_pending([Pending(*p) for p in outcome.pending])
    return view, replayed
