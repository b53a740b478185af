"""Interruption telemetry: what spot capacity cost a simulation in steps, time and money.

Pure functions over the ledger-shaped attempts of :func:`lmpspot.history.history`
(oldest first) and the cost ledger of :func:`lmpspot.ledger.cost_ledger`; no AWS call.

Per simulation (:func:`sim_telemetry`):

``interruptions``
    attempts that a spot interruption ended: Batch's ``Host EC2 ... terminated``, a
    notice the runner received (``notice_at``) or the local executor injected
    (``notice_injected_at``), or the runner's exit 75 with a spot-notice reason.  Not
    counted: a night window that closed (``window_closed_at``), a move by the deadline
    policy (an ``exit_reason`` starting ``deadline-policy``), a plain SIGTERM.
``steps_lost``
    per interruption, the MD steps run past the last committed checkpoint (the
    runner's ``steps_lost``); their sum.
``recovery_s``
    per interruption, from the notice (else the attempt's end) to the first new MD step
    of the next attempt (its ``first_step_at``).  ``restart_s`` is the same to the next
    attempt's start (what is known for records written before ``first_step_at``).
``capacity_wait_s``
    the time no attempt ran while the simulation waited for an instance: from an
    attempt's end (or the job's submission, ``submitted_at``) to the next attempt's
    start.  A wait after a night window closed is ``window_wait_s`` instead.
``hours``/``cost_usd``
    by capacity (``spot``, ``on-demand``, ``local``, ``unknown``), from the ledger.
``usd_per_ns``
    the priced cost divided by the simulated ns done (``done_steps x ns_per_step``);
    None in LJ units, in local mode (no price), or with nothing done.
``deadline``, ``projected_finish``, ``policy_queue``
    from the deadline policy's fields of the runner's newest attempt record, when present.

:func:`fleet_telemetry` adds the per-simulation dicts up.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from lmpspot.ledger import PriceFn, cost_ledger, iso, parse_time

CAPACITIES = ("spot", "on-demand", "local", "unknown")
SPOT_REASONS = ("spot-interruption", "spot interruption", "notice")
POLICY_PREFIX = "deadline-policy"


def _reasons(a: Mapping[str, Any]) -> tuple[str, str]:
    return str(a.get("status_reason") or ""), str(a.get("exit_reason") or "")


def is_policy_move(a: Mapping[str, Any]) -> bool:
    """The deadline policy stopped this attempt to move the simulation to another queue."""
    return any(r.startswith(POLICY_PREFIX) for r in _reasons(a))


def is_spot_interruption(a: Mapping[str, Any]) -> bool:
    """A finished attempt that a spot interruption ended (see the module doc)."""
    if not a.get("stopped_at") or is_policy_move(a) or a.get("window_closed_at"):
        return False
    status_reason, exit_reason = _reasons(a)
    if status_reason.startswith("Host EC2") or a.get("notice_at") or a.get("notice_injected_at"):
        return True
    if a.get("exit_code") == 75:
        text = f"{status_reason} {exit_reason}".lower()
        return any(r in text for r in SPOT_REASONS)
    return False


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "total": 0.0, "mean": None, "median": None, "max": None}
    return {
        "count": len(values),
        "total": float(sum(values)),
        "mean": float(statistics.fmean(values)),
        "median": float(statistics.median(values)),
        "max": float(max(values)),
    }


def _since(t1: float | None, t0: float | None) -> float | None:
    return None if t0 is None or t1 is None else max(0.0, t1 - t0)


def _notice_time(a: Mapping[str, Any]) -> float | None:
    times = [parse_time(a.get(k)) for k in ("notice_at", "notice_injected_at")]
    known = [t for t in times if t is not None]
    return min(known) if known else parse_time(a.get("stopped_at"))


def interruptions(attempts: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per interruption: the attempt, its steps lost, recovery and restart times."""
    rows = []
    for i, a in enumerate(attempts):
        if not is_spot_interruption(a):
            continue
        t0 = _notice_time(a)
        nxt = attempts[i + 1] if i + 1 < len(attempts) else {}
        lost = a.get("steps_lost")
        rows.append(
            {
                "attempt": a.get("attempt", i + 1),
                "at": iso(t0),
                "capacity": a.get("capacity"),
                "reason": a.get("status_reason") or a.get("exit_reason"),
                "steps_lost": int(lost) if isinstance(lost, (int, float)) else None,
                "recovery_s": _since(parse_time(nxt.get("first_step_at")), t0),
                "restart_s": _since(parse_time(nxt.get("started_at")), t0),
            }
        )
    return rows


def waits(attempts: list[Mapping[str, Any]], submitted_at: Any = None) -> list[dict[str, Any]]:
    """The gaps before each attempt: from the previous attempt's end, or from the job's
    submission when that is later (a resubmitted job), to the attempt's start."""
    sub = parse_time(submitted_at)
    out = []
    prev: Mapping[str, Any] = {}
    for i, a in enumerate(attempts):
        start = parse_time(a.get("started_at"))
        candidates = [parse_time(prev.get("stopped_at"))]
        if sub is not None and start is not None and sub <= start:
            candidates.append(sub)
        known = [t for t in candidates if t is not None]
        if start is not None and known:
            kind = "window" if prev.get("window_closed_at") else "capacity"
            out.append(
                {"attempt": a.get("attempt", i + 1), "kind": kind, "seconds": max(0.0, start - max(known))}
            )
        prev = a
    return out


def _by_capacity(ledger: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {c: {"hours": 0.0, "cost_usd": None} for c in CAPACITIES}
    for r in ledger.get("attempts") or []:
        cap = r.get("capacity") if r.get("capacity") in CAPACITIES else "unknown"
        out[cap]["hours"] = float(out[cap]["hours"] or 0.0) + float(r.get("hours") or 0.0)
        if r.get("cost_usd") is not None:
            out[cap]["cost_usd"] = float(out[cap]["cost_usd"] or 0.0) + float(r["cost_usd"])
    return out


def ns_per_step(status: Mapping[str, Any] | None) -> float | None:
    """Simulated ns per MD step from the runner's status (rate / (steps/s x 86400))."""
    st = status or {}
    rate, sps = st.get("sim_rate_per_day"), st.get("steps_per_s")
    if st.get("sim_rate_unit") != "ns/day" or not rate or not sps:
        return None
    return float(rate) / (float(sps) * 86400.0)


def _deadline_fields(attempts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The deadline policy's view from the newest attempt that recorded one (may be absent)."""
    for a in reversed(attempts):
        pol = a.get("policy") if isinstance(a.get("policy"), Mapping) else {}
        if a.get("deadline") or pol:
            return {
                "deadline": a.get("deadline") or pol.get("deadline"),
                "projected_finish": pol.get("projected_finish"),
                "policy_queue": pol.get("queue"),
                "policy_reason": pol.get("reason"),
                "slack_s": pol.get("slack_s"),
                "total_steps": pol.get("total_steps"),
            }
    return {"deadline": None, "projected_finish": None, "policy_queue": None, "policy_reason": None,
            "slack_s": None, "total_steps": None}  # fmt: skip


def sim_telemetry(
    attempts: Iterable[Mapping[str, Any]],
    *,
    region: str,
    price_fn: PriceFn | None = None,
    ns_per_step: float | None = None,
    done_steps: int | None = None,
    submitted_at: Any = None,
    ledger: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One simulation's telemetry (see the module doc) as a JSON-ready dict.

    ``ledger``: the cost ledger of the same attempts when the caller has it already
    (else it is computed with ``price_fn``).
    """
    atts = list(attempts)
    led = ledger if ledger is not None else cost_ledger(atts, region, price_fn=price_fn, now=now)
    intr = interruptions(atts)
    gaps = waits(atts, submitted_at)
    lost = [r["steps_lost"] for r in intr if r["steps_lost"] is not None]
    caps = _by_capacity(led)
    priced = [c["cost_usd"] for c in caps.values() if c["cost_usd"] is not None]
    cost = float(sum(priced)) if priced else None
    ns = done_steps * ns_per_step if done_steps and ns_per_step else None
    return {
        "attempts": len(atts),
        "interruptions": len(intr),
        "interruption_list": intr,
        "steps_lost": int(sum(lost)),
        "steps_lost_per_interruption": (sum(lost) / len(lost)) if lost else None,
        "recovery_s": _stats([r["recovery_s"] for r in intr if r["recovery_s"] is not None]),
        "restart_s": _stats([r["restart_s"] for r in intr if r["restart_s"] is not None]),
        "capacity_wait_s": float(sum(g["seconds"] for g in gaps if g["kind"] == "capacity")),
        "window_wait_s": float(sum(g["seconds"] for g in gaps if g["kind"] == "window")),
        "waits": gaps,
        "hours": {c: v["hours"] for c, v in caps.items()},
        "cost_usd": {c: v["cost_usd"] for c, v in caps.items()},
        "total_cost_usd": cost,
        "simulated_ns": ns,
        "usd_per_ns": cost / ns if cost is not None and ns else None,
        **_deadline_fields(atts),
    }


def resume_events(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, float]:
    """The fleet EMF events (:data:`lmpspot.progress.EVENT_UNITS`) a resumed attempt reports
    once, after its first new MD step: the capacity wait since the previous attempt's end
    and, when a spot interruption ended it, the interruption, its lost steps and the
    recovery time.  ``previous``/``current``: runner attempt records (:mod:`lmpspot.attempts`)."""
    if not previous:
        return {}
    from lmpspot.history import from_runner  # noqa: PLC0415 (history imports nothing of ours but ledger)

    prev = from_runner(previous)
    out: dict[str, float] = {}
    wait = _since(parse_time(current.get("started")), parse_time(prev.get("stopped_at")))
    if wait is not None:
        out["CapacityWaitSeconds"] = wait
    if is_spot_interruption(prev):
        out["Interruptions"] = 1.0
        if isinstance(prev.get("steps_lost"), (int, float)):
            out["StepsLost"] = float(prev["steps_lost"])
        rec = _since(parse_time(current.get("first_step_at")), _notice_time(prev))
        if rec is not None:
            out["RecoverySeconds"] = rec
    return out


def fleet_telemetry(sims: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet's sums over :func:`sim_telemetry` dicts (one per simulation)."""
    sims = list(sims)
    intr = [r for s in sims for r in s.get("interruption_list") or []]
    lost = [r["steps_lost"] for r in intr if r.get("steps_lost") is not None]
    hours = {c: float(sum((s.get("hours") or {}).get(c) or 0.0 for s in sims)) for c in CAPACITIES}
    cost: dict[str, float | None] = {}
    for c in CAPACITIES:
        vals = [(s.get("cost_usd") or {}).get(c) for s in sims]
        known = [v for v in vals if v is not None]
        cost[c] = float(sum(known)) if known else None
    priced = [v for v in cost.values() if v is not None]
    # $/ns over the simulations that have both a cost and simulated ns
    both = [s for s in sims if s.get("total_cost_usd") is not None and s.get("simulated_ns")]
    ns = sum(float(s["simulated_ns"]) for s in both)
    return {
        "simulations": len(sims),
        "attempts": int(sum(int(s.get("attempts") or 0) for s in sims)),
        "interruptions": len(intr),
        "steps_lost": int(sum(lost)),
        "steps_lost_per_interruption": (sum(lost) / len(lost)) if lost else None,
        "recovery_s": _stats([r["recovery_s"] for r in intr if r.get("recovery_s") is not None]),
        "capacity_wait_s": float(sum(float(s.get("capacity_wait_s") or 0.0) for s in sims)),
        "window_wait_s": float(sum(float(s.get("window_wait_s") or 0.0) for s in sims)),
        "hours": hours,
        "cost_usd": cost,
        "total_cost_usd": float(sum(priced)) if priced else None,
        "usd_per_ns": (sum(float(s["total_cost_usd"]) for s in both) / ns) if ns else None,
        "with_deadline": sum(1 for s in sims if s.get("deadline")),
    }


__all__ = [
    "fleet_telemetry",
    "interruptions",
    "is_policy_move",
    "is_spot_interruption",
    "ns_per_step",
    "resume_events",
    "sim_telemetry",
    "waits",
]
