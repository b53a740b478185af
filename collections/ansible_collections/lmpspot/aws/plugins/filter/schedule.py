# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EventBridge Scheduler cron expressions for a weekly window.  Pure functions."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: window_crons
short_description: The two Scheduler cron expressions that open and close a weekly window
description:
  - The window opens at O(_input) on each of O(weekdays) and closes at O(close_time). When
    O(close_time) is not later than the opening time the window runs past midnight and
    closes on the next day (a window opening FRI 20:00 and closing 06:00 closes SAT 06:00).
  - Returns C(cron(minutes hours ? * DAYS *)) expressions for M(lmpspot.aws.scheduler_schedule);
    they are read in the schedule's time zone.
positional: close_time, weekdays
options:
  _input: {description: Opening time, 24-hour C(HH:MM)., type: str, required: true}
  close_time: {description: Closing time, 24-hour C(HH:MM)., type: str, required: true}
  weekdays:
    description: Days on which the window opens (C(MON) ... C(SUN)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
crons: "{{ '20:00' | lmpspot.aws.window_crons('06:00', ['MON', 'TUE', 'WED', 'THU', 'FRI']) }}"
# -> {open: "cron(0 20 ? * MON,TUE,WED,THU,FRI *)", close: "cron(0 6 ? * TUE,WED,THU,FRI,SAT *)",
#     overnight: true}
"""

RETURN = r"""
_value:
  description: C(open) and C(close) cron expressions, and C(overnight) (the window spans midnight).
  type: dict
"""

DOCUMENTATION_WINDOW_IS_OPEN = r"""
name: window_is_open
short_description: Whether a weekly window is open at a given time
description:
  - The same window as P(lmpspot.aws.window_crons#filter) (and C(lmpspot.window) in the
    runtime), evaluated at the Unix time O(_input) in the time zone O(timezone).
positional: open_time, close_time, weekdays, timezone
options:
  _input: {description: Unix time (seconds)., type: float, required: true}
  open_time: {description: Opening time C(HH:MM)., type: str, required: true}
  close_time: {description: Closing time C(HH:MM)., type: str, required: true}
  weekdays: {description: Days the window opens., type: list, elements: str, required: true}
  timezone: {description: IANA time zone., type: str, default: UTC}
"""

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _hhmm(value, what):
    m = _HHMM.match(value) if isinstance(value, str) else None
    if not m:
        raise AnsibleFilterError(f'window_crons: {what} {value!r} must be a 24-hour "HH:MM" string')
    return int(m[1]), int(m[2])


def window_crons(open_time, close_time, weekdays) -> dict:
    """Cron expressions opening the window on ``weekdays`` and closing it after."""
    oh, om = _hhmm(open_time, "open time")
    ch, cm = _hhmm(close_time, "close time")
    if (oh, om) == (ch, cm):
        raise AnsibleFilterError("window_crons: the open and close times are equal")
    if not isinstance(weekdays, (list, tuple)) or not weekdays:
        raise AnsibleFilterError("window_crons: weekdays must be a non-empty list such as [MON, FRI]")
    days = [str(d).upper() for d in weekdays]
    bad = [d for d in days if d not in WEEKDAYS]
    if bad:
        raise AnsibleFilterError(f"window_crons: {bad} are not days; use {', '.join(WEEKDAYS)}")
    ordered = [d for d in WEEKDAYS if d in days]
    overnight = (ch, cm) < (oh, om)
    close_days = [WEEKDAYS[(WEEKDAYS.index(d) + 1) % 7] for d in ordered] if overnight else ordered
    close_days = [d for d in WEEKDAYS if d in close_days]
    return {
        "open": f"cron({om} {oh} ? * {','.join(ordered)} *)",
        "close": f"cron({cm} {ch} ? * {','.join(close_days)} *)",
        "overnight": overnight,
    }


def window_is_open(now, open_time, close_time, weekdays, timezone="UTC") -> bool:
    """True when the window is open at the Unix time ``now``."""
    from datetime import datetime, timedelta  # noqa: PLC0415
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    crons = window_crons(open_time, close_time, weekdays)  # validates the inputs
    try:
        zone = ZoneInfo(timezone)
        t = float(now)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError(
            f"window_is_open: bad time zone {timezone!r} or time {now!r}: {exc}"
        ) from exc
    (oh, om), (ch, cm) = _hhmm(open_time, "open time"), _hhmm(close_time, "close time")
    days = {WEEKDAYS.index(str(d).upper()) for d in weekdays}
    today = datetime.fromtimestamp(t, zone).date()
    for k in (-1, 0):
        day = today + timedelta(days=k)
        if day.weekday() not in days:
            continue
        opens = datetime(day.year, day.month, day.day, oh, om, tzinfo=zone)
        cday = day + timedelta(days=1) if crons["overnight"] else day
        closes = datetime(cday.year, cday.month, cday.day, ch, cm, tzinfo=zone)
        if opens.timestamp() <= t < closes.timestamp():
            return True
    return False


class FilterModule:
    def filters(self):
        return {"window_crons": window_crons, "window_is_open": window_is_open}
