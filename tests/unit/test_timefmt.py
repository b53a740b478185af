"""lmpspot.timefmt: the UTC ``...Z`` strings, byte for byte."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lmpspot.timefmt import utc_compact, utc_iso

T = 1796423505.123456  # 2026-12-04T22:31:45.123456Z


def test_utc_iso_digits() -> None:
    assert utc_iso(T) == "2026-12-04T22:31:45Z"
    assert utc_iso(T, digits=3) == "2026-12-04T22:31:45.123Z"
    assert utc_iso(T, digits=6) == "2026-12-04T22:31:45.123456Z"


def test_utc_compact_and_datetime() -> None:
    dt = datetime.fromtimestamp(T, timezone.utc)
    assert utc_compact(T) == "20261204T223145Z"
    assert utc_compact(dt, digits=6) == "20261204T223145.123456Z"
    assert utc_iso(dt, digits=6) == dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_now_and_bad_digits() -> None:
    assert utc_iso().endswith("Z") and len(utc_iso()) == 20
    with pytest.raises(ValueError):
        utc_iso(T, digits=2)
