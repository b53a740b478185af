"""lmpspot.deadline: each rule of the policy, its safety net, hysteresis, and the parsing.

Situations are written in hours from the simulation's start, one MD step per second, so
``done_steps`` is also seconds of running done; the changeover is 15 min and the
capacity wait 30 min unless a test says otherwise (safety margin 2 x 15 + 30 = 60 min).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmpspot import deadline as dl
from lmpspot.deadline import ON_DEMAND, SPOT, Situation, decide

H = 3600.0
ROOT = Path(__file__).resolve().parents[2]


def sit(now_h: float, done_h: float, *, total_h: float = 10.0, deadline_h: float = 20.0, **kw) -> Situation:
    base = {
        "now": now_h * H,
        "start": 0.0,
        "deadline": deadline_h * H,
        "total_steps": int(total_h * H),
        "done_steps": int(done_h * H),
        "rate": 1.0,
        "current": SPOT,
        "changeover_s": 900.0,
        "capacity_wait_s": 1800.0,
    }
    base.update(kw)
    return Situation(**base)


def test_finished_stays_where_it_is():
    d = decide(sit(12, 10, current=ON_DEMAND))
    assert d.queue == ON_DEMAND and d.reason == "finished" and not d.pinned


@pytest.mark.parametrize("current", [SPOT, ON_DEMAND])
def test_infeasible_deadline_is_reported_and_pinned(current):
    # 8 h of work left, 7.9 h to the deadline: late even On-Demand.
    d = decide(sit(12.1, 2, current=current))
    assert d.queue == ON_DEMAND and d.pinned
    assert d.reason.startswith("the deadline cannot be met")
    assert d.slack_s == pytest.approx(-0.1 * H)


def test_infeasible_on_spot_counts_the_move():
    # Slack 10 min < one changeover (15 min): the move to On-Demand itself makes it late.
    d = decide(sit(12 - 1 / 6, 2))
    assert d.queue == ON_DEMAND and d.pinned and "cannot be met" in d.reason
    assert d.projected_finish == pytest.approx(20 * H + 300)  # 5 min late


@pytest.mark.parametrize("current", [SPOT, ON_DEMAND])
def test_safety_net_pins_on_demand_at_the_margin(current):
    # Slack exactly 60 min = 2 x 15 min + 30 min capacity wait.
    d = decide(sit(11, 2, current=current))
    assert d.queue == ON_DEMAND and d.pinned and d.reason.startswith("safety net")
    # One minute more slack: Spot is still allowed (ahead of the line doesn't matter on Spot).
    d = decide(sit(11 - 1 / 60, 2))
    assert d.queue == SPOT and not d.pinned


def test_safety_net_counts_the_capacity_wait():
    # 50 min of slack: enough for 2 changeovers alone, not with a 30 min wait for capacity.
    s = sit(11 + 1 / 6, 2)
    assert decide(s).queue == ON_DEMAND
    assert decide(sit(11 + 1 / 6, 2, capacity_wait_s=0.0)).queue == SPOT
    assert decide(s, safety_factor=1.0).queue == SPOT  # 15 + 30 min < 50 min


def test_pinned_stays_on_demand_even_far_ahead():
    d = decide(sit(1, 5, current=ON_DEMAND, pinned=True))
    assert d.queue == ON_DEMAND and d.pinned and d.reason.startswith("safety net")


def test_spot_lost_behind_the_line_goes_on_demand():
    # Line at 1 h -> 0.5 h done; done 0.4 h: behind by 0.2 h of wall time (line is 2x slower).
    d = decide(sit(1, 0.4, spot_lost=True))
    assert d.queue == ON_DEMAND and not d.pinned and "behind the line" in d.reason
    assert d.ahead_s == pytest.approx(-0.2 * H)
    assert d.projected_finish == pytest.approx(d.projected_finish_on_demand + 900)


def test_spot_kept_while_running_even_behind():
    assert decide(sit(1, 0.4)).queue == SPOT  # not lost: a running Spot instance is kept
    assert decide(sit(1, 0.6, spot_lost=True)).queue == SPOT  # lost but ahead


def test_back_to_spot_only_when_ahead_by_the_hysteresis():
    # On-Demand, ahead by 20 min < 2 x 15 min: stay; by 40 min: back to Spot.
    d = decide(sit(1, 0.5 + 10 / 60, current=ON_DEMAND))
    assert d.queue == ON_DEMAND and "to go back to Spot" in d.reason
    d = decide(sit(1, 0.5 + 20 / 60, current=ON_DEMAND))
    assert d.queue == SPOT and "back to Spot" in d.reason
    assert decide(sit(1, 0.5 + 10 / 60, current=ON_DEMAND), hysteresis_s=600).queue == SPOT


def test_hysteresis_prevents_flapping():
    """Checkpoints every 10 min on the way: one move back to Spot, then Spot is kept
    through the restart and after it (no move back and forth)."""
    queue, moves, t, done = ON_DEMAND, 0, 1.0, 0.45  # starts behind the line, On-Demand
    for _ in range(40):
        d = decide(sit(t, done, current=queue))
        if d.queue != queue:
            moves += 1
            queue = d.queue
            t += 0.25  # the changeover: 15 min without progress
            continue
        t += 1 / 6
        done += 1 / 6
    assert moves == 1 and queue == SPOT


def test_no_move_back_to_spot_into_the_safety_net():
    # Far ahead of the line, but slack 70 min: after a 15 min move, 55 min < 60 min margin.
    d = decide(sit(1, 1, total_h=2, deadline_h=2 + 70 / 60, current=ON_DEMAND))
    assert d.ahead_s == pytest.approx(35 * 60) and d.slack_s == pytest.approx(70 * 60)
    assert d.queue == ON_DEMAND and "safety net" in d.reason and not d.pinned


def test_project_adds_expected_interruptions_on_spot():
    s = sit(2, 2, interruptions_per_hour=0.5)  # 8 h left -> 4 interruptions x 15 min
    spot, od = dl.project(s)
    assert od == pytest.approx(10 * H)
    assert spot == pytest.approx(11 * H)


def test_record_and_line():
    d = decide(sit(5, 4))
    rec = d.as_record(36000)
    assert rec["total_steps"] == 36000 and rec["queue"] == SPOT
    assert rec["projected_finish"] == "1970-01-01T11:00:00Z"
    assert d.line_step == 9000 and dl.is_move(d, ON_DEMAND)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"current": "gpu"}, "current queue"),
        ({"deadline_h": 0.0}, "not after"),
        ({"total_h": 0.0}, "total_steps"),
    ],
)
def test_bad_situations(bad, message):
    with pytest.raises(ValueError, match=message):
        decide(sit(1, 0, **bad))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (None, None),
        ("", None),
        ("none", None),
        ("36h", 1000 + 36 * H),
        ("90m", 1000 + 5400),
        ("1.5d", 1000 + 1.5 * 86400),
        ("1970-01-02T00:00Z", 86400.0),
        ("1970-01-02T00:00:00", 86400.0),
        ("1970-01-02T02:00+02:00", 86400.0),
    ],
)
def test_parse_deadline(text, want):
    assert dl.parse_deadline(text, now=1000.0) == want


@pytest.mark.parametrize(("text", "now"), [("36h", None), ("tomorrow", 0.0), ("12x", 0.0)])
def test_parse_deadline_errors(text, now):
    with pytest.raises(dl.DeadlineError, match="deadline"):
        dl.parse_deadline(text, now=now)


def test_default_capacity_wait_is_the_compute_roles_runnable_timeout():
    defaults = yaml.safe_load((ROOT / "roles/compute/defaults/main.yml").read_text())
    assert float(defaults["compute_runnable_timeout_s"]) == dl.DEFAULT_CAPACITY_WAIT_S


def test_on_demand_after_a_spot_loss_runs_until_a_checkpoint():
    # The capacity fallback brought the attempt On-Demand, far ahead of the line: going
    # straight back would wait for the same outage again.
    d = decide(sit(1, 0.9, current=ON_DEMAND, spot_lost=True))
    assert d.queue == ON_DEMAND and "just lost" in d.reason and not d.pinned
    assert decide(sit(1, 0.9, current=ON_DEMAND)).queue == SPOT  # at the next checkpoint


def test_failed_returns_to_spot_back_off():
    """Each return to Spot in a row that found no capacity doubles the hysteresis."""
    from lmpspot.deadline import ON_DEMAND, SPOT, Situation, decide

    base = Situation(
        now=3600.0, start=0.0, deadline=86400.0, total_steps=100_000, done_steps=20_000, rate=10.0,
        current=ON_DEMAND, changeover_s=600.0, capacity_wait_s=1800.0,
    )  # fmt: skip
    ahead = decide(base).ahead_s  # 20% done at 1 h of 24 h: about 3.8 h ahead
    assert decide(base).queue == SPOT
    for n in range(4):
        d = decide(Situation(**{**base.__dict__, "failed_returns": n}))
        assert d.queue == (SPOT if ahead >= 1200.0 * 2**n else ON_DEMAND), (n, d)
    assert decide(Situation(**{**base.__dict__, "failed_returns": 4})).queue == ON_DEMAND


def test_history_counts_failed_returns():
    from lmpspot.queue_policy import History

    def rec(life, reason):
        return {"started": "2026-12-04T00:00:00Z", "stopped": "2026-12-04T00:10:00Z", "lifecycle": life,
                "exit_reason": reason, "exit_code": 23}  # fmt: skip

    spot_back = "deadline-policy: move to spot (ahead)"
    recs = [rec("spot", "checkpointed: SIGTERM"), rec("on-demand", spot_back), rec("on-demand", spot_back)]
    h = History(recs, now=1e10, changeover_s=60)
    assert h.failed_returns("on-demand") == 2
    assert h.failed_returns("spot") == 0  # this attempt got Spot: the streak is over
    recs.append(rec("spot", "checkpointed: SIGTERM"))
    assert History(recs, now=1e10, changeover_s=60).failed_returns("on-demand") == 0
