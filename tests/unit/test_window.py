"""lmpspot.window: window specs, open/closed over time (weekly with time zones and DST,
compressed cycles), and the watcher interface the runner polls."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from lmpspot.window import (
    REASON_WINDOW_CLOSED,
    AnyWatcher,
    CycleWindow,
    WeeklyWindow,
    WindowError,
    WindowWatcher,
    closed_now,
    parse_window,
    with_window,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(y, mo, d, h, mi, tz=BERLIN) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=tz).timestamp()


# 2026-11-30 is a Monday.
NIGHTS = "weekly 20:00-06:00 Europe/Berlin MON-FRI"


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (at(2026, 11, 30, 19, 59), False),  # Monday evening, before the opening
        (at(2026, 11, 30, 20, 0), True),  # opens
        (at(2026, 12, 1, 5, 59), True),  # Tuesday early morning: Monday's window
        (at(2026, 12, 1, 6, 0), False),  # closes
        (at(2026, 12, 1, 12, 0), False),
        (at(2026, 12, 5, 5, 0), True),  # Saturday 05:00: Friday's window
        (at(2026, 12, 5, 21, 0), False),  # Saturday evening: no window opens on SAT
        (at(2026, 12, 7, 1, 0), False),  # Monday 01:00: Sunday opened none
    ],
)
def test_weekly_overnight(when, is_open):
    assert parse_window(NIGHTS).is_open(when) is is_open


def test_weekly_next_change_and_dst():
    w = parse_window(NIGHTS)
    assert w.next_change(at(2026, 11, 30, 12, 0)) == at(2026, 11, 30, 20, 0)
    assert w.next_change(at(2026, 11, 30, 20, 0)) == at(2026, 12, 1, 6, 0)
    assert w.next_change(at(2026, 12, 5, 7, 0)) == at(2026, 12, 7, 20, 0)  # over the weekend
    # The night summer time ends (Sun 2026-10-25, 03:00 CEST -> 02:00 CET) is an hour longer.
    sun = parse_window("weekly 20:00-06:00 Europe/Berlin SAT")
    opens, closes = at(2026, 10, 24, 20, 0), at(2026, 10, 25, 6, 0)
    assert sun.next_change(opens) == closes
    assert closes - opens == 11 * 3600


def test_weekly_same_day_and_defaults():
    w = parse_window("weekly 07:00-19:00")
    assert isinstance(w, WeeklyWindow) and w.tz == "UTC" and len(w.days) == 7
    assert w.is_open(at(2026, 12, 6, 12, 0, timezone.utc))
    assert not w.is_open(at(2026, 12, 6, 19, 0, timezone.utc))
    assert parse_window(w.spec()) == w
    assert parse_window("weekly 22:00-02:00 SAT,SUN America/New_York").days == frozenset({5, 6})
    assert parse_window("weekly 22:00-02:00 FRI-MON").days == frozenset({4, 5, 6, 0})


def test_cycle():
    w = parse_window("cycle 10 5 1000")
    assert w == CycleWindow(10, 5, 1000)
    assert [w.is_open(t) for t in (1000, 1009.9, 1010, 1014.9, 1015)] == [True, True, False, False, True]
    assert w.next_change(1003) == 1010 and w.next_change(1012) == 1015
    assert w.is_open(985) and not w.is_open(998)  # before the anchor too
    assert parse_window(w.spec()) == w


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "empty"),
        ("nightly 20:00-06:00", "starts with"),
        ("weekly 20:00", "HH:MM-HH:MM"),
        ("weekly 8:00-06:00", "HH:MM"),
        ("weekly 20:00-24:00", "HH:MM"),
        ("weekly 20:00-20:00", "same time"),
        ("weekly 20:00-06:00 Mars/Olympus", "IANA"),
        ("weekly 20:00-06:00 UTC MON,FUN", "not a day"),
        ("cycle 10", "cycle OPEN_S"),
        ("cycle 0 5", "> 0"),
        ("cycle ten 5", "numbers"),
    ],
)
def test_bad_specs(spec, words):
    with pytest.raises(WindowError, match=words):
        parse_window(spec)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_watcher_fires_at_close_and_stays_fired():
    clock = Clock(1000.0)
    logs: list[str] = []
    w = WindowWatcher(CycleWindow(10, 5, 1000), interval=0.01, clock=clock, log=logs.append)
    with w:
        time.sleep(0.05)
        assert not w.notice.is_set() and not w.exit_required and w.reason is None
        clock.t = 1010.5
        assert w.notice.wait(2)
    assert w.exit_required and w.reason == REASON_WINDOW_CLOSED
    w.acknowledge()  # the runner acknowledges; a closed window stays closed
    assert w.notice.is_set()
    clock.t = 1016  # open again: this attempt still stops (the next one resumes)
    assert w.poll_once()
    assert any("closed" in m for m in logs)


def test_watcher_closed_from_the_start():
    w = WindowWatcher(CycleWindow(10, 5, 1000), clock=Clock(1012)).start()
    try:
        assert w.notice.is_set() and w.exit_required
    finally:
        w.stop()


class FakeSpot:
    """The SpotNoticeWatcher interface, driven by hand (a rebalance does not require exit)."""

    def __init__(self) -> None:
        self.notice = threading.Event()
        self.reason = None
        self.exit_required = False
        self.stopped = False

    def acknowledge(self) -> None:
        if not self.exit_required:
            self.notice.clear()
            self.reason = None

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped = True


def test_any_watcher_joins_spot_and_window():
    spot, clock = FakeSpot(), Clock(1000.0)
    window = WindowWatcher(CycleWindow(10, 5, 1000), interval=0.01, clock=clock)
    both = AnyWatcher(spot, window, interval=0.01).start()
    try:
        spot.reason = "rebalance"
        spot.notice.set()
        assert both.notice.wait(2)
        assert both.reason == "rebalance" and not both.exit_required
        both.acknowledge()
        assert not both.notice.is_set()
        clock.t = 1011
        assert both.notice.wait(2)
        assert both.reason == REASON_WINDOW_CLOSED and both.exit_required
    finally:
        both.stop()
    assert spot.stopped


def test_with_window_and_closed_now():
    spot = FakeSpot()
    assert with_window(spot, None) is spot
    assert closed_now(None) is None
    now = time.time()
    assert closed_now(f"cycle 3600 3600 {now - 10}") is None
    assert "closed until" in closed_now(f"cycle 3600 3600 {now - 3610}")
    w = with_window(None, f"cycle 3600 3600 {now - 10}")
    try:
        assert isinstance(w, WindowWatcher) and not w.notice.is_set()
    finally:
        w.stop()
    joined = with_window(spot, f"cycle 3600 3600 {now - 10}")
    try:
        assert isinstance(joined, AnyWatcher)
    finally:
        joined.stop()
