"""Cursor pagination: lists are ordered by id; the cursor is the last id seen, made opaque."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypedDict, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from bookd.kit.errors import ValidationFailed
from bookd.kit.schemas import NO_NUL

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


# A forged cursor beyond the id column's range would fail in the database (a 500), not match nothing.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def decode_cursor(cursor: str | None, *, max_id: int = INT64_MAX) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix != "id" or not 0 <= int(value) <= max_id:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.on(
            "cursor", "invalid_cursor", "cursor is not one this API gave"
        ) from None


class Fetch(TypedDict):
    limit: int
    after_id: int | None


class PageParams(BaseModel):
    limit: int
    after_id: int | None

    def fetch(self) -> Fetch:
        """A list service's `limit` and `after_id` for this page: one more row than it shows, to
        know whether there are more."""
        return {"limit": self.limit + 1, "after_id": self.after_id}


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(pattern=NO_NUL, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    """Paging over a table with 64-bit ids."""
    return PageParams(limit=limit, after_id=decode_cursor(cursor))


def page_params_32(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(pattern=NO_NUL, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    """Paging over a table whose ids are 32-bit on PostgreSQL (services, bookings, triggers)."""
    return PageParams(limit=limit, after_id=decode_cursor(cursor, max_id=INT32_MAX))


def paged(
    rows: Sequence[R], limit: int, out: Callable[[R], T], *, key: Callable[[R], int]
) -> Page[T]:
    """The answer for `rows` fetched as up to limit+1 in id order: the first `limit` as `out`
    renders them, and a cursor (the last one's `key`) where there are more."""
    return Page(
        data=[out(row) for row in rows[:limit]],
        next_cursor=next_cursor([key(row) for row in rows], limit),
    )


# An endpoint's paging parameters, over 64-bit and 32-bit ids.
Paging = Annotated[PageParams, Depends(page_params)]
Paging32 = Annotated[PageParams, Depends(page_params_32)]


def next_cursor(ids: list[int], limit: int) -> str | None:
    """Call with up to limit+1 ids fetched; a cursor only when there is more."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None
