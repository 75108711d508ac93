"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A message is signed with HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{raw body}`` using
the secret ``whsec_<base64>``; ``webhook-signature`` carries one or more space-separated
``v1,<base64 signature>`` entries (more than one while keys rotate). Verification checks the
timestamp against a tolerance window first, compares in constant time, and never parses the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from okane_core.errors import WebhookRejected

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 255


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from error
    if len(key) < 16:
        raise ValueError("a webhook secret needs at least 16 bytes of key")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one key."""
    mac = hmac.new(decode_secret(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
    }


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a delivery and return its ``webhook-id``; raise ``WebhookRejected`` otherwise.

    ``secrets`` may hold several keys (rotation): any one of them verifying is enough.
    """
    msg_id = headers.get("webhook-id", "")
    timestamp_text = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp_text or not signatures:
        raise WebhookRejected("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(msg_id) > MAX_ID_LENGTH or not msg_id.isprintable():
        raise WebhookRejected("webhook-id is not a valid id", field="webhook-id")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookRejected(
            "webhook-timestamp must be whole seconds since the epoch", field="webhook-timestamp"
        ) from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookRejected(
            f"webhook-timestamp is more than {tolerance} s away from now", field="webhook-timestamp"
        )
    candidates = []
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    signed = f"{msg_id}.{timestamp_text}.".encode() + body
    for secret in secrets:
        expected = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
        # compare_digest against every candidate: no early exit that would leak which matched.
        matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
        if any(matches):
            return msg_id
    raise WebhookRejected("no signature matches", field="webhook-signature")
