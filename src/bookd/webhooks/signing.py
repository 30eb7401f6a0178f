"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp`, `webhook-signature`."""

from __future__ import annotations

import base64
import functools
import secrets
from datetime import datetime

from standardwebhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@functools.lru_cache(maxsize=1024)
def _webhook(key: str) -> Webhook:
    # The key is decoded from base64 once, not at every attempt.
    return Webhook(key)


def headers(*, message_id: str, timestamp: datetime, body: str, keys: list[str]) -> dict[str, str]:
    """The signed headers; with several keys (during a rotation) one signature each, space-separated,
    as the scheme allows, so a receiver holding either secret verifies."""
    signatures = " ".join(_webhook(key).sign(message_id, timestamp, body) for key in keys)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "bookd-webhooks/1",
    }
