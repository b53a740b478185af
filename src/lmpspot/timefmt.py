"""UTC timestamps as text: the ``...Z`` strings lmpspot writes into records, keys and logs.

``t`` is epoch seconds, an aware :class:`~datetime.datetime` (formatted as given), or None
for now.  ``digits`` adds a fraction of a second: 0 (none), 3 (milliseconds, truncated) or
6 (microseconds).

* :func:`utc_iso` -- ISO 8601: ``2026-11-28T22:31:45Z``, ``...45.123Z``, ``...45.123456Z``
* :func:`utc_compact` -- sortable and safe in an S3 key: ``20261128T223145Z``,
  ``20261128T223145.123456Z``
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_datetime(t: float | datetime | None = None) -> datetime:
    """``t`` as a datetime: epoch seconds in UTC, a datetime as is, None: now (UTC)."""
    if t is None:
        return datetime.now(timezone.utc)
    if isinstance(t, datetime):
        return t
    return datetime.fromtimestamp(t, timezone.utc)


def _fraction(dt: datetime, digits: int) -> str:
    if digits == 0:
        return ""
    if digits == 3:
        return f".{dt.microsecond // 1000:03d}"
    if digits == 6:
        return f".{dt.microsecond:06d}"
    raise ValueError(f"digits must be 0, 3 or 6, not {digits!r}")


def utc_iso(t: float | datetime | None = None, *, digits: int = 0) -> str:
    """``2026-11-28T22:31:45Z`` (``digits`` 3: ``...45.123Z``, 6: ``...45.123456Z``)."""
    dt = utc_datetime(t)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(dt, digits) + "Z"


def utc_compact(t: float | datetime | None = None, *, digits: int = 0) -> str:
    """``20261128T223145Z`` (``digits`` 6: ``20261128T223145.123456Z``)."""
    dt = utc_datetime(t)
    return dt.strftime("%Y%m%dT%H%M%S") + _fraction(dt, digits) + "Z"
