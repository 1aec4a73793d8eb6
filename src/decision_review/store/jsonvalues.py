"""How values that JSON lacks (datetimes, Decimals, numpy numbers) become JSON, in one place.

Why one place: the JSON columns of the store and the canonical JSON of the audit log must turn a
Decimal or a numpy integer into the same JSON value, or an event would disagree with its row.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

UTC_TEXT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_json_value(value: Any) -> Any:
    """`default` hook for json.dumps: the non-JSON types a record legitimately carries, or TypeError.

    Aware datetimes become UTC text with microseconds and a Z (naive ones are refused), dates
    ISO text, Decimals their exact text (money is never a float), enums their value, numpy
    scalars and arrays plain numbers and lists.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value.isoformat()} (give a timezone-aware UTC time)")
        return value.astimezone(dt.UTC).strftime(UTC_TEXT_FORMAT)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"non-finite Decimal {value}")
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


_COLUMN_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=to_json_value)


def dumps(value: Any) -> str:
    """JSON text for a JSON column: NaN and Infinity refused (PostgreSQL's JSONB refuses them too).
    (One encoder for every call, as `audit.chain.canonical_json` does.)"""
    return _COLUMN_ENCODER.encode(value)
