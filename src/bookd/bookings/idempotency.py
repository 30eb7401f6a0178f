"""Idempotent creation: an `Idempotency-Key` reserved in the request's transaction, the first
answer stored with it and given again to a repeat of the same request."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import update

from bookd.bookings.models import IdempotencyKey
from bookd.bookings.schemas import BookingCreate
from bookd.bookings.service import Context
from bookd.kit.db import insert_for
from bookd.kit.errors import Conflict


def request_fingerprint(data: BookingCreate) -> str:
    # `force` is left out unless set, so that keys stored before it existed still match.
    dumped = data.model_dump(mode="json", exclude=None if data.force else {"force"})
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim_idempotency_key(ctx: Context, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Reserve `key` for this request, or return the stored first answer.

    The reservation row is inserted first: a concurrent request with the same key waits on it
    (PostgreSQL's unique index; SQLite's single writer) and then finds the committed answer.
    """
    insert = insert_for(ctx.session)
    result = await ctx.session.execute(
        insert(IdempotencyKey)
        .values(
            workspace_id=ctx.workspace.id,
            key=key,
            request_hash=fingerprint,
            status_code=0,
            response_body="",
            created_at=ctx.now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "key"])
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return None
    stored = await ctx.session.get(IdempotencyKey, (ctx.workspace.id, key))
    assert stored is not None
    if stored.request_hash != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used with another request body",
            [
                {
                    "field": "Idempotency-Key",
                    "code": "idempotency_key_reused",
                    "message": "key reused",
                }
            ],
        )
    return stored


async def remember_answer(ctx: Context, key: str, status_code: int, body: str) -> None:
    await ctx.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.workspace_id == ctx.workspace.id, IdempotencyKey.key == key)
        .values(status_code=status_code, response_body=body)
    )
