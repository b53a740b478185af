# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch checks of the account audit (docs/AUDIT.md): jobs stuck RUNNABLE, running jobs whose
newest checkpoint is stale."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import as_dt, finding


def _env(job: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in (job.get("container") or {}).get("environment", [])}


def check_runnable_jobs(jobs: Iterable[Mapping[str, Any]], now: datetime, max_age_s: int) -> list:
    """RUNNABLE jobs (DescribeJobs shape) waiting longer than ``max_age_s``.

    Batch does not say when a job became RUNNABLE: the wait counts from the later of its
    creation and its last attempt's stop (a retried job goes back to RUNNABLE then).
    """
    out = []
    for job in jobs:
        if job.get("status") != "RUNNABLE":
            continue
        since = [as_dt(job.get("createdAt"))]
        since += [as_dt((a or {}).get("stoppedAt")) for a in job.get("attempts", [])]
        ref = max(d for d in since if d is not None) if any(since) else None
        if ref is None:
            continue
        age = (now - ref).total_seconds()
        if age > max_age_s:
            out.append(
                finding(
                    "batch.stuck_runnable",
                    "medium",
                    job.get("jobArn", job["jobId"]),
                    f"job {job.get('jobName')} ({job['jobId']}) has been RUNNABLE for {age / 60:.0f} min "
                    f"(> audit_runnable_max_age_s {max_age_s} s): no capacity, or no environment fits it",
                    "Check the queue's compute environments (instance types, max vCPUs, Spot capacity); "
                    "the Spot queue's time limit resubmits starved jobs On-Demand",
                    job.get("jobName"),
                )
            )
    return out


def checkpoint_context(job: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Where a running job checkpoints, from its environment, with the config as fallback."""
    env = _env(job)
    params = job.get("parameters") or {}
    return {
        "sim_id": params.get("sim_id") or job["jobId"],
        "bucket": env.get("LMPSPOT_BUCKET") or defaults.get("bucket", ""),
        "prefix": env.get("LMPSPOT_CHECKPOINT_PREFIX") or defaults.get("prefix", "checkpoints/"),
        "interval": int(env.get("LMPSPOT_CHECKPOINT_INTERVAL") or defaults.get("interval", 600)),
    }


def check_checkpoint_age(
    jobs: Iterable[Mapping[str, Any]],
    newest_checkpoint: Callable[[str, str], datetime | None],
    defaults: Mapping[str, Any],
    now: datetime,
) -> list:
    """RUNNING jobs whose newest checkpoint (or attempt start) is older than 2x the interval.

    ``newest_checkpoint(bucket, prefix)`` gives the newest checkpoint manifest's time under
    ``s3://bucket/prefix`` (None without any).  A fresh attempt has until 2 intervals after
    its start to write its first checkpoint.
    """
    out = []
    for job in jobs:
        if job.get("status") != "RUNNING":
            continue
        ctx = checkpoint_context(job, defaults)
        prefix = f"{ctx['prefix'].rstrip('/')}/{ctx['sim_id']}/"
        ckpt = newest_checkpoint(ctx["bucket"], prefix) if ctx["bucket"] else None
        started = as_dt(job.get("startedAt"))
        ref = max((d for d in (ckpt, started) if d is not None), default=None)
        if ref is None:
            continue
        age = (now - ref).total_seconds()
        if age > 2 * ctx["interval"]:
            last = f"newest checkpoint {ckpt:%Y-%m-%dT%H:%M:%SZ}" if ckpt else "no checkpoint yet"
            out.append(
                finding(
                    "batch.stale_checkpoint",
                    "high",
                    job.get("jobArn", job["jobId"]),
                    f"running job {job.get('jobName')} (sim {ctx['sim_id']}): {last} in "
                    f"s3://{ctx['bucket']}/{prefix}, {age / 60:.0f} min ago (> 2 x interval "
                    f"{ctx['interval']} s): a spot reclaim now would lose that work",
                    "Look at the job's log (lmpspot progress lines, S3 upload errors, a hung LAMMPS); "
                    "lmpspot checkpoints verify --bucket B --job SIM_ID",
                    job.get("jobName"),
                )
            )
    return out
