"""The one writer of the JSON text bookd stores: event payloads and audit details, encoded with
orjson. The parts of a payload come from the API's schemas (`bookings.payloads`); times anywhere
else in a document are written as the schemas write them (`iso_z`: to the second, with a `Z`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

from bookd.kit.clock import iso_z

# Times are handed to `_time_text` (`iso_z`): orjson would write a time in another zone with its
# offset, not converted to UTC.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def dumps(data: Any) -> str:
    """Compact JSON text, non-ASCII kept as is, times as `iso_z` writes them: what
    `json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=iso_z)` writes, in C.
    A string orjson refuses (a lone surrogate, which a JSON body may spell as an
    escape) falls back to the standard library."""
    try:
        return orjson.dumps(data, default=_time_text, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_time_text)


def _time_text(value: Any) -> str:
    if isinstance(value, datetime):
        return iso_z(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
