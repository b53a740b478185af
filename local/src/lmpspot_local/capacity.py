"""Spot capacity as the local executor plays it: a replayed trace, and the queues' kinds.

A trace (:mod:`lmpspot.spottrace`, the policy simulator's format, docs/DEADLINE.md) says, in seconds after
the simulation's first job started, when Spot reclaims the instance and when Spot has no
capacity::

    {"seed": 7, "spot_interruptions_s": [95.0, 240.5], "spot_outages_s": [[120.0, 180.0]]}

On a Spot queue the executor publishes an interruption notice at the first trace
interruption inside an attempt (the runner checkpoints and exits 75, or the instance is
reclaimed after the notice lead), and holds an attempt that would start inside an outage
RUNNABLE until the outage ends -- or, past the queue's ``jobStateTimeLimitActions`` time
(or the executor's ``--capacity-wait-limit``), cancels it for lack of capacity as Batch
does, which hands it to the On-Demand fallback.  On-Demand queues are never interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class QueueKinds:
    """Which queues are Spot, and their capacity time limit (DescribeJobQueues/-ComputeEnvironments)."""

    batch: Any
    _spot: dict[str, bool] = field(default_factory=dict)
    _limit: dict[str, float | None] = field(default_factory=dict)

    def _describe(self, queue: str) -> None:
        name = queue.rsplit("/", 1)[-1]
        qs = self.batch.describe_job_queues(jobQueues=[queue]).get("jobQueues", [])
        if not qs:
            qs = self.batch.describe_job_queues(jobQueues=[name]).get("jobQueues", [])
        q = qs[0] if qs else {}
        ces = [c["computeEnvironment"] for c in q.get("computeEnvironmentOrder", [])]
        kinds = []
        if ces:
            for ce in self.batch.describe_compute_environments(computeEnvironments=ces).get(
                "computeEnvironments", []
            ):
                kinds.append((ce.get("computeResources") or {}).get("type"))
        self._spot[queue] = bool(kinds) and all(k in ("SPOT", "FARGATE_SPOT") for k in kinds)
        limits = [a.get("maxTimeSeconds") for a in q.get("jobStateTimeLimitActions", []) or []]
        self._limit[queue] = float(min(limits)) if limits and all(limits) else None

    def is_spot(self, queue: str) -> bool:
        if queue not in self._spot:
            self._describe(queue)
        return self._spot[queue]

    def time_limit(self, queue: str) -> float | None:
        if queue not in self._limit:
            self._describe(queue)
        return self._limit[queue]
