# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the weekly window settings (``bastion_instance_schedule_*``, ``night_window_*``):
the ``schedule_problems`` filter, also part of ``config_problems``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.lmpspot.aws.plugins.module_utils.config_common import MISSING, as_bool, is_str_list

# The settings of a weekly window (bastion_instance_schedule_*, night_window_*); the bastion
# calls its opening and closing times start_time and stop_time.
SCHEDULE_KEYS = ("enabled", "timezone", "open_time", "close_time", "weekdays")
SCHEDULE_PREFIXES = {
    "bastion_instance_schedule_": ("enabled", "timezone", "start_time", "stop_time", "weekdays"),
    "night_window_": SCHEDULE_KEYS,
}
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _timezone_ok(name) -> bool:
    try:
        from zoneinfo import ZoneInfo  # noqa: PLC0415 (Python 3.9+; only needed here)

        ZoneInfo(name)
    except (ImportError, ValueError, KeyError, OSError):
        return False
    return True


def _window(prefix, cfg, problems):  # noqa: PLR0912 (one check per setting, in order)
    names = dict(zip(SCHEDULE_KEYS, SCHEDULE_PREFIXES[prefix], strict=True))
    keys = {k: cfg.get(f"{prefix}{names[k]}", MISSING) for k in SCHEDULE_KEYS}
    if all(v is MISSING for v in keys.values()):
        return
    enabled = keys["enabled"]
    if enabled is not MISSING and as_bool(enabled) is None:
        problems.append(f"{prefix}enabled: must be true or false, got {enabled!r}")
    tz = keys["timezone"]
    if tz is not MISSING and (not isinstance(tz, str) or not tz or not _timezone_ok(tz)):
        problems.append(
            f"{prefix}timezone: {tz!r} is not an IANA time zone; write e.g. UTC, Europe/Berlin or "
            "America/New_York"
        )
    times = {}
    for key in ("open_time", "close_time"):
        value = keys[key]
        if value is MISSING:
            continue
        if not isinstance(value, str) or not _HHMM.match(value):
            problems.append(
                f'{prefix}{names[key]}: {value!r} must be a 24-hour "HH:MM" string, e.g. "19:00" (quote it)'
            )
        else:
            times[key] = value
    if len(times) == 2 and times["open_time"] == times["close_time"]:
        problems.append(
            f"{prefix}{names['open_time']} and {prefix}{names['close_time']} are both "
            f"{times['open_time']!r}: the window would open and close at once; give them different times"
        )
    days = keys["weekdays"]
    if days is not MISSING:
        if not is_str_list(days) or not days:
            problems.append(
                f"{prefix}weekdays: {days!r} must be a non-empty list of days, e.g. [MON, TUE, WED, THU, FRI]"
            )
        else:
            bad = [d for d in days if d.upper() not in WEEKDAYS]
            if bad:
                problems.append(
                    f"{prefix}weekdays: {', '.join(map(repr, bad))} is not a day; use {', '.join(WEEKDAYS)}"
                )
            elif len({d.upper() for d in days}) != len(days):
                problems.append(f"{prefix}weekdays: {days!r} lists a day twice; list each day once")


def window_problems(cfg: Mapping) -> list:
    """Problems of the weekly window settings in ``cfg`` (setting name -> value)."""
    problems: list[str] = []
    for prefix in SCHEDULE_PREFIXES:
        _window(prefix, cfg, problems)
    return problems
