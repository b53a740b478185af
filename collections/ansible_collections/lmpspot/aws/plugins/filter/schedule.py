# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EventBridge Scheduler cron expressions for a weekly window.  Pure functions."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils.config_schedule import WEEKDAYS

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


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([smhd])$")


def deadline_utc(value, now) -> str:
    """A simulation's deadline as the job parameter: ``none``, or ISO 8601 UTC.

    ``value``: empty/``none``, a duration from ``now`` (``36h``, ``5d``, ``90m``), or an
    ISO 8601 time (no zone: UTC).  It must lie after ``now`` (Unix time)."""
    from datetime import datetime, timezone  # noqa: PLC0415

    text = str(value or "").strip()
    if not text or text.lower() == "none":
        return "none"
    m = _DURATION.match(text.lower())
    if m:
        at = float(now) + float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    else:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise AnsibleFilterError(
                f"submit_deadline {text!r} is neither a duration (36h, 5d, 90m) nor an ISO 8601 "
                "time (2026-12-20T18:00Z); set it to one of those, or leave it empty for no deadline"
            ) from None
        at = (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    if at <= float(now):
        raise AnsibleFilterError(f"submit_deadline {text!r} is already past; give a later time or a duration")
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FilterModule:
    def filters(self):
        return {"window_crons": window_crons, "window_is_open": window_is_open, "deadline_utc": deadline_utc}
