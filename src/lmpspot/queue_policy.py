"""The deadline policy inside a running attempt (docs/DEADLINE.md).

A job submitted with a deadline carries it to the runner (``--deadline``, the job
parameter ``deadline``).  The runner asks :class:`AttemptPolicy` twice:

* when the attempt starts (after the resume point is known, before any MD step): the
  attempt follows an interruption or a wait for capacity when the previous attempt ended
  on a spot notice, vanished (host gone), or stopped long before this one started;
* at every periodic checkpoint.

When :func:`lmpspot.deadline.decide` picks the other queue, the runner checkpoints (at
the start: nothing to write, the resume checkpoint is committed) and exits with
``EXIT_MOVE_ON_DEMAND`` (22) or ``EXIT_MOVE_SPOT`` (23).  The job definition's retry
strategy ends the job there (``2*`` -> EXIT), and the compute layer's EventBridge rule
hands the FAILED event to its state machine, which submits the same job -- name,
definition, parameters (the deadline and sim_id among them), tags -- to the queue the
exit code names.  The next attempt resumes from the checkpoint.

Which queue an attempt is on: ``AWS_BATCH_JQ_NAME`` (Batch sets it) against the job
definition's ``LMPSPOT_SPOT_QUEUE`` / ``LMPSPOT_ONDEMAND_QUEUE``.  A job in neither (a
queue of your own) runs without the policy, and says so.

The history -- when the simulation started, how often Spot interrupted it, what a
changeover took -- comes from the runner's attempt records (:mod:`lmpspot.attempts`).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lmpspot.deadline import (
    DEFAULT_CAPACITY_WAIT_S,
    DEFAULT_CHANGEOVER_S,
    ON_DEMAND,
    REASON_PREFIX,
    SPOT,
    Decision,
    Situation,
    decide,
)
from lmpspot.ledger import parse_time as _epoch

LogFn = Callable[[str], None]
SPOT_QUEUE_ENV = "LMPSPOT_SPOT_QUEUE"
ONDEMAND_QUEUE_ENV = "LMPSPOT_ONDEMAND_QUEUE"
# The Spot queue's capacity fallback time (compute_runnable_timeout_s): the longest a Spot
# job waits for capacity before it goes On-Demand, part of the safety net's margin.
CAPACITY_WAIT_ENV = "LMPSPOT_CAPACITY_WAIT_S"
# An attempt that starts this long after its predecessor stopped waited for capacity.
WAIT_FACTOR = 1.0  # x changeover


def queue_kind(env: Mapping[str, str] | None = None) -> str | None:
    """``spot`` / ``on-demand`` for the queue this Batch job runs in; None when unknown."""
    env = os.environ if env is None else env
    name = (env.get("AWS_BATCH_JQ_NAME") or "").rsplit("/", 1)[-1]
    if not name:
        return None
    spot = (env.get(SPOT_QUEUE_ENV) or "").rsplit("/", 1)[-1]
    ondemand = (env.get(ONDEMAND_QUEUE_ENV) or "").rsplit("/", 1)[-1]
    if name == spot:
        return SPOT
    if name == ondemand:
        return ON_DEMAND
    return None


def _interrupted(rec: Mapping[str, Any]) -> bool:
    """The attempt ended because Spot took the instance (a notice, or the host vanished)."""
    reason = str(rec.get("exit_reason") or "").lower()
    if reason.startswith(REASON_PREFIX) or "window" in reason:
        return False
    if rec.get("stopped_estimated"):
        return True
    return rec.get("exit_code") == 75 and ("spot" in reason or "sigterm" in reason or "notice" in reason)


def _rate(rec: Mapping[str, Any]) -> float | None:
    start, stop = _epoch(rec.get("started")), _epoch(rec.get("stopped") or rec.get("updated"))
    first = (rec.get("resumed_from") or {}).get("step", 0) if isinstance(rec.get("resumed_from"), dict) else 0
    last = rec.get("last_step")
    if start is None or stop is None or last is None or stop - start < 1:
        return None
    steps = int(last) - int(first or 0)
    return steps / (stop - start) if steps > 0 else None


class History:
    """What the policy needs from the simulation's earlier attempts (oldest first)."""

    def __init__(
        self, records: Sequence[Mapping[str, Any]], *, now: float, changeover_s: float | None
    ) -> None:
        done = [r for r in records if r.get("stopped") or r.get("stopped_estimated")]
        starts = [t for t in (_epoch(r.get("started")) for r in records) if t is not None]
        self.start = min(starts) if starts else now
        self.interruptions = sum(1 for r in done if _interrupted(r))
        spot_s = sum(
            max(0.0, (_epoch(r.get("stopped")) or 0) - (_epoch(r.get("started")) or 0))
            for r in done
            if r.get("lifecycle") == SPOT
        )
        self.interruptions_per_hour = self.interruptions / (spot_s / 3600.0) if spot_s >= 600 else 0.0
        gaps = []
        for a, b in zip(done, records[1:], strict=False):
            t0, t1 = _epoch(a.get("stopped")), _epoch(b.get("started"))
            if t0 is not None and t1 is not None and t1 >= t0:
                gaps.append(t1 - t0)
        self.measured_changeover = statistics.median(gaps) if gaps else None
        self.changeover_s = float(
            changeover_s
            if changeover_s is not None
            else (self.measured_changeover if self.measured_changeover is not None else DEFAULT_CHANGEOVER_S)
        )
        prev = done[-1] if done else None
        self.previous = prev
        self.pinned = bool(((prev or {}).get("policy") or {}).get("pinned"))
        rates = [r for r in (_rate(x) for x in done) if r]
        self.rate = rates[-1] if rates else None
        self.records = list(records)

    def failed_returns(self, current: str) -> int:
        """Moves back to Spot in a row whose next attempt ran On-Demand anyway (the Spot job
        waited past the capacity fallback), counting this attempt as the newest."""
        seq = [*(str(r.get("lifecycle") or "") for r in self.records), current]
        reasons = [str(r.get("exit_reason") or "") for r in self.records]
        n = 0
        for i in range(len(reasons) - 1, -1, -1):
            if reasons[i].startswith(f"{REASON_PREFIX}: move to {SPOT}") and seq[i + 1] == ON_DEMAND:
                n += 1
            elif seq[i + 1] == SPOT or not reasons[i].startswith(REASON_PREFIX):
                break
        return n

    def spot_lost(self, now: float) -> bool:
        """This attempt follows an interruption or a wait for capacity."""
        if self.previous is None:
            return False
        if _interrupted(self.previous):
            return True
        stopped = _epoch(self.previous.get("stopped"))
        return stopped is not None and now - stopped > WAIT_FACTOR * self.changeover_s


class AttemptPolicy:
    """The deadline policy for one attempt (rank 0 of the runner)."""

    def __init__(
        self,
        deadline: float,
        current: str,
        records: Sequence[Mapping[str, Any]],
        *,
        now: float,
        changeover_s: float | None = None,
        capacity_wait_s: float = DEFAULT_CAPACITY_WAIT_S,
        log: LogFn | None = None,
    ) -> None:
        self.deadline = deadline
        self.capacity_wait_s = capacity_wait_s
        self.current = current
        self.history = History(records, now=now, changeover_s=changeover_s)
        self.log: LogFn = log or (lambda _m: None)
        self.last: Decision | None = None

    def situation(self, *, now: float, done: int, total: int, rate: float, spot_lost: bool) -> Situation:
        h = self.history
        return Situation(
            now=now,
            start=min(h.start, now),
            deadline=self.deadline,
            total_steps=total,
            done_steps=min(done, total),
            rate=rate,
            current=self.current,
            changeover_s=h.changeover_s,
            interruptions_per_hour=h.interruptions_per_hour,
            pinned=h.pinned or bool(self.last and self.last.pinned),
            capacity_wait_s=self.capacity_wait_s,
            failed_returns=h.failed_returns(self.current),
            spot_lost=spot_lost,
        )

    def at_start(self, *, now: float, done: int, total: int) -> Decision | None:
        """The decision before any MD step (None: no rate measured yet, stay)."""
        rate = self.history.rate
        if not rate or total <= 0:
            return None
        s = self.situation(now=now, done=done, total=total, rate=rate, spot_lost=self.history.spot_lost(now))
        self.last = decide(s)
        return self.last

    def at_checkpoint(self, *, now: float, done: int, total: int, rate: float) -> Decision | None:
        if rate <= 0 or total <= 0:
            return None
        self.last = decide(self.situation(now=now, done=done, total=total, rate=rate, spot_lost=False))
        return self.last


def move_reason(d: Decision) -> str:
    """The attempt's exit reason for a move (status and telemetry read its prefix)."""
    return f"{REASON_PREFIX}: move to {d.queue} ({d.reason})"


def policy_for(
    deadline: float | None,
    *,
    s3: Any,
    local_dir: Any,
    sim_id: str,
    own_uid: str | None,
    now: float,
    changeover_s: float | None = None,
    env: Mapping[str, str] | None = None,
    log: LogFn,
) -> AttemptPolicy | None:
    """The attempt's policy, or None (no deadline; a queue the policy does not know)."""
    if deadline is None:
        return None
    current = queue_kind(env)
    if current is None:
        log(
            "deadline set, but this job is not in the compute layer's Spot or On-Demand queue "
            f"(AWS_BATCH_JQ_NAME vs {SPOT_QUEUE_ENV}/{ONDEMAND_QUEUE_ENV}): the deadline policy is off"
        )
        return None
    from lmpspot.attempts import read_attempts, read_local_attempts  # noqa: PLC0415

    try:
        if s3 is not None:
            records = read_attempts(s3.client, s3.bucket, s3.base, sim_id)
        else:
            records = read_local_attempts(local_dir, sim_id)
    except Exception as e:  # the history is advice: without it the policy starts from defaults
        log(f"deadline policy: the attempt history could not be read ({e}); using defaults")
        records = []
    records = [r for r in records if r.get("uid") != own_uid]
    env = os.environ if env is None else env
    try:
        wait = float(env.get(CAPACITY_WAIT_ENV) or DEFAULT_CAPACITY_WAIT_S)
    except ValueError:
        wait = DEFAULT_CAPACITY_WAIT_S
    return AttemptPolicy(
        deadline, current, records, now=now, changeover_s=changeover_s, capacity_wait_s=wait, log=log
    )
