"""The lmpspot.aws.window_crons filter: cron pairs for weekly windows, same-day and overnight."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.schedule import FilterModule, window_crons

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


def test_filter_map():
    assert FilterModule().filters() == {"window_crons": window_crons}
