"""Secrets for the local stack only: generated once, kept in the data directory (mode 0600).

Deployed services get theirs from the environment (Kubernetes Secrets); nothing here is used
when the variables are set.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from okane_core.settings import Settings


def _generate() -> dict[str, str]:
    return {
        "OKANE_JWT_SECRET": secrets.token_urlsafe(48),
        "OKANE_BANK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def local_secrets(settings: Settings) -> dict[str, str]:
    """The secrets the environment does not provide, from (or created in) the data dir."""
    path = settings.data_dir / "local-secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = {k: v for k, v in _generate().items() if k not in stored}
    if missing:
        stored |= missing
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps(stored, indent=2))
    configured = {
        "OKANE_JWT_SECRET": settings.jwt_secret,
        "OKANE_BANK_WEBHOOK_SECRET": settings.bank_webhook_secret,
    }
    return {k: v for k, v in stored.items() if configured.get(k) is None}


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
