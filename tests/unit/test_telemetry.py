"""lmpspot.telemetry: interruptions, steps lost, recovery, capacity waits, hours, cost, $/ns."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lmpspot.telemetry import fleet_telemetry, is_spot_interruption, ns_per_step, sim_telemetry, waits

RECLAIM = "Host EC2 (instance i-0abc) terminated."


@dataclass(frozen=True)
class StubPrice:
    usd_per_hour: float | None
    label: str = "stub table"
    synthetic: bool = False


PRICES = {("g6.xlarge", "spot"): 0.40, ("g6.xlarge", "on-demand"): 0.80}


def price_fn(itype: str, region: str, capacity: str) -> StubPrice:
    return StubPrice(PRICES.get((itype, capacity)))


def t(minutes: float) -> str:
    """An ISO time ``minutes`` after 2026-12-03 10:00 UTC."""
    s = int(round(minutes * 60))
    return f"2026-12-03T{10 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z"


def att(n, start, stop, cap="spot", code=0, reason="Essential container in task exited", **kw):
    return {
        "attempt": n,
        "started_at": t(start),
        "stopped_at": None if stop is None else t(stop),
        "exit_code": code,
        "status_reason": reason,
        "capacity": cap,
        "instance_type": "g6.xlarge",
        **kw,
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"status_reason": RECLAIM, "exit_code": None}, True),  # Batch: the host went away
        ({"exit_code": 75, "exit_reason": "checkpointed: spot-interruption"}, True),  # the runner's notice
        ({"exit_code": 75, "notice_at": t(5)}, True),
        ({"exit_code": 75, "notice_injected_at": t(5)}, True),  # the local executor's rehearsal
        ({"exit_code": 75, "exit_reason": "checkpointed: SIGTERM"}, False),  # a plain SIGTERM
        ({"exit_code": 75, "exit_reason": "checkpointed: SIGTERM", "window_closed_at": t(5)}, False),
        ({"exit_code": 75, "exit_reason": "deadline-policy: move to on-demand", "notice_at": t(5)}, False),
        ({"exit_code": 0}, False),
        ({"exit_code": 1, "status_reason": "Job attempt duration exceeded timeout"}, False),
        ({"stopped_at": None, "status_reason": RECLAIM}, False),  # still running
    ],
)
def test_what_counts_as_an_interruption(extra, expected):
    assert is_spot_interruption({**att(1, 0, 10), **extra}) is expected


def one_interruption():
    """Spot attempt reclaimed at 10:30 (notice 10:28), 500 steps lost; the retry waits
    10 min for capacity, starts 10:40, runs its first MD step 10:41, finishes on-demand."""
    return [
        att(1, 0, 30, code=75, reason=RECLAIM, notice_at=t(28), steps_lost=500, last_step=4500),
        att(2, 40, 100, cap="on-demand", first_step_at=t(41), resumed_from={"step": 4000}, last_step=10000),
    ]


def test_one_interruption_in_numbers():
    tel = sim_telemetry(
        one_interruption(), region="us-east-1", price_fn=price_fn, ns_per_step=2e-6,
        done_steps=10000, submitted_at=t(-5),
    )  # fmt: skip
    assert tel["attempts"] == 2 and tel["interruptions"] == 1
    (row,) = tel["interruption_list"]
    assert row["attempt"] == 1 and row["at"] == "2026-12-03T10:28:00Z" and row["steps_lost"] == 500
    assert row["recovery_s"] == 13 * 60  # notice 10:28 -> first new step 10:41
    assert row["restart_s"] == 12 * 60
    assert tel["steps_lost"] == 500 and tel["steps_lost_per_interruption"] == 500
    assert tel["recovery_s"]["mean"] == 780 and tel["recovery_s"]["count"] == 1
    assert tel["capacity_wait_s"] == 5 * 60 + 10 * 60  # submit -> start, end -> next start
    assert tel["hours"]["spot"] == pytest.approx(0.5) and tel["hours"]["on-demand"] == pytest.approx(1.0)
    assert tel["cost_usd"] == pytest.approx({"spot": 0.20, "on-demand": 0.80, "local": None, "unknown": None})
    assert tel["total_cost_usd"] == pytest.approx(1.00)
    assert tel["simulated_ns"] == pytest.approx(0.02)
    assert tel["usd_per_ns"] == pytest.approx(50.0)
    assert tel["deadline"] is None and tel["policy_queue"] is None


def test_recovery_falls_back_to_the_end_without_a_notice_and_is_unknown_without_a_first_step():
    atts = [att(1, 0, 30, code=None, reason=RECLAIM, steps_lost=7), att(2, 31, None)]
    tel = sim_telemetry(atts, region="us-east-1", price_fn=price_fn, now=0.0)
    (row,) = tel["interruption_list"]
    assert row["at"] == t(30) and row["recovery_s"] is None and row["restart_s"] == 60
    assert tel["recovery_s"]["count"] == 0 and tel["restart_s"]["mean"] == 60


def test_window_and_policy_stops_are_not_interruptions_and_window_waits_are_apart():
    atts = [
        att(1, 0, 10, code=75, exit_reason="checkpointed: SIGTERM", window_closed_at=t(9)),
        att(2, 70, 80, code=75, exit_reason="deadline-policy: projected finish after the deadline"),
        att(3, 85, 90, cap="on-demand"),
    ]
    tel = sim_telemetry(atts, region="us-east-1", price_fn=price_fn)
    assert tel["interruptions"] == 0 and tel["steps_lost"] == 0
    assert tel["window_wait_s"] == 3600 and tel["capacity_wait_s"] == 300
    assert tel["usd_per_ns"] is None  # no ns known


def test_submission_after_the_last_end_counts_from_the_submission():
    atts = [att(1, 0, 10), att(2, 60, 70)]
    assert [w["seconds"] for w in waits(atts, submitted_at=t(50))] == [600.0]
    assert [w["seconds"] for w in waits(atts, submitted_at=None)] == [3000.0]


def test_local_mode_has_hours_but_no_cost():
    atts = [att(1, 0, 30, cap="local", code=75, notice_injected_at=t(29), steps_lost=100),
            att(2, 30, 60, cap="local", first_step_at=t(31))]  # fmt: skip
    tel = sim_telemetry(atts, region="us-east-1", price_fn=price_fn, ns_per_step=1e-6, done_steps=1000)
    assert tel["interruptions"] == 1 and tel["recovery_s"]["mean"] == 120
    assert tel["hours"]["local"] == pytest.approx(1.0)
    assert tel["total_cost_usd"] is None and tel["usd_per_ns"] is None


def test_deadline_policy_fields_are_read_when_present():
    policy = {"queue": "on-demand", "reason": "behind the line", "projected_finish": t(200), "slack_s": -60}
    atts = [att(1, 0, 10, deadline=t(180)), att(2, 11, None, deadline=t(180), policy=policy)]
    tel = sim_telemetry(atts, region="us-east-1", price_fn=price_fn, now=0.0)
    assert (tel["deadline"], tel["projected_finish"], tel["policy_queue"]) == (t(180), t(200), "on-demand")


def test_ns_per_step_from_the_runner_status():
    st = {"sim_rate_per_day": 86.4, "steps_per_s": 1000, "sim_rate_unit": "ns/day"}
    assert ns_per_step(st) == pytest.approx(1e-6)
    assert ns_per_step({**st, "sim_rate_unit": "tau/day"}) is None
    assert ns_per_step(None) is None


def test_fleet_adds_the_simulations_up():
    kw = {"region": "us-east-1", "price_fn": price_fn, "ns_per_step": 2e-6}
    a = sim_telemetry(one_interruption(), done_steps=10000, **kw)
    b = sim_telemetry([att(1, 0, 60)], done_steps=30000, **kw)
    c = sim_telemetry([att(1, 0, 60, cap="local")], region="us-east-1", price_fn=price_fn)
    fleet = fleet_telemetry([a, b, c])
    assert fleet["simulations"] == 3 and fleet["attempts"] == 4
    assert fleet["interruptions"] == 1 and fleet["steps_lost"] == 500
    assert fleet["recovery_s"]["max"] == 780
    assert fleet["hours"] == pytest.approx({"spot": 1.5, "on-demand": 1.0, "local": 1.0, "unknown": 0.0})
    assert fleet["cost_usd"]["spot"] == pytest.approx(0.60) and fleet["cost_usd"]["local"] is None
    assert fleet["total_cost_usd"] == pytest.approx(1.40)
    assert fleet["usd_per_ns"] == pytest.approx(1.40 / 0.08)
    assert fleet_telemetry([])["usd_per_ns"] is None


def test_the_attempt_record_keeps_the_first_new_step_and_the_first_notice(tmp_path):
    from lmpspot.attempts import AttemptRecord, DirBackend, read_local_attempts

    rec = AttemptRecord([DirBackend(tmp_path)], "s1", lifecycle="spot")
    rec.set(resumed_from={"seq": 3, "stage": 0, "step": 4000})
    rec.step(4000)  # the resumed step itself: no MD step yet
    assert rec.data["first_step_at"] is None
    rec.step(4100)
    first = rec.data["first_step_at"]
    rec.step(4200)
    rec.notice()
    notice = rec.data["notice_at"]
    rec.notice()
    assert first is not None and rec.data["first_step_at"] == first and rec.data["notice_at"] == notice
    rec.stop(75, "checkpointed: spot-interruption")
    (back,) = read_local_attempts(tmp_path)
    assert back["first_step_at"] == first and back["notice_at"] == notice


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (None, {}),
        # a notice at 10:28, the attempt checkpointed and stopped at 10:30 (steps lost 0)
        ({"stopped": t(30), "exit_code": 75, "exit_reason": "checkpointed: spot-interruption",
          "notice_at": t(28), "steps_lost": 0},
         {"CapacityWaitSeconds": 600.0, "Interruptions": 1.0, "StepsLost": 0.0, "RecoverySeconds": 780.0}),
        # a vanished attempt closed by its successor: no notice seen, not counted
        ({"stopped": t(30), "exit_reason": "vanished (no stop recorded)", "steps_lost": 40},
         {"CapacityWaitSeconds": 600.0}),
        # the deadline policy moved it: a wait, not an interruption
        ({"stopped": t(30), "exit_code": 75, "exit_reason": "deadline-policy: move", "notice_at": t(29)},
         {"CapacityWaitSeconds": 600.0}),
    ],
)  # fmt: skip
def test_resume_events_for_the_fleet_metrics(previous, expected):
    from lmpspot.telemetry import resume_events

    current = {"started": t(40), "first_step_at": t(41)}
    assert resume_events(previous, current) == expected
