"""The deadline policy: finish a simulation by a date, on Spot while that is safe.

A simulation submitted with a deadline is moved between the Spot and the On-Demand queue
at its checkpoints by :func:`decide` (docs/DEADLINE.md).  The policy starts from Uniform
Progress (Wu et al., "Can't Be Late: Optimizing Spot Instance Savings under Deadlines",
NSDI'24): the *line* is the straight line from the simulation's start (0 steps) to the
deadline (all steps).  Progress is measured against it in seconds: ``ahead_s`` is how much
later than now the line reaches the steps already done (negative: behind the line).

Rules, in order (``changeover_s``: what one move or one interruption costs -- restart,
resume, the work since the last checkpoint, a wait for capacity; measured from the
simulation's history when it has one):

1. **Safety net.**  ``slack_s`` = time to the deadline - the On-Demand time the remaining
   steps need.  When ``slack_s <= safety_factor * changeover_s + capacity_wait_s`` the
   simulation goes (or stays) On-Demand, and does not come back: one more interruption
   could cost the deadline.  The worst one interruption costs is a wait for Spot capacity
   (at most ``capacity_wait_s``, the Spot queue's fallback to On-Demand), the restart on
   Spot and the move On-Demand: the margin holds all three.  On-Demand is not
   interrupted, so from there the finish is certain (as long as ``slack_s`` was not
   already below one changeover).
2. **Spot lost behind the line -> On-Demand.**  When Spot was just lost (the attempt
   starts after an interruption or a wait for capacity) and progress is behind the
   straight line, catch up On-Demand.  While a Spot instance runs, it makes progress as
   fast as On-Demand would, so it is kept (Uniform Progress uses Spot whenever it has it).
3. **Ahead again -> Spot.**  On On-Demand, go back to Spot once ``ahead_s`` reaches
   ``hysteresis_s`` (default ``2 * changeover_s``: a move and one interruption fit in it;
   doubled for each return to Spot in a row that found no capacity, ``failed_returns``:
   the policy cannot see Spot capacity, so it backs off instead of flapping),
   so the simulation does not flap at every checkpoint, and only while the move itself
   (one changeover) leaves the slack above the safety net's margin.  Not at the start of
   an On-Demand attempt that follows a Spot loss (the Spot queue's capacity fallback):
   that one runs until its first checkpoint, or a long outage would send it back to wait
   for Spot again and again, paying a restart each time for no progress.
4. Otherwise stay where it is.

:func:`project` gives the projected finish on either queue: On-Demand, the remaining
steps at the measured rate; Spot adds the expected interruptions over that time
(``interruptions_per_hour`` from the history) times ``changeover_s``.

Everything here is pure (no clock, no AWS): the runner, ``lmpspot status`` and the
policy simulator call it with what they measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

SPOT = "spot"
ON_DEMAND = "on-demand"
QUEUES = (SPOT, ON_DEMAND)
# What a move costs when the history has no measurement: a new instance and container
# (a few minutes on Batch), the resume, and on average half a checkpoint interval of work.
DEFAULT_CHANGEOVER_S = 900.0
DEFAULT_SAFETY_FACTOR = 2.0
# The longest a Spot attempt waits for capacity before the Spot queue hands it to the
# On-Demand queue: compute_runnable_timeout_s's default (roles/compute/defaults/main.yml,
# tests/unit/test_deadline.py keeps them equal); the runner passes the deployed setting.
DEFAULT_CAPACITY_WAIT_S = 1800.0
REASON_PREFIX = "deadline-policy"


class DeadlineError(ValueError):
    """A deadline that cannot be used (the message says how to write one)."""


def parse_deadline(text: str | None, *, now: float | None = None) -> float | None:
    """Epoch seconds of a deadline written as ISO 8601 (``2026-12-20T18:00Z``; no zone:
    UTC) or as a duration from ``now`` (``36h``, ``5d``, ``90m``); None/""/"none": no deadline."""
    if text is None or not str(text).strip() or str(text).strip().lower() == "none":
        return None
    t = str(text).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if t[-1:].lower() in units and t[:-1].replace(".", "", 1).isdigit():
        if now is None:
            raise DeadlineError(f"deadline {text!r} is relative: it needs the submission time")
        return now + float(t[:-1]) * units[t[-1].lower()]
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DeadlineError(
            f"deadline {text!r} is neither an ISO 8601 time (2026-12-20T18:00Z) nor a duration (36h, 5d)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass(frozen=True)
class Situation:
    """What the policy is told.  Times are epoch seconds."""

    now: float
    start: float  # the simulation's first attempt started (the line's origin)
    deadline: float
    total_steps: int
    done_steps: int  # steps safe in a checkpoint (or done, when deciding at a checkpoint)
    rate: float  # MD steps per second while running (measured)
    current: str  # the queue the simulation is on now: "spot" | "on-demand"
    changeover_s: float = DEFAULT_CHANGEOVER_S
    interruptions_per_hour: float = 0.0  # on Spot, from the history
    pinned: bool = False  # the safety net already chose On-Demand for good
    # Spot was just lost: this attempt follows an interruption or a wait for capacity.
    spot_lost: bool = False
    # The Spot queue's capacity fallback (compute_runnable_timeout_s): the longest wait for
    # Spot capacity one interruption can bring before the job runs On-Demand.
    capacity_wait_s: float = DEFAULT_CAPACITY_WAIT_S
    # Returns to Spot in a row that ended in a capacity fallback (no Spot progress between).
    failed_returns: int = 0


@dataclass(frozen=True)
class Decision:
    queue: str
    reason: str
    slack_s: float
    ahead_s: float
    line_step: int
    projected_finish: float  # on ``queue``, counting the move when it is one
    projected_finish_spot: float
    projected_finish_on_demand: float
    pinned: bool  # the safety net holds the simulation On-Demand

    def as_record(self, total_steps: int) -> dict[str, Any]:
        """The JSON the runner writes into its attempt record (``policy``)."""
        d = asdict(self)
        for k in ("projected_finish", "projected_finish_spot", "projected_finish_on_demand"):
            d[k] = _iso(d[k])
        d["slack_s"] = round(self.slack_s, 1)
        d["ahead_s"] = round(self.ahead_s, 1)
        d["total_steps"] = int(total_steps)
        return d


def _dur(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h`` (the reasons are read by people)."""
    a = abs(seconds)
    if a < 120:
        return f"{seconds:.0f} s"
    if a < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _iso(t: float) -> str | None:
    if not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(s: Situation) -> None:
    if s.current not in QUEUES:
        raise ValueError(f"current queue {s.current!r} is not one of {QUEUES}")
    if s.deadline <= s.start:
        raise ValueError("the deadline is not after the simulation's start")
    if s.total_steps <= 0:
        raise ValueError("total_steps must be positive")


def line_step(s: Situation) -> int:
    """Where the straight line from (start, 0) to (deadline, total) is at ``now``."""
    frac = (s.now - s.start) / (s.deadline - s.start)
    return int(round(s.total_steps * min(max(frac, 0.0), 1.0)))


def ahead_s(s: Situation) -> float:
    """Seconds by which the line reaches ``done_steps`` after now (< 0: behind it)."""
    reached = s.start + (s.deadline - s.start) * (s.done_steps / s.total_steps)
    return reached - s.now


def remaining_s(s: Situation) -> float:
    """Running time the steps still to do need at the measured rate."""
    left = max(s.total_steps - s.done_steps, 0)
    if left == 0:
        return 0.0
    return left / s.rate if s.rate > 0 else math.inf


def project(s: Situation) -> tuple[float, float]:
    """Projected finish (epoch) on Spot and on On-Demand, from now without a move."""
    run = remaining_s(s)
    on_demand = s.now + run
    expected_interruptions = s.interruptions_per_hour * run / 3600.0
    spot = s.now + run + expected_interruptions * s.changeover_s
    return spot, on_demand


def decide(
    s: Situation, *, safety_factor: float = DEFAULT_SAFETY_FACTOR, hysteresis_s: float | None = None
) -> Decision:
    """The queue the simulation should be on now, and why."""
    _check(s)
    run = remaining_s(s)
    slack = s.deadline - s.now - run
    ahead = ahead_s(s)
    spot_finish, od_finish = project(s)
    hyst = (2.0 * s.changeover_s if hysteresis_s is None else hysteresis_s) * 2 ** min(s.failed_returns, 6)
    safety = safety_factor * s.changeover_s + s.capacity_wait_s

    def out(queue: str, reason: str, pinned: bool = False) -> Decision:
        move = queue != s.current
        finish = (spot_finish if queue == SPOT else od_finish) + (s.changeover_s if move else 0.0)
        return Decision(
            queue=queue,
            reason=reason,
            slack_s=slack,
            ahead_s=ahead,
            line_step=line_step(s),
            projected_finish=finish,
            projected_finish_spot=spot_finish,
            projected_finish_on_demand=od_finish,
            pinned=pinned,
        )

    if s.done_steps >= s.total_steps:
        return out(s.current, "finished")
    if slack < (0.0 if s.current == ON_DEMAND else s.changeover_s):
        late = -slack if s.current == ON_DEMAND else s.changeover_s - slack
        return out(ON_DEMAND, f"the deadline cannot be met: about {_dur(late)} late On-Demand", True)
    if s.pinned or slack <= safety:
        return out(
            ON_DEMAND,
            f"safety net: slack {_dur(slack)} <= {safety_factor:g} x changeover "
            f"({_dur(s.changeover_s)}) + capacity wait ({_dur(s.capacity_wait_s)})",
            True,
        )
    return out(*_on_or_off_spot(s, slack, ahead, safety, hyst))


def _on_or_off_spot(s: Situation, slack: float, ahead: float, safety: float, hyst: float) -> tuple[str, str]:
    """Rules 2-4 (the safety net has let the simulation choose): the queue and why."""
    if s.current == SPOT:
        if s.spot_lost and ahead < 0:
            return ON_DEMAND, f"Spot lost {_dur(-ahead)} behind the line: catching up On-Demand"
        return SPOT, f"on Spot, {_dur(ahead)} ahead of the line"
    if s.spot_lost:
        return ON_DEMAND, "Spot was just lost (capacity fallback): On-Demand until a checkpoint"
    if ahead < hyst:
        return ON_DEMAND, f"ahead of the line by {_dur(ahead)} (< {_dur(hyst)} to go back to Spot)"
    if slack - s.changeover_s <= safety:
        return ON_DEMAND, "ahead of the line, but the move to Spot would leave the slack in the safety net"
    return SPOT, f"ahead of the line by {_dur(ahead)} (>= {_dur(hyst)}): back to Spot"


def is_move(d: Decision, current: str) -> bool:
    """True when the decision moves the simulation off ``current``."""
    return d.queue != current
