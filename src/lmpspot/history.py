"""A simulation's attempt history, from the runner's own records in S3.

Every ``lmpspot run`` attempt writes ``<checkpoint prefix><sim_id>/attempts/<start>-<uid>.json``
(:mod:`lmpspot.attempts`), on AWS and locally alike.  Those records are the history:
they outlive AWS Batch's job retention (about a week), span every job of the simulation
(the Spot job, its retries, the On-Demand fallback's job, a resubmission), and say what
only the runner knows (the checkpoint it resumed from, the steps it lost).

What the scheduler knows and the runner does not -- Batch's ``statusReason`` ("Host EC2
... terminated."), the container's log stream, an attempt whose container never started,
the local executor's decision -- comes from Batch's ``DescribeJobs`` attempts or the local
executor's job record (which plays DescribeJobs locally) and is joined in by
(job id, attempt number).

:func:`history` returns ledger-shaped attempts (:mod:`lmpspot.ledger`): ``attempt``
(1-based over the whole simulation), ``started_at``, ``stopped_at``, ``exit_code``,
``status_reason``, ``instance_type``, ``capacity``, plus the runner's ``batch_job_id``,
``batch_attempt``, ``host``, ``exit_reason``, ``resumed_from``, ``last_checkpoint``,
``last_step``, ``steps_lost``, ``first_step_at``, ``notice_at`` (and the deadline
policy's ``deadline`` and ``policy`` where recorded) and ``source`` (``runner``, or ``batch``/``local`` for an
attempt the runner never recorded).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lmpspot.ledger import LOCAL, parse_time

_log = logging.getLogger(__name__)

RUNNER_FIELDS = (
    "batch_job_id",
    "batch_attempt",
    "host",
    "exit_reason",
    "resumed_from",
    "last_checkpoint",
    "last_step",
    "steps_lost",
    "stopped_estimated",
    "first_step_at",
    "notice_at",
    # the deadline policy's (absent from records written without it)
    "deadline",
    "policy",
)
# What a scheduler's attempt adds to the runner's record of the same attempt.
SCHEDULER_FIELDS = ("log", "log_stream", "action", "why", "notice_injected_at", "window_closed_at")


def runner_records(
    s3: Any,
    bucket: str,
    checkpoint_prefix: str,
    sim_id: str,
    names: list[str] | dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The runner's attempt records of ``sim_id`` (oldest first); [] when there are none
    or they cannot be read (the caller falls back to what the scheduler says).
    ``names``: the records' object names (or name -> ETag), when already listed (else
    they are listed); see :func:`lmpspot.attempts.read_attempts`."""
    from lmpspot.attempts import read_attempts  # noqa: PLC0415 (botocore only when used)

    if names is not None and not names:
        return []
    try:
        return read_attempts(s3, bucket, checkpoint_prefix, sim_id, names)
    except Exception as exc:  # no history is not an error for status
        _log.warning("attempt records of %s unreadable: %s", sim_id, exc)
        return []


def from_runner(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One runner record, ledger-shaped."""
    lifecycle = rec.get("lifecycle")
    out = {
        "started_at": rec.get("started"),
        "stopped_at": rec.get("stopped"),
        "exit_code": rec.get("exit_code"),
        "status_reason": rec.get("exit_reason"),
        "instance_type": LOCAL if lifecycle == LOCAL else rec.get("instance_type"),
        "capacity": lifecycle,
        "instance_id": None,
        "source": "runner",
    }
    out.update({k: rec.get(k) for k in RUNNER_FIELDS if k in rec})
    return out


def _join(runner: dict[str, Any], sched: Mapping[str, Any]) -> dict[str, Any]:
    """The runner's record with what the scheduler knows of the same attempt."""
    out = dict(runner)
    for k in SCHEDULER_FIELDS:
        if sched.get(k) is not None:
            out[k] = sched[k]
    if sched.get("status_reason"):  # Batch's words ("Host EC2 ...") drive the ledger's labels
        out["status_reason"] = sched["status_reason"]
    if out.get("exit_code") is None:
        out["exit_code"] = sched.get("exit_code")
    if out.get("stopped_at") is None and sched.get("stopped_at"):
        out["stopped_at"] = sched["stopped_at"]
    for k in ("instance_type", "capacity", "instance_id"):
        if not out.get(k) and sched.get(k):
            out[k] = sched[k]
    return out


def _by_time(
    rec: Mapping[str, Any], sched: Mapping[int, Mapping[str, Any]], used: set[int], job_id: str | None
) -> int | None:
    """The scheduler's attempt a runner record without job ids (a runner started outside
    Batch and the executor's emulation) belongs to: the one it started within."""
    if rec.get("batch_job_id") not in (None, job_id):
        return None
    t = parse_time(rec.get("started"))
    if t is None:
        return None
    for n, a in sched.items():
        start, stop = parse_time(a.get("started_at")), parse_time(a.get("stopped_at"))
        end = stop if stop is not None else t
        if n not in used and start is not None and start - 1.0 <= t <= end + 1.0:
            return n
    return None


def history(
    records: Iterable[Mapping[str, Any]],
    scheduler: Iterable[Mapping[str, Any]] = (),
    *,
    job_id: str | None = None,
    scheduler_source: str = "batch",
) -> list[dict[str, Any]]:
    """Every attempt of a simulation, oldest first, numbered 1.. over all its jobs.

    ``records``: the runner's (:func:`runner_records`); ``scheduler``: ledger-shaped
    attempts of the job ``job_id`` as Batch or the local executor reports them.
    """
    sched = {int(a.get("attempt") or 0): a for a in scheduler}
    used: set[int] = set()
    out = []
    for rec in records:
        row = from_runner(rec)
        n = rec.get("batch_attempt")
        if not (job_id is not None and rec.get("batch_job_id") == job_id and isinstance(n, int)):
            n = _by_time(rec, sched, used, job_id)
        if n in sched and n not in used:
            row = _join(row, sched[n])
            used.add(n)
        out.append(row)
    for n, a in sched.items():
        if n not in used:  # the runner never recorded it (e.g. the container never started)
            out.append({**a, "batch_job_id": job_id, "batch_attempt": n, "source": scheduler_source})
    out.sort(key=lambda a: parse_time(a.get("started_at")) or 0.0)
    for i, a in enumerate(out, start=1):
        a["attempt"] = i
    return out
