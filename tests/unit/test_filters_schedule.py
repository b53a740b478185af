"""The lmpspot.aws.window_crons filter: cron pairs for weekly windows, same-day and overnight."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.schedule import (
    FilterModule,
    deadline_utc,
    window_crons,
    window_is_open,
)

WORKWEEK = ["MON", "TUE", "WED", "THU", "FRI"]


@pytest.mark.parametrize(
    ("open_time", "close_time", "days", "expected"),
    [
        (
            "07:00",
            "19:00",
            WORKWEEK,
            ("cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "cron(0 19 ? * MON,TUE,WED,THU,FRI *)"),
        ),
        (
            "20:00",
            "06:00",
            WORKWEEK,
            ("cron(0 20 ? * MON,TUE,WED,THU,FRI *)", "cron(0 6 ? * TUE,WED,THU,FRI,SAT *)"),
        ),
        ("22:30", "05:15", ["SUN"], ("cron(30 22 ? * SUN *)", "cron(15 5 ? * MON *)")),  # wraps the week
        ("00:00", "23:59", ["fri", "mon"], ("cron(0 0 ? * MON,FRI *)", "cron(59 23 ? * MON,FRI *)")),
    ],
)
def test_window_crons(open_time, close_time, days, expected):
    out = window_crons(open_time, close_time, days)
    assert (out["open"], out["close"]) == expected
    assert out["overnight"] == (close_time < open_time)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("7:00", "19:00", WORKWEEK), "HH:MM"),
        (("07:00", "24:00", WORKWEEK), "HH:MM"),
        (("07:00", "07:00", WORKWEEK), "equal"),
        (("07:00", "19:00", []), "non-empty"),
        (("07:00", "19:00", ["MON", "FUN"]), "FUN"),
        ((700, "19:00", WORKWEEK), "HH:MM"),
    ],
)
def test_window_crons_bad_input(args, words):
    with pytest.raises(AnsibleFilterError, match=words):
        window_crons(*args)


BERLIN_MON_2130 = 1796070600.0  # Monday 2026-11-30 21:30 Europe/Berlin (20:30 UTC)


@pytest.mark.parametrize(
    ("offset_h", "days", "expected"),
    [
        (0, WORKWEEK, True),  # Monday 21:30
        (-2, WORKWEEK, False),  # Monday 19:30
        (8, WORKWEEK, True),  # Tuesday 05:30 (Monday's window)
        (9, WORKWEEK, False),  # Tuesday 06:30
        (0, ["SUN"], False),
        (8, ["MON"], True),
    ],
)
def test_window_is_open(offset_h, days, expected):
    t = BERLIN_MON_2130 + offset_h * 3600
    assert window_is_open(t, "20:00", "06:00", days, "Europe/Berlin") is expected


def test_window_is_open_bad_zone():
    with pytest.raises(AnsibleFilterError, match="time zone"):
        window_is_open(0, "20:00", "06:00", WORKWEEK, "Mars/Olympus")


def test_filter_map():
    assert FilterModule().filters() == {
        "window_crons": window_crons,
        "window_is_open": window_is_open,
        "deadline_utc": deadline_utc,
    }


NOW = 1_798_000_000.0  # 2026-12-23T04:26:40Z


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("", "none"),
        ("none", "none"),
        (None, "none"),
        ("36h", "2026-12-24T16:26:40Z"),
        ("90m", "2026-12-23T05:56:40Z"),
        ("2d", "2026-12-25T04:26:40Z"),
        ("2027-01-05T18:00Z", "2027-01-05T18:00:00Z"),
        ("2027-01-05T19:00:00+01:00", "2027-01-05T18:00:00Z"),
        ("2027-01-05 18:00", "2027-01-05T18:00:00Z"),
    ],
)
def test_deadline_utc(value, want):
    assert deadline_utc(value, NOW) == want


@pytest.mark.parametrize(
    ("value", "msg"), [("soon", "neither a duration"), ("2026-01-01T00:00Z", "already past")]
)
def test_deadline_utc_refuses(value, msg):
    with pytest.raises(AnsibleFilterError, match=f"submit_deadline .*{msg}"):
        deadline_utc(value, NOW)
