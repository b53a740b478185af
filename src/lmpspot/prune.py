"""Retention for finished simulations: ``lmpspot checkpoints prune-finished``.

The runner's syncer already keeps the newest N verified checkpoints of the job it runs.
What it cannot do is clean up after itself once the job has ended (a job killed between
an upload and its prune, a retention lowered later, a run with a larger retention).
This module walks every simulation under ``s3://<bucket>/<checkpoint prefix>``, decides
whether its job is *finished*, and only then prunes it with the runtime's own rule,
:meth:`lmpspot.s3store.S3Store.prune` (keep the newest N VERIFIED checkpoints, never the
one ``latest.json`` names, never anything newer than the newest verified one).

How a simulation's state is decided (the most cautious answer wins):

* AWS Batch: every job named ``<job name prefix><sim_id>`` in any job queue (the submit
  role's naming, kept by the On-Demand fallback), and every active job of any name whose
  ``sim_id`` parameter is the simulation's.  One of them
  SUBMITTED/PENDING/RUNNABLE/STARTING/RUNNING -> *running*.
* The job record ``s3://<bucket>/<results prefix><sim_id>/attempts.json`` (written by
  the local executor when it takes a job and after every attempt): SUCCEEDED/FAILED ->
  *finished*; anything else (RUNNING, RUNNABLE) -> *running*.
* No job record and only terminal Batch jobs -> *finished*, except with ``local_executor``:
  the local AWS marks every job SUCCEEDED at submission while the local executor runs it,
  so there the job record alone can say *finished*.
* Nothing known about the job -> *unknown*; kept, like a running one.

Running and unknown simulations are never touched.  ``dry_run`` reports what would be
deleted by running exactly the same :meth:`S3Store.prune` on a store whose ``delete``
does nothing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from lmpspot import backoff
from lmpspot.job_record import job_record_key, read_job_record
from lmpspot.s3store import DEFAULT_PREFIX, S3Store

TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
ACTIVE = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"})
FINISHED, RUNNING, UNKNOWN = "finished", "running", "unknown"


class _PlanStore(S3Store):
    """An S3Store whose ``delete`` only records: ``prune`` then returns what it would delete."""

    def delete(self, seq: int) -> int:  # same signature as S3Store.delete
        return 0


@dataclass
class SimReport:
    sim_id: str
    state: str  # finished | running | unknown
    why: str
    seqs: list[int] = field(default_factory=list)  # checkpoints found, newest first
    deleted: list[int] = field(default_factory=list)  # deleted (or, in a dry run, to delete)


def list_sims(client: Any, bucket: str, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The simulation ids that have a folder under ``s3://bucket/<prefix>``, sorted."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    sims: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            name = cp["Prefix"][len(prefix) :].rstrip("/")
            if name:
                sims.append(name)
    return sorted(sims)


def _queues(batch: Any) -> list[str]:
    queues: list[str] = []
    for page in batch.get_paginator("describe_job_queues").paginate():
        queues.extend(q["jobQueueArn"] for q in page.get("jobQueues", []))
    return queues


def _list(batch: Any, **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        resp = backoff.call(batch.list_jobs, **kw)
        out.extend(resp.get("jobSummaryList", []))
        if not resp.get("nextToken"):
            return out
        kw["nextToken"] = resp["nextToken"]


def batch_statuses(batch: Any, job_name: str, sim_id: str | None = None) -> list[str]:
    """Statuses of the simulation's Batch jobs, in every job queue: every job called
    ``job_name``, and every active job whose ``sim_id`` parameter is ``sim_id`` (whatever
    its name: ListJobs cannot filter by parameter, so active jobs are described)."""
    statuses: list[str] = []
    for queue in _queues(batch):
        named = _list(batch, jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [job_name]}])
        statuses.extend(j.get("status", "") for j in named)
        if sim_id is None:
            continue
        seen = {j["jobId"] for j in named}
        active = [
            j["jobId"]
            for status in sorted(ACTIVE)
            for j in _list(batch, jobQueue=queue, jobStatus=status)
            if j["jobId"] not in seen and ":" not in j["jobId"]
        ]
        for i in range(0, len(active), 100):
            for job in backoff.call(batch.describe_jobs, jobs=active[i : i + 100]).get("jobs", []):
                if (job.get("parameters") or {}).get("sim_id") == sim_id:
                    statuses.append(job.get("status", ""))
    return statuses


def sim_state(
    sim_id: str,
    *,
    s3: Any,
    bucket: str,
    results_prefix: str,
    batch: Any | None,
    job_name_prefix: str,
    local_executor: bool,
) -> tuple[str, str]:
    """``(state, why)`` of one simulation; see the module docstring for the rules."""
    statuses = batch_statuses(batch, (job_name_prefix + sim_id)[:128], sim_id) if batch is not None else []
    active = sorted({s for s in statuses if s in ACTIVE})
    if active:
        return RUNNING, f"Batch job(s) {', '.join(active)}"
    record = read_job_record(s3, bucket, job_record_key(results_prefix, sim_id))
    if record is not None:
        status = str(record.get("status", ""))
        if status in TERMINAL:
            return FINISHED, f"job record: {status}"
        return RUNNING, f"job record: {status or 'no status'}"
    if statuses and not local_executor:
        return FINISHED, f"Batch job(s) {', '.join(sorted(set(statuses)))}"
    if statuses:
        return UNKNOWN, "no job record (the local AWS's Batch status says nothing here)"
    return UNKNOWN, "no Batch job and no job record"


def prune_finished(
    s3: Any,
    bucket: str,
    retention: int,
    *,
    batch: Any | None = None,
    prefix: str = DEFAULT_PREFIX,
    results_prefix: str = "results/",
    job_name_prefix: str = "",
    local_executor: bool = False,
    dry_run: bool = False,
    sims: list[str] | None = None,
) -> list[SimReport]:
    """Prune every finished simulation to ``retention`` verified checkpoints."""
    if retention < 1:
        raise ValueError("retention must be >= 1")
    if results_prefix and not results_prefix.endswith("/"):
        results_prefix += "/"
    reports: list[SimReport] = []
    for sim_id in sims if sims is not None else list_sims(s3, bucket, prefix):
        state, why = sim_state(
            sim_id,
            s3=s3,
            bucket=bucket,
            results_prefix=results_prefix,
            batch=batch,
            job_name_prefix=job_name_prefix,
            local_executor=local_executor,
        )
        store = (_PlanStore if dry_run else S3Store)(s3, bucket, prefix, sim_id, log=lambda m: None)
        rep = SimReport(sim_id, state, why, seqs=store.list_seqs())
        if state == FINISHED:
            rep.deleted = store.prune(retention)
        reports.append(rep)
    return reports


# -- command line (registered by lmpspot.checkpoint_cli) ---------------------------------
def register(sub: Any) -> None:
    p = sub.add_parser(
        "prune-finished",
        help="prune every finished simulation in a bucket to the newest N verified checkpoints",
    )
    p.add_argument("--bucket", required=True, help="the results bucket")
    p.add_argument("--retention", type=int, required=True, help="verified checkpoints to keep (>= 1)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="checkpoint key prefix (%(default)s)")
    p.add_argument("--results-prefix", default="results/", help="results key prefix (%(default)s)")
    p.add_argument(
        "--job-name-prefix", default="", help="Batch job name = this + sim_id (submit: '<project>-')"
    )
    p.add_argument("--sim", action="append", help="only this sim_id (repeatable; default: all)")
    p.add_argument(
        "--local-executor",
        action="store_true",
        help="jobs run under the local executor: only its job record can say finished",
    )
    p.add_argument("--no-batch", action="store_true", help="do not ask AWS Batch (job record only)")
    p.add_argument("--dry-run", action="store_true", help="report what would be deleted; delete nothing")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--endpoint-url", help="AWS endpoint (e.g. a local moto server)")
    p.add_argument("--region", help="AWS region")
    p.set_defaults(func=cmd_prune_finished)


def cmd_prune_finished(args: argparse.Namespace) -> int:
    if args.retention < 1:
        raise SystemExit("--retention must be >= 1")
    import boto3  # noqa: PLC0415 (only this command needs it)

    s3 = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    batch = (
        None
        if args.no_batch
        else boto3.client("batch", endpoint_url=args.endpoint_url, region_name=args.region)
    )
    reports = prune_finished(
        s3,
        args.bucket,
        args.retention,
        batch=batch,
        prefix=args.prefix,
        results_prefix=args.results_prefix,
        job_name_prefix=args.job_name_prefix,
        local_executor=args.local_executor,
        dry_run=args.dry_run,
        sims=args.sim,
    )
    total = sum(len(r.deleted) for r in reports)
    if args.json:
        doc = {"dry_run": args.dry_run, "retention": args.retention, "deleted_total": total}
        doc["sims"] = [asdict(r) for r in reports]
        print(json.dumps(doc, indent=2))
    else:
        verb = "would delete" if args.dry_run else "deleted"
        for r in reports:
            print(f"{r.sim_id}: {r.state} ({r.why}); {len(r.seqs)} checkpoint(s); {verb} {r.deleted}")
        print(f"{verb} {total} checkpoint(s) in {len(reports)} simulation(s)")
    return 0
