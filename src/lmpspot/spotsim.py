"""A trace-driven simulator of one simulation under a Spot/On-Demand policy.

It replays a :class:`lmpspot.spottrace.Trace` (Spot interruption notices and capacity
outages) through the life of one simulation the way Batch and the runner live it
(docs/DEADLINE.md, "The simulator").  Time 0 is the simulation's submission; all times
are seconds; nothing reads a clock, so a run is a pure function of its inputs.

* **Attempt.**  A job in the Spot queue waits while Spot has no capacity; a wait longer
  than the queue's capacity fallback (``capacity_fallback_s``: the compute role's
  ``compute_runnable_timeout_s``, 1800 s by default) is cancelled and resubmitted to the
  On-Demand queue.  Then an instance and container start and the job resumes from the
  last checkpoint: ``restart_s`` of billed, unproductive time.  An interruption notice
  during it ends the attempt.
* **Running.**  One second of running is one second of the work (``work_s``: the MD at
  the measured rate).  The runner checkpoints every ``checkpoint_interval_s`` of running.
  A Spot notice ends the attempt; with ``notice_checkpoint`` (the product's behaviour:
  the runner checkpoints in the notice's two minutes) no work is lost, without it the
  work since the last checkpoint is.  Batch retries the job in the same queue.
* **Policy.**  Asked at each attempt's start (after the restart, ``spot_lost`` when the
  attempt follows an interruption or a wait for capacity) and at each checkpoint; a move
  ends the attempt (checkpoint, exit) and submits the next one to the other queue.
  ``spot-only``: always Spot, waiting through outages (no capacity fallback).
  ``on-demand-only``: always On-Demand.  ``deadline``: :func:`lmpspot.deadline.decide`,
  told the changeover measured so far (mean time from an attempt's end to the next
  productive second, plus the work lost; the default before any), the interruptions
  per Spot hour so far and the capacity fallback (its ``capacity_wait_s``).  Its first
  queue is the policy's choice at submission.
* **Bill.**  Instance time (restarts and running) at the queue's price; waits are free.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from lmpspot.deadline import (
    DEFAULT_CAPACITY_WAIT_S,
    DEFAULT_CHANGEOVER_S,
    DEFAULT_SAFETY_FACTOR,
    ON_DEMAND,
    SPOT,
    Situation,
    decide,
)
from lmpspot.spottrace import HOUR, Trace

POLICIES = ("spot-only", "on-demand-only", "deadline")
# Prices relative to On-Demand when none are given (Spot at 35% of On-Demand: an
# assumption in the range AWS advertises, not a measured price).
DEFAULT_SPOT_PRICE = 0.35
DEFAULT_ON_DEMAND_PRICE = 1.0


@dataclass(frozen=True)
class Config:
    """One simulation to simulate.  Seconds; prices in USD (or any unit) per hour."""

    work_s: float
    deadline_s: float  # after the submission
    checkpoint_interval_s: float = 600.0
    restart_s: float = 300.0  # instance + container start + resume
    spot_price: float = DEFAULT_SPOT_PRICE
    on_demand_price: float = DEFAULT_ON_DEMAND_PRICE
    capacity_fallback_s: float | None = 1800.0  # compute_runnable_timeout_s; None: wait
    notice_checkpoint: bool = True
    default_changeover_s: float = DEFAULT_CHANGEOVER_S
    safety_factor: float = DEFAULT_SAFETY_FACTOR
    hysteresis_s: float | None = None

    def __post_init__(self) -> None:
        if self.work_s <= 0 or self.deadline_s <= 0:
            raise ValueError("work_s and deadline_s must be > 0")
        if self.checkpoint_interval_s <= 0 or self.restart_s < 0:
            raise ValueError("checkpoint_interval_s must be > 0 and restart_s >= 0")


@dataclass(frozen=True)
class Result:
    policy: str
    finish_s: float  # inf: never finished (the simulator's horizon)
    deadline_s: float
    met: bool
    spot_h: float
    on_demand_h: float
    cost: float
    interruptions: int
    moves: int  # policy moves between the queues
    fallbacks: int  # capacity fallbacks (Spot wait > capacity_fallback_s)
    lost_s: float  # work lost to interruptions (seconds of running)
    capacity_wait_s: float
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _State:
    queue: str
    t: float = 0.0
    saved: float = 0.0
    billed: dict[str, float] = field(default_factory=lambda: {SPOT: 0.0, ON_DEMAND: 0.0})
    interruptions: int = 0
    moves: int = 0
    fallbacks: int = 0
    attempts: int = 0
    lost_s: float = 0.0
    wait_s: float = 0.0
    spot_lost: bool = False
    pinned: bool = False
    returned: bool = False  # the last move was back to Spot, and Spot has not run since
    failed_returns: int = 0  # such returns in a row that ended in a capacity fallback
    down_since: float | None = None  # productive running stopped here (not yet resumed)
    down_lost: float = 0.0
    changeovers: list[float] = field(default_factory=list)


Chooser = Callable[[_State, bool], str]


class _Sim:
    def __init__(self, cfg: Config, trace: Trace, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy {policy!r} is not one of {POLICIES}")
        self.cfg, self.trace, self.policy = cfg, trace, policy
        self.choose: Chooser | None = self._deadline_choice if policy == "deadline" else None
        first = ON_DEMAND if policy == "on-demand-only" else SPOT
        self.st = _State(queue=first)
        if self.choose:
            self.st.queue = self.choose(self.st, False)
        # Beyond this the run is called unfinished (a pathological trace).
        self.horizon = 10 * (cfg.deadline_s + cfg.work_s) + 30 * 86400

    # -- the policy
    def changeover(self) -> float:
        c = self.st.changeovers
        return statistics.fmean(c) if c else self.cfg.default_changeover_s

    def rate(self) -> float:
        spot_h = self.st.billed[SPOT] / HOUR
        return self.st.interruptions / spot_h if spot_h > 0 else 0.0

    def _deadline_choice(self, st: _State, at_start: bool) -> str:
        cfg, fallback = self.cfg, self.cfg.capacity_fallback_s
        s = Situation(
            now=st.t,
            start=0.0,
            deadline=cfg.deadline_s,
            total_steps=max(1, round(cfg.work_s)),
            done_steps=min(int(st.saved), round(cfg.work_s)),
            rate=1.0,
            current=st.queue,
            changeover_s=self.changeover(),
            interruptions_per_hour=self.rate(),
            pinned=st.pinned,
            spot_lost=st.spot_lost and at_start,
            capacity_wait_s=DEFAULT_CAPACITY_WAIT_S if fallback is None else fallback,
            failed_returns=st.failed_returns,
        )
        d = decide(s, safety_factor=cfg.safety_factor, hysteresis_s=cfg.hysteresis_s)
        st.pinned = st.pinned or d.pinned
        return d.queue

    # -- the life of the simulation
    def run(self) -> Result:
        st = self.st
        while st.saved < self.cfg.work_s and st.t < self.horizon:
            st.attempts += 1
            self._wait_for_capacity()
            if self._start_instance() and not self._moved(at_start=True):
                st.spot_lost = False
                self._resumed()
                self._run()
        return self._result()

    def _wait_for_capacity(self) -> None:
        st, fallback = self.st, self.cfg.capacity_fallback_s
        if st.queue != SPOT:
            return
        ready = self.trace.spot_available_at(st.t)
        if ready <= st.t:
            return
        st.spot_lost = True
        if self.policy != "spot-only" and fallback is not None and ready - st.t > fallback:
            st.wait_s += fallback
            st.t += fallback
            st.queue = ON_DEMAND
            st.fallbacks += 1
            if st.returned:
                st.failed_returns += 1
        else:
            st.wait_s += ready - st.t
            st.t = ready

    def _start_instance(self) -> bool:
        """Restart overhead; False when a notice ends the attempt during it."""
        st = self.st
        end = st.t + self.cfg.restart_s
        hit = self.trace.next_interruption(st.t, end) if st.queue == SPOT else None
        if hit is not None:
            self._bill(hit - st.t)
            st.t = hit
            self._interrupted(0.0)
            return False
        self._bill(end - st.t)
        st.t = end
        return True

    def _run(self) -> None:
        st, cfg = self.st, self.cfg
        while True:
            end = min(st.t + cfg.checkpoint_interval_s, st.t + (cfg.work_s - st.saved))
            hit = self.trace.next_interruption(st.t, end) if st.queue == SPOT else None
            if hit is not None:
                ran = hit - st.t
                self._bill(ran)
                st.t = hit
                if cfg.notice_checkpoint:
                    st.saved += ran
                self._interrupted(0.0 if cfg.notice_checkpoint else ran)
                return
            self._bill(end - st.t)
            st.saved += end - st.t
            st.t = end
            if st.queue == SPOT:  # Spot ran: a return to it worked
                st.returned, st.failed_returns = False, 0
            if st.saved >= cfg.work_s - 1e-9:
                st.saved = cfg.work_s
                return
            if self._moved(at_start=False):
                return

    def _moved(self, *, at_start: bool) -> bool:
        st = self.st
        if self.choose is None:
            return False
        queue = self.choose(st, at_start)
        if queue == st.queue:
            return False
        st.moves += 1
        st.queue = queue
        st.returned = queue == SPOT
        st.spot_lost = False
        self._down(0.0)
        return True

    def _interrupted(self, lost: float) -> None:
        st = self.st
        st.interruptions += 1
        st.lost_s += lost
        st.spot_lost = True
        self._down(lost)

    def _down(self, lost: float) -> None:
        st = self.st
        if st.down_since is None:
            st.down_since, st.down_lost = st.t, 0.0
        st.down_lost += lost

    def _resumed(self) -> None:
        st = self.st
        if st.down_since is not None:
            st.changeovers.append(st.t - st.down_since + st.down_lost)
            st.down_since = None

    def _bill(self, seconds: float) -> None:
        self.st.billed[self.st.queue] += seconds

    def _result(self) -> Result:
        st, cfg = self.st, self.cfg
        done = st.saved >= cfg.work_s
        finish = st.t if done else math.inf
        spot_h, od_h = st.billed[SPOT] / HOUR, st.billed[ON_DEMAND] / HOUR
        return Result(
            policy=self.policy,
            finish_s=finish,
            deadline_s=cfg.deadline_s,
            met=finish <= cfg.deadline_s,
            spot_h=spot_h,
            on_demand_h=od_h,
            cost=spot_h * cfg.spot_price + od_h * cfg.on_demand_price,
            interruptions=st.interruptions,
            moves=st.moves,
            fallbacks=st.fallbacks,
            lost_s=st.lost_s,
            capacity_wait_s=st.wait_s,
            attempts=st.attempts,
        )


def simulate(cfg: Config, trace: Trace, policy: str) -> Result:
    """One simulation's life under ``policy`` ("spot-only", "on-demand-only", "deadline")."""
    return _Sim(cfg, trace, policy).run()


def summarize(results: Iterable[Result]) -> dict[str, Any]:
    """Mean cost, share of missed deadlines, mean finish (h) and the rest, over runs."""
    rs = list(results)
    if not rs:
        raise ValueError("no results to summarize")
    finite = [r.finish_s for r in rs if math.isfinite(r.finish_s)]
    return {
        "runs": len(rs),
        "mean_cost": statistics.fmean(r.cost for r in rs),
        "p_miss": sum(not r.met for r in rs) / len(rs),
        "mean_finish_h": statistics.fmean(finite) / HOUR if finite else math.inf,
        "unfinished": len(rs) - len(finite),
        "mean_spot_h": statistics.fmean(r.spot_h for r in rs),
        "mean_on_demand_h": statistics.fmean(r.on_demand_h for r in rs),
        "mean_interruptions": statistics.fmean(r.interruptions for r in rs),
        "mean_moves": statistics.fmean(r.moves for r in rs),
    }


def compare(
    cfg: Config, traces: Iterable[Trace], policies: Iterable[str] = POLICIES
) -> dict[str, dict[str, Any]]:
    """:func:`summarize` per policy over the same traces."""
    ts = list(traces)
    return {p: summarize(simulate(cfg, t, p) for t in ts) for p in policies}
