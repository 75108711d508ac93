"""Delivering the notification outbox: a dispatcher per process claims unsent notifications
(SKIP LOCKED, so replicas share the work and each is sent once per claim), hands each to the
configured sender and marks it sent in the same transaction. A send that fails is counted and
tried again on the next round (at least once; gateways deduplicate on the notification id)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from okane_core.db.uow import UnitOfWork
from okane_core.observability import metrics
from okane_core.settings import Settings
from okane_core.tasks import stop_surely
from okane_core.users import notifications
from okane_core.users.notifications import NotificationRecord
from okane_core.webhooks import signed_headers

log = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, notification: NotificationRecord) -> None:
        """Deliver one notification, or raise."""


class MailboxSender:
    """Development: the notification stays in the database, where the development mailbox
    (``/dev/mailbox``) shows it; sending it is marking it sent."""

    async def send(self, notification: NotificationRecord) -> None:
        return None


class WebhookSender:
    """An SMS and email gateway behind one HTTP endpoint: each notification is POSTed as JSON,
    signed with Standard Webhooks headers (``webhook-id`` is the notification id)."""

    def __init__(self, url: str, secret: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.secret = secret
        self.client = client or httpx.AsyncClient(timeout=5.0)

    async def send(self, notification: NotificationRecord) -> None:
        body = orjson.dumps(
            {
                "id": notification.id,
                "channel": notification.channel,
                "to": notification.address,
                "kind": notification.kind,
                "subject": notification.subject,
                "body": notification.body,
                "created_at": notification.created_at.isoformat(),
            }
        )
        headers = signed_headers(self.secret, f"ntf_{notification.id}", body)
        response = await self.client.post(
            self.url, content=body, headers={**headers, "content-type": "application/json"}
        )
        response.raise_for_status()


def sender_for(settings: Settings) -> Sender:
    if settings.notification_sender == "webhook":
        if not settings.notification_webhook_url or settings.notification_webhook_secret is None:
            raise ValueError(
                "the webhook notification sender needs OKANE_NOTIFICATION_WEBHOOK_URL and "
                "OKANE_NOTIFICATION_WEBHOOK_SECRET"
            )
        return WebhookSender(
            settings.notification_webhook_url,
            settings.notification_webhook_secret.get_secret_value(),
        )
    return MailboxSender()


async def deliver_pending(uow: UnitOfWork, sender: Sender, *, limit: int = 50) -> int:
    """One round: send what is unsent; returns how many were sent."""

    async def work(s: AsyncSession) -> int:
        pending = await notifications.claim_unsent(s, limit=limit)
        sent: list[int] = []
        failed: list[int] = []
        for notification in pending:
            try:
                await sender.send(notification)
            except Exception as error:  # noqa: BLE001 - counted, and tried again next round
                log.warning("notification %s not sent: %s", notification.id, error)
                failed.append(notification.id)
            else:
                sent.append(notification.id)
        if sent:
            await notifications.mark_sent(s, sent)
        if failed:
            await notifications.count_failure(s, failed)
        metrics.NOTIFICATIONS.labels("sent").inc(len(sent))
        metrics.NOTIFICATIONS.labels("failed").inc(len(failed))
        return len(sent)

    return await uow.write(work)


class Dispatcher:
    """Delivers the outbox every ``interval`` seconds in the background."""

    def __init__(self, uow: UnitOfWork, sender: Sender, *, interval: float = 1.0) -> None:
        self.uow = uow
        self.sender = sender
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_surely(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                while await deliver_pending(self.uow, self.sender) > 0:
                    pass
            except Exception as error:  # noqa: BLE001 - the database may be away; next round
                log.warning("notification delivery failed: %s", error)
            await asyncio.sleep(self.interval)
