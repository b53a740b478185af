"""The night window: jobs run only while it is open (docs/NIGHT_WINDOW.md).

A window is a spec string (``--window`` of ``lmpspot run``, ``LMPSPOT_WINDOW``, and the
local executor's ``--window``):

* ``weekly OPEN-CLOSE [TZ] [DAYS]`` -- e.g. ``weekly 20:00-06:00 Europe/Berlin MON,TUE,WED``:
  opens at OPEN on each listed day (default: every day) in the IANA time zone TZ (default
  UTC) and closes at CLOSE, the next day when CLOSE is not later than OPEN.  The same
  settings the ``night_window`` role turns into EventBridge Scheduler schedules.
* ``cycle OPEN_S CLOSED_S [ANCHOR]`` -- a compressed window for tests and rehearsals: open
  for OPEN_S seconds, then closed for CLOSED_S seconds, repeating from the Unix time ANCHOR
  (default 0).

:class:`WindowWatcher` has the interface of :class:`lmpspot.imds.SpotNoticeWatcher` that
the runner polls (``notice`` event, ``exit_required``, ``reason``, ``acknowledge()``):
when the window closes, ``notice`` is set with ``reason == "window-closed"`` and
``exit_required`` True, so the runner takes its SIGTERM path -- checkpoint, sync, exit 75
(retryable); the retry waits until the window opens again and resumes from the checkpoint.
:class:`AnyWatcher` joins it with the spot watcher: the first notice wins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from lmpspot.timefmt import utc_iso

LogFn = Callable[[str], None]

REASON_WINDOW_CLOSED = "window-closed"
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class WindowError(ValueError):
    """A window spec that cannot be parsed (the message says how to write it)."""


def _hhmm(text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise WindowError(f'{text!r} is not a 24-hour "HH:MM" time')
    h, m = int(parts[0]), int(parts[1])
    if h > 23 or m > 59:
        raise WindowError(f'{text!r} is not a 24-hour "HH:MM" time')
    return h, m


def _days(text: str) -> frozenset[int]:
    out = set()
    for word in text.upper().split(","):
        if "-" in word:  # a range such as MON-FRI
            a, _, b = word.partition("-")
            if a not in WEEKDAYS or b not in WEEKDAYS:
                raise WindowError(f"{word!r} is not a day range like MON-FRI")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif word in WEEKDAYS:
            out.add(WEEKDAYS.index(word))
        else:
            raise WindowError(f"{word!r} is not a day; use {','.join(WEEKDAYS)} or ranges like MON-FRI")
    return frozenset(out)


@dataclass(frozen=True)
class CycleWindow:
    """Open ``open_s`` seconds, closed ``closed_s`` seconds, repeating from ``anchor``."""

    open_s: float
    closed_s: float
    anchor: float = 0.0

    def _phase(self, t: float) -> float:
        return (t - self.anchor) % (self.open_s + self.closed_s)

    def is_open(self, t: float) -> bool:
        return self._phase(t) < self.open_s

    def next_change(self, t: float) -> float:
        """The first instant after ``t`` at which the window opens or closes."""
        phase = self._phase(t)
        period = self.open_s + self.closed_s
        return t + (self.open_s - phase if phase < self.open_s else period - phase)

    def spec(self) -> str:
        return f"cycle {self.open_s:g} {self.closed_s:g} {self.anchor:.3f}"


@dataclass(frozen=True)
class WeeklyWindow:
    """Opens at ``open_hm`` on each of ``days`` (0 = Monday) in ``tz``, closes at ``close_hm``."""

    open_hm: tuple[int, int]
    close_hm: tuple[int, int]
    tz: str = "UTC"
    days: frozenset[int] = frozenset(range(7))

    def _zone(self) -> Any:
        if self.tz.upper() == "UTC":
            return timezone.utc
        from zoneinfo import ZoneInfo  # noqa: PLC0415

        return ZoneInfo(self.tz)

    def _intervals(self, t: float) -> list[tuple[float, float]]:
        """(open, close) Unix times of the windows opening from 8 days before ``t`` to 8 after."""
        zone = self._zone()
        today = datetime.fromtimestamp(t, zone).date()
        overnight = self.close_hm <= self.open_hm
        out = []
        for k in range(-8, 9):
            day = today + timedelta(days=k)
            if day.weekday() not in self.days:
                continue
            opens = datetime(day.year, day.month, day.day, *self.open_hm, tzinfo=zone)
            cday = day + timedelta(days=1) if overnight else day
            closes = datetime(cday.year, cday.month, cday.day, *self.close_hm, tzinfo=zone)
            out.append((opens.timestamp(), closes.timestamp()))
        return out

    def is_open(self, t: float) -> bool:
        return any(a <= t < b for a, b in self._intervals(t))

    def next_change(self, t: float) -> float:
        edges = [x for ab in self._intervals(t) for x in ab if x > t]
        return min(edges) if edges else t + 86400.0

    def spec(self) -> str:
        days = ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return (
            f"weekly {self.open_hm[0]:02d}:{self.open_hm[1]:02d}-{self.close_hm[0]:02d}:"
            f"{self.close_hm[1]:02d} {self.tz} {days}"
        )


Window = CycleWindow | WeeklyWindow


def parse_window(text: str) -> Window:
    """A window from its spec string (see the module doc)."""
    words = (text or "").split()
    if not words:
        raise WindowError("empty window spec")
    kind, args = words[0].lower(), words[1:]
    if kind == "cycle":
        if len(args) not in (2, 3):
            raise WindowError(f"{text!r}: write 'cycle OPEN_S CLOSED_S [ANCHOR_UNIX_TIME]'")
        try:
            nums = [float(a) for a in args]
        except ValueError as e:
            raise WindowError(f"{text!r}: OPEN_S, CLOSED_S and ANCHOR are numbers") from e
        if nums[0] <= 0 or nums[1] <= 0:
            raise WindowError(f"{text!r}: OPEN_S and CLOSED_S must be > 0")
        return CycleWindow(nums[0], nums[1], nums[2] if len(args) == 3 else 0.0)
    if kind == "weekly":
        if not 1 <= len(args) <= 3 or "-" not in args[0]:
            raise WindowError(f"{text!r}: write 'weekly HH:MM-HH:MM [TIME_ZONE] [MON,TUE,...]'")
        a, _, b = args[0].partition("-")
        open_hm, close_hm = _hhmm(a), _hhmm(b)
        if open_hm == close_hm:
            raise WindowError(f"{text!r}: the window opens and closes at the same time")
        tz, days = "UTC", frozenset(range(7))
        for extra in args[1:]:
            if extra.replace(",", "").replace("-", "").upper().isalpha() and extra.upper()[:3] in WEEKDAYS:
                days = _days(extra)
            else:
                tz = extra
        w = WeeklyWindow(open_hm, close_hm, tz, days)
        try:
            w._zone()  # validate the time zone now
        except Exception as e:  # ZoneInfoNotFoundError, ValueError
            raise WindowError(f"{text!r}: {tz!r} is not an IANA time zone (e.g. Europe/Berlin)") from e
        return w
    raise WindowError(f"{text!r}: a window spec starts with 'weekly' or 'cycle'")


def describe(window: Window, t: float | None = None) -> str:
    """``open until <time>`` / ``closed until <time>`` (UTC) for logs."""
    t = time.time() if t is None else t
    state = "open" if window.is_open(t) else "closed"
    until = utc_iso(window.next_change(t))
    return f"{state} until {until}"


class WindowWatcher:
    """Sets ``notice`` when the window is (or becomes) closed; see the module doc."""

    def __init__(
        self,
        window: Window,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.time,
        log: LogFn | None = None,
    ) -> None:
        self.window = window
        self.interval = interval
        self.clock = clock
        self.log: LogFn = log or (lambda msg: None)
        self.notice = threading.Event()
        self.reason: str | None = None
        self.closed_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def exit_required(self) -> bool:
        """A closed window always means: checkpoint, then exit."""
        return self.notice.is_set()

    def acknowledge(self) -> None:
        """Nothing to clear: a closed window stays closed for this attempt."""

    def poll_once(self) -> bool:
        """Check the window now; True when it is closed (and ``notice`` is set)."""
        if self.notice.is_set():
            return True
        now = self.clock()
        if self.window.is_open(now):
            return False
        self.closed_at = now
        self.reason = REASON_WINDOW_CLOSED
        self.notice.set()
        self.log(f"night window closed ({describe(self.window, now)}): checkpoint and stop")
        return True

    def start(self) -> WindowWatcher:
        if self._thread is None:
            self.poll_once()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lmpspot-window", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set() and not self.poll_once():
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> WindowWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AnyWatcher:
    """Several watchers as one (spot + window): ``notice`` is set when any is, and the
    reason and ``exit_required`` come from the first that fired."""

    def __init__(self, *watchers: Any, interval: float = 0.2) -> None:
        self.watchers = [w for w in watchers if w is not None]
        self.interval = interval
        self.notice = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fired(self) -> Any:
        return next((w for w in self.watchers if w.notice.is_set()), None)

    @property
    def reason(self) -> str | None:
        w = self._fired()
        return getattr(w, "reason", None) if w is not None else None

    @property
    def exit_required(self) -> bool:
        return any(w.notice.is_set() and getattr(w, "exit_required", True) for w in self.watchers)

    def acknowledge(self) -> None:
        for w in self.watchers:
            if hasattr(w, "acknowledge"):
                w.acknowledge()
        self._sync()

    def _sync(self) -> None:
        if self._fired() is not None:
            self.notice.set()
        else:
            self.notice.clear()

    def start(self) -> AnyWatcher:
        for w in self.watchers:
            if hasattr(w, "start"):
                w.start()
        self._sync()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lmpspot-watchers", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sync()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for w in self.watchers:
            if hasattr(w, "stop"):
                w.stop(timeout)


def with_window(spot: Any, spec: str | None, *, interval: float = 1.0, log: LogFn | None = None) -> Any:
    """``lmpspot run``'s watcher: the spot watcher (or None), joined with a started
    :class:`WindowWatcher` when ``spec`` names a window.  Raises :class:`WindowError`."""
    if not spec:
        return spot
    window = WindowWatcher(parse_window(spec), interval=interval, log=log).start()
    (log or (lambda msg: None))(f"night window {window.window.spec()}: {describe(window.window)}")
    return window if spot is None else AnyWatcher(spot, window).start()


def closed_now(spec: str | None) -> str | None:
    """When ``spec`` names a window that is closed now: why (for the log), else None."""
    if not spec:
        return None
    window = parse_window(spec)
    return None if window.is_open(time.time()) else f"night window {window.spec()}: {describe(window)}"
