"""lmpspot.history: the runner's attempt records joined with the scheduler's attempts."""

from __future__ import annotations

import pytest

from lmpspot.history import history


def rec(started, stopped, job=None, n=None, code=0, lifecycle="spot"):
    return {
        "started": started,
        "stopped": stopped,
        "batch_job_id": job,
        "batch_attempt": n,
        "exit_code": code,
        "exit_reason": "r",
        "lifecycle": lifecycle,
        "instance_type": "g6.xlarge",
    }


def sched(n, started, stopped, reason="Essential container in task exited", code=0):
    return {"attempt": n, "started_at": started, "stopped_at": stopped, "status_reason": reason,
            "exit_code": code, "log": f"log-{n}"}  # fmt: skip


T0, T1, T2, T3 = (f"2026-12-03T10:0{i}:00.000Z" for i in range(4))


@pytest.mark.parametrize(
    ("records", "scheduler", "expected"),
    [
        # joined by (job id, attempt): Batch's reason and log join the runner's record
        ([rec(T0, T1, "j", 1, 75)], [sched(1, T0, T1, "Host EC2 (instance i-1) terminated.", 137)],
         [("runner", 75, "Host EC2 (instance i-1) terminated.", "log-1")]),
        # no job id in the record: joined by time (the runner started within the attempt)
        ([rec(T1, T2)], [sched(1, T0, T3)], [("runner", 0, "Essential container in task exited", "log-1")]),
        # another job's record is not joined; the scheduler's attempt stays on its own
        ([rec(T1, T2, "other", 1)], [sched(1, T0, T3)],
         [("batch", 0, "Essential container in task exited", "log-1"), ("runner", 0, "r", None)]),
        # an attempt the runner never recorded (no container) is listed, in time order
        ([rec(T2, T3, "j", 2)], [sched(1, T0, T1, "CannotPullContainerError: x", None), sched(2, T2, T3)],
         [("batch", None, "CannotPullContainerError: x", "log-1"),
          ("runner", 0, "Essential container in task exited", "log-2")]),
        # records only (Batch forgot the jobs)
        ([rec(T0, T1, "a", 1, 75), rec(T2, None, "b", 1, None)], [],
         [("runner", 75, "r", None), ("runner", None, "r", None)]),
    ],
)  # fmt: skip
def test_history(records, scheduler, expected):
    out = history(records, scheduler, job_id="j")
    assert [(a["source"], a["exit_code"], a["status_reason"], a.get("log")) for a in out] == expected
    assert [a["attempt"] for a in out] == list(range(1, len(out) + 1))
