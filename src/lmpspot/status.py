"""Job status: one row per simulation, from AWS Batch, S3 and the local executor's job record.

Attempts: the runner's records in S3 (:mod:`lmpspot.history`), joined with Batch's (or
the local executor's) attempts of the current job; the scheduler's alone without them.

``lmpspot status --bucket B [--queue Q ...] [--sim-id S ...] [--json]`` (and
``playbooks/status.yml``) print, per job:

======================  ==============================================================
state                   Batch's job status; in local mode the local executor's job record
                        status (moto marks every job SUCCEEDED at once and runs nothing)
attempt                 the attempt running now, or the number of attempts made
interruptions           attempts a spot interruption ended (``Host EC2 ... terminated``, a
                        spot notice): :func:`lmpspot.telemetry.is_spot_interruption`
step / %                the runner's last progress report: the ``progress`` of its newest
                        attempt record (written with the record's heartbeat), else its status
                        JSON (``results/<sim>/status.json``, synced at every checkpoint):
                        done MD steps of the script's total
rate, ETA               the same report: ns/day (tau/day in LJ units), seconds left
checkpoint age          ``checkpoints/<sim>/latest.json``: now - the newest manifest's time
capacity, instance      per attempt: Batch attempt -> ECS container instance -> EC2 instance
                        (``InstanceType``, ``InstanceLifecycle``); when EC2 no longer
                        describes it, the compute environment's type (SPOT/EC2) and
                        instance type unknown.  Local mode: ``local`` / ``local``
cost                    :func:`lmpspot.ledger.cost_ledger`: hours x price per attempt
lost, recov, wait, $/ns :mod:`lmpspot.telemetry`: steps lost to interruptions, mean time
                        from a notice to the next attempt's first MD step, time waiting
                        for capacity, cost per simulated ns (``telemetry`` in the JSON;
                        the fleet's sums under the table and in ``--format both``)
deadline, finish, queue the deadline policy's, from the runner's newest attempt record
                        (columns only when some simulation has a deadline)
======================  ==============================================================

Where jobs come from: ``ListJobs`` of each queue (every status) -> ``DescribeJobs``; the
sim id is the job's ``sim_id`` parameter (``SimId`` tag, else the job name).  A simulation
is shown by its newest active job in any queue (the On-Demand fallback's job sits in
another queue than the Spot job it replaces), else by its newest job.  Simulations
that have a job record in S3 but no job in the queues (Batch forgets finished jobs after
about a week; the local AWS forgets everything when it restarts) are listed from S3.

At scale (a sweep of a thousand simulations): one paginated listing of the checkpoint
prefix names every simulation's attempt records (no listing per simulation), and the
per-simulation reads (job record, attempt records, ``latest.json``; ``status.json`` only when
the newest record carries no progress report) run on
``--workers`` threads sharing one S3 client whose connection pool is as large.  Batch's
``ListJobs``/``DescribeJobs`` retry throttling with jittered backoff (:mod:`lmpspot.backoff`).
Small objects go through an ETag-keyed cache (:mod:`lmpspot.s3cache`): what the listing
shows unchanged is not read again.  ``--workers 1`` reads one simulation at a time, each
listing its own records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

from botocore.exceptions import ClientError

from lmpspot import backoff
from lmpspot.history import history, runner_records
from lmpspot.job_record import ATTEMPTS_NAME
from lmpspot.ledger import LOCAL, cost_ledger, iso, parse_time
from lmpspot.progress import format_duration
from lmpspot.s3cache import CachedReads, cache_file, default_dir
from lmpspot.s3errors import is_not_found
from lmpspot.s3store import POINTER_NAME, pointer_summary
from lmpspot.telemetry import fleet_telemetry, ns_per_step, sim_telemetry

LogFn = Callable[[str], None]

JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
STATUS_NAME = "status.json"
ATTEMPTS_DIR = "attempts"
WORKERS = 32


@dataclass
class JobStatus:
    sim_id: str
    job_id: str | None = None
    job_name: str | None = None
    queue: str | None = None
    source: str = "batch"  # batch | local (the local executor's job record) | s3 (no Batch job)
    state: str = "UNKNOWN"
    status_reason: str | None = None
    attempt: int = 0
    interruptions: int = 0
    step: int | None = None
    total_steps: int | None = None
    percent: float | None = None
    rate: float | None = None
    rate_unit: str | None = None
    eta_seconds: float | None = None
    status_updated_at: str | None = None
    checkpoint_seq: int | None = None
    checkpoint_step: int | None = None
    checkpoint_at: str | None = None
    checkpoint_age_seconds: float | None = None
    capacity: str | None = None
    instance_type: str | None = None
    cost_usd: float | None = None
    cost_label: str = "-"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    ledger: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    steps_per_s: float | None = None
    submitted_at: str | None = None  # the current job's submission (Batch createdAt)
    telemetry: dict[str, Any] = field(default_factory=dict)  # lmpspot.telemetry.sim_telemetry
    deadline: str | None = None
    projected_finish: str | None = None
    policy_queue: str | None = None


# --------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------
def _prefix(p: str) -> str:
    return p if p.endswith("/") else p + "/"


def get_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """An object's JSON, or None when it does not exist (or is not JSON)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def sims_in_s3(s3: Any, bucket: str, results_prefix: str) -> list[str]:
    """Sim ids that have something under ``<results_prefix>``."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=_prefix(results_prefix), Delimiter="/"
    ):
        for cp in page.get("CommonPrefixes", []):
            out.append(cp["Prefix"][len(_prefix(results_prefix)) :].rstrip("/"))
    return out


def list_checkpoints(
    s3: Any, bucket: str, checkpoint_prefix: str
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """One paginated listing of the whole checkpoint prefix: sim id -> its attempt records
    (``<prefix><sim>/attempts/<name>.json``: name -> ETag, sorted by name), and key -> ETag
    of every record and ``latest.json`` (what :class:`lmpspot.s3cache.CachedReads` needs)."""
    prefix = _prefix(checkpoint_prefix)
    out: dict[str, dict[str, str]] = {}
    etags: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(prefix) :].split("/")
            if len(parts) == 3 and parts[1] == ATTEMPTS_DIR and parts[2].endswith(".json"):
                out.setdefault(parts[0], {})[parts[2]] = obj["ETag"]
            elif not (len(parts) == 2 and parts[1] == POINTER_NAME):
                continue
            etags[obj["Key"]] = obj["ETag"]
    return {sid: dict(sorted(names.items())) for sid, names in out.items()}, etags


def _pointer_of(records: list[dict[str, Any]], etag: str | None) -> dict[str, Any] | None:
    """``latest.json`` as the newest attempt record carries it (``pointer``, a
    :func:`lmpspot.s3store.pointer_summary`), when the listing shows the pointer with that
    ETag: then the pointer need not be read (an ETag changes with the content)."""
    ptr = records[-1].get("pointer") if records and etag else None
    if not isinstance(ptr, dict) or ptr.get("etag") != etag or not isinstance(ptr.get("seq"), int):
        return None
    return ptr


# --------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------
def list_queue_jobs(batch: Any, queue: str) -> list[str]:
    """Every job id of ``queue``, whatever its status."""
    ids: list[str] = []
    for status in JOB_STATUSES:
        kw: dict[str, Any] = {"jobQueue": queue, "jobStatus": status}
        while True:
            page = backoff.call(batch.list_jobs, **kw)
            ids += [j["jobId"] for j in page.get("jobSummaryList", [])]
            if not page.get("nextToken"):
                break
            kw["nextToken"] = page["nextToken"]
    return list(dict.fromkeys(ids))


def describe_jobs(batch: Any, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(ids), 100):
        out += backoff.call(batch.describe_jobs, jobs=ids[i : i + 100]).get("jobs", [])
    return out


def sim_id_of(job: Mapping[str, Any], project: str | None = None) -> str:
    params = job.get("parameters") or {}
    if params.get("sim_id"):
        return str(params["sim_id"])
    tags = job.get("tags") or {}
    if tags.get("SimId"):
        return str(tags["SimId"])
    name = str(job.get("jobName", job.get("jobId", "?")))
    if project and name.startswith(project + "-"):
        return name[len(project) + 1 :]
    return name


def batch_attempts(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Batch's attempt records (finished ones) plus the running attempt, ledger-shaped."""
    out = []
    for n, a in enumerate(job.get("attempts") or [], start=1):
        c = a.get("container") or {}
        out.append(
            {
                "attempt": n,
                "started_at": iso(parse_time(a.get("startedAt"))),
                "stopped_at": iso(parse_time(a.get("stoppedAt"))),
                "exit_code": c.get("exitCode"),
                "status_reason": a.get("statusReason") or c.get("reason"),
                "container_instance_arn": c.get("containerInstanceArn"),
                "log_stream": c.get("logStreamName"),
            }
        )
    if job.get("status") in ("STARTING", "RUNNING") and job.get("startedAt"):
        c = job.get("container") or {}
        started = iso(parse_time(job.get("startedAt")))
        if not out or out[-1]["started_at"] != started:
            out.append(
                {
                    "attempt": len(out) + 1,
                    "started_at": started,
                    "stopped_at": None,
                    "exit_code": None,
                    "status_reason": None,
                    "container_instance_arn": c.get("containerInstanceArn"),
                    "log_stream": c.get("logStreamName"),
                }
            )
    return out


class InstanceResolver:
    """Batch attempt -> (instance type, capacity, instance id), with caches.

    ``containerInstanceArn`` -> ``ecs:DescribeContainerInstances`` (in the cluster of each
    compute environment of the job's queue) -> ``ec2InstanceId`` ->
    ``ec2:DescribeInstances`` (``InstanceType``; ``InstanceLifecycle`` ``spot``, absent for
    on-demand).  Fallback: the compute environment's type (``SPOT``/``EC2``), type unknown.
    """

    def __init__(self, batch: Any, ecs: Any = None, ec2: Any = None, log: LogFn | None = None) -> None:
        self.batch, self.ecs, self.ec2 = batch, ecs, ec2
        self.log = log or (lambda _m: None)
        self._queues: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()  # gather's threads share the queue cache

    def _environments(self, queue: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._environments_locked(queue)

    def _environments_locked(self, queue: str) -> list[dict[str, Any]]:
        if queue not in self._queues:
            envs: list[dict[str, Any]] = []
            try:
                qs = self.batch.describe_job_queues(jobQueues=[queue]).get("jobQueues", [])
                arns = [o["computeEnvironment"] for q in qs for o in q.get("computeEnvironmentOrder", [])]
                if arns:
                    envs = self.batch.describe_compute_environments(computeEnvironments=arns).get(
                        "computeEnvironments", []
                    )
            except Exception as exc:
                self.log(f"queue {queue}: {exc}")
            self._queues[queue] = envs
        return self._queues[queue]

    def capacity_of_queue(self, queue: str | None) -> str | None:
        if not queue:
            return None
        kinds = {(e.get("computeResources") or {}).get("type") for e in self._environments(queue)}
        kinds.discard(None)
        if kinds and kinds <= {"SPOT", "FARGATE_SPOT"}:
            return "spot"
        if kinds and kinds <= {"EC2", "FARGATE"}:
            return "on-demand"
        return None

    def resolve(self, queue: str | None, container_instance_arn: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instance_type": None,
            "capacity": self.capacity_of_queue(queue),
            "instance_id": None,
        }
        if not container_instance_arn or self.ecs is None:
            return out
        for env in self._environments(queue) if queue else []:
            cluster = env.get("ecsClusterArn")
            if not cluster:
                continue
            try:
                ci = self.ecs.describe_container_instances(
                    cluster=cluster, containerInstances=[container_instance_arn]
                ).get("containerInstances", [])
            except Exception:  # noqa: S112 (not this cluster's)
                continue
            if not ci:
                continue
            out["instance_id"] = ci[0].get("ec2InstanceId")
            ctype = (env.get("computeResources") or {}).get("type")
            out["capacity"] = (
                "spot" if ctype in ("SPOT", "FARGATE_SPOT") else "on-demand" if ctype else out["capacity"]
            )
            break
        if out["instance_id"] and self.ec2 is not None:
            with contextlib.suppress(Exception):  # terminated long ago: EC2 forgets it
                res = self.ec2.describe_instances(InstanceIds=[out["instance_id"]])
                for r in res.get("Reservations", []):
                    for inst in r.get("Instances", []):
                        out["instance_type"] = inst.get("InstanceType")
                        out["capacity"] = "spot" if inst.get("InstanceLifecycle") == "spot" else "on-demand"
        return out


# --------------------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------------------
@dataclass
class Settings:
    bucket: str
    region: str
    queues: list[str] = field(default_factory=list)
    sim_ids: list[str] = field(default_factory=list)
    results_prefix: str = "results/"
    checkpoint_prefix: str = "checkpoints/"
    project: str | None = None
    include_s3_only: bool = True
    # The local AWS: Batch's job status means nothing there (moto marks jobs SUCCEEDED at
    # once); a job without a job record has not finished an attempt in the local executor.
    local: bool = False
    # Threads reading simulations from S3 at once; 1: one at a time, each listing its own
    # attempt records (else one listing of the checkpoint prefix serves all).
    workers: int = WORKERS
    # The file lmpspot.s3cache keeps small objects in between runs (None: no cache).
    cache_path: str | None = None


def local_attempts(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The local executor's attempts, with what local mode can say about the machine."""
    out = []
    for a in doc.get("attempts") or []:
        out.append(
            {
                **a,
                # The executor records where it ran ("local"): podman on this machine.
                "instance_type": LOCAL if a.get("instance", LOCAL) == LOCAL else a.get("instance"),
                "capacity": LOCAL,
                "instance_id": None,
            }
        )
    return out


def _apply_s3(
    js: JobStatus,
    st: Mapping[str, Any] | None,
    s3: Any,
    cfg: Settings,
    now: float,
    ptr: Mapping[str, Any] | None | bool = True,
) -> None:
    """Progress from the runner's report (``st``: the newest attempt record's ``progress``
    or ``status.json``, read once per simulation by the caller) and the checkpoint from
    ``latest.json`` (``ptr``: its :func:`lmpspot.s3store.pointer_summary` when the caller
    has it, None when the caller knows there is none, True: read it)."""
    if st:
        js.step = st.get("step")
        js.total_steps = st.get("total_steps")
        js.percent = st.get("progress_percent")
        js.rate = st.get("sim_rate_per_day")
        js.rate_unit = st.get("sim_rate_unit")
        js.eta_seconds = st.get("eta_seconds")
        js.steps_per_s = st.get("steps_per_s")
        js.status_updated_at = st.get("updated_at")
    if ptr is True:
        doc = get_json(s3, cfg.bucket, f"{_prefix(cfg.checkpoint_prefix)}{js.sim_id}/{POINTER_NAME}")
        ptr = pointer_summary(doc, None)
    if isinstance(ptr, Mapping):
        js.checkpoint_seq = ptr["seq"]
        js.checkpoint_step = ptr.get("step")
        js.checkpoint_at = ptr.get("at")
        t = parse_time(js.checkpoint_at)
        js.checkpoint_age_seconds = None if t is None else max(0.0, now - t)
    if js.state in ("SUCCEEDED", "FAILED"):
        js.eta_seconds = None


def _progress_of(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest attempt's last progress report (:data:`lmpspot.attempts.PROGRESS_FIELDS`),
    when its record carries one: then ``status.json`` need not be read."""
    prog = records[-1].get("progress") if records else None
    return prog if isinstance(prog, dict) and prog.get("step") is not None else None


def _apply_history(
    js: JobStatus, cfg: Settings, doc: Mapping[str, Any] | None, records: list[dict[str, Any]]
) -> None:
    """The runner's attempt records in S3 (every job of the simulation, beyond Batch's
    retention) are the attempt history; Batch's or the local executor's attempts of the
    current job add what only the scheduler knows (:mod:`lmpspot.history`)."""
    if not records:
        return
    local = js.source == "local" and doc is not None
    job_id = (doc or {}).get("job_id") if local else js.job_id
    js.attempts = history(records, js.attempts, job_id=job_id, scheduler_source=js.source)
    js.attempt = len(js.attempts)
    if js.state == "RUNNING" and all(a.get("stopped_at") for a in js.attempts):
        js.attempt += 1  # the next attempt is starting; its runner has not written yet
    js.notes.append(
        f"attempts: the runner's records, s3://{cfg.bucket}/{_prefix(cfg.checkpoint_prefix)}{js.sim_id}/attempts/"
    )


def _finish(js: JobStatus, cfg: Settings, now: float, price_fn: Any) -> None:
    atts = js.attempts
    if not js.attempt:
        js.attempt = len(atts)
    last = atts[-1] if atts else {}
    js.capacity = last.get("capacity") or js.capacity
    js.instance_type = last.get("instance_type") or js.instance_type
    js.ledger = cost_ledger(atts, cfg.region, price_fn=price_fn, now=now)
    js.cost_usd = js.ledger["total_usd"]
    js.cost_label = js.ledger["total_label"] if atts else "-"
    rate = {"sim_rate_per_day": js.rate, "sim_rate_unit": js.rate_unit, "steps_per_s": js.steps_per_s}
    js.telemetry = sim_telemetry(
        atts, region=cfg.region, ledger=js.ledger, ns_per_step=ns_per_step(rate),
        done_steps=js.step, submitted_at=js.submitted_at, now=now,
    )  # fmt: skip
    js.interruptions = js.telemetry["interruptions"]
    js.deadline = js.telemetry["deadline"]
    js.projected_finish = js.telemetry["projected_finish"]
    js.policy_queue = js.telemetry["policy_queue"]


def _rank(job: Mapping[str, Any]) -> tuple[bool, int]:
    """Which of a simulation's jobs stands for it: an active one (in any queue: the Spot
    job, the On-Demand fallback's, a resubmission) before any finished one, then the newest."""
    return (job.get("status") in ACTIVE, int(job.get("createdAt") or 0))


def gather(
    cfg: Settings,
    *,
    s3: Any,
    batch: Any = None,
    ecs: Any = None,
    ec2: Any = None,
    price_fn: Any = None,
    now: float | None = None,
    log: LogFn | None = None,
) -> list[JobStatus]:
    """One :class:`JobStatus` per simulation: its newest active Batch job in any of the
    queues, else its newest job."""
    now = time.time() if now is None else now
    log = log or (lambda _m: None)
    resolver = InstanceResolver(batch, ecs, ec2, log) if batch is not None else None
    jobs = _jobs_by_sim(cfg, batch, log) if batch is not None else {}
    sims = list(jobs)
    if cfg.include_s3_only:
        wanted = cfg.sim_ids or sims_in_s3(s3, cfg.bucket, cfg.results_prefix)
        sims += [s for s in wanted if s not in jobs]
    sims = list(dict.fromkeys(sims))
    # Every simulation (a sweep): one listing of the checkpoint prefix names all their
    # attempt records.  A few named ones (--sim-id): each lists its own.
    listed = cfg.workers > 1 and sims and not cfg.sim_ids
    names: dict[str, dict[str, str]] | None = None
    etags: dict[str, str] = {}
    reads = CachedReads(s3, cfg.cache_path) if cfg.cache_path else None
    if listed:
        names, etags = list_checkpoints(s3, cfg.bucket, cfg.checkpoint_prefix)
        if reads is not None:
            reads.listed(etags, complete=[_prefix(cfg.checkpoint_prefix)])
    s3 = reads if reads is not None else s3

    def one(sid: str) -> JobStatus | None:
        job, queue = jobs.get(sid, ({}, None))
        js = JobStatus(sim_id=sid, job_id=job.get("jobId"), job_name=job.get("jobName"), queue=queue)
        # The job record is the local executor's, of a job it ran: on AWS nothing writes it,
        # and locally a simulation without a job in the listed queues has none to read.
        doc = (
            get_json(s3, cfg.bucket, f"{_prefix(cfg.results_prefix)}{sid}/{ATTEMPTS_NAME}")
            if cfg.local and job
            else None
        )
        records = runner_records(
            s3, cfg.bucket, cfg.checkpoint_prefix, sid, None if names is None else names.get(sid, {})
        )
        # Progress: the newest attempt record's (the listing vouches for it), else
        # status.json (records older than that field; an attempt yet to report); read
        # once, for the local state (below) and for the progress columns.
        st = _progress_of(records) or get_json(
            s3, cfg.bucket, f"{_prefix(cfg.results_prefix)}{sid}/{STATUS_NAME}"
        )
        _apply_job(js, job, doc, cfg, st, resolver)
        if not job and doc is None and js.source != "s3":
            return None
        _apply_history(js, cfg, doc, records)
        # The pointer: carried by the newest record when the listing shows it unchanged;
        # a listing that shows none says there is none; else (--sim-id) it is read.
        ptr: Mapping[str, Any] | None | bool = True
        if names is not None:
            ptr_etag = etags.get(f"{_prefix(cfg.checkpoint_prefix)}{sid}/{POINTER_NAME}")
            ptr = _pointer_of(records, ptr_etag) or (True if ptr_etag else None)
        _apply_s3(js, st, s3, cfg, now, ptr)
        _finish(js, cfg, now, price_fn)
        return js

    if cfg.workers > 1 and len(sims) > 1:
        with ThreadPoolExecutor(max_workers=min(cfg.workers, len(sims)), thread_name_prefix="status") as pool:
            found = list(pool.map(one, sims))
    else:
        found = [one(sid) for sid in sims]
    out = [js for js in found if js is not None]
    if reads is not None:
        reads.save()
        n = reads.counts
        log(
            f"S3 reads: {n['fetched']} fetched, {n['not_modified']} unchanged (304), {n['cached']} from "
            f"the cache, {n['absent']} known absent; {n['requests']} GetObject requests"
        )
    return sorted(out, key=lambda j: (j.state not in ACTIVE, j.sim_id))


def _jobs_by_sim(cfg: Settings, batch: Any, log: LogFn) -> dict[str, tuple[dict[str, Any], str]]:
    """sim id -> (the job that stands for it, its queue), over all of ``cfg.queues``."""
    jobs: dict[str, tuple[dict[str, Any], str]] = {}
    for q in cfg.queues:
        try:
            described = describe_jobs(batch, list_queue_jobs(batch, q))
        except Exception as exc:
            log(f"queue {q}: {exc}")
            continue
        for job in described:
            if job.get("arrayProperties", {}).get("index") is not None or ":" in job.get("jobId", ""):
                continue  # array children (<parent id>:<index>): the parent job carries the sim id
            sid = sim_id_of(job, cfg.project)
            if cfg.sim_ids and sid not in cfg.sim_ids:
                continue
            prev = jobs.get(sid)
            if prev is None or _rank(job) >= _rank(prev[0]):
                jobs[sid] = (job, q)
    return jobs


def _apply_job(
    js: JobStatus,
    job: dict[str, Any],
    doc: dict[str, Any] | None,
    cfg: Settings,
    st: Mapping[str, Any] | None,
    resolver: InstanceResolver | None,
) -> None:
    """State and attempts: from the local executor's job record, the Batch job, or (neither) S3.
    ``st``: the simulation's ``status.json`` (None: none)."""
    queue = js.queue
    if doc is not None and doc.get("executor") == "local":
        js.source = "local"
        js.state = str(doc.get("status", "UNKNOWN"))
        js.attempts = local_attempts(doc)
        if js.state in ("RUNNING", "RUNNABLE"):
            js.state = "RUNNING"
            js.attempt = len(js.attempts) + 1  # the executor records an attempt when it ends
        js.notes.append("local mode: the local executor's job record is the truth (moto's job status is not)")
    elif job and cfg.local:
        js.source = "local"
        running = st is not None
        js.state = "RUNNING" if running else "SUBMITTED"
        js.attempt = 1 if running else 0
        js.notes.append(
            "local mode: no attempt recorded by the local executor yet (moto's job status ignored)"
        )
    elif job:
        js.state = job.get("status", "UNKNOWN")
        js.status_reason = job.get("statusReason")
        js.submitted_at = iso(parse_time(job.get("createdAt")))
        js.attempts = batch_attempts(job)
        for a in js.attempts:
            assert resolver is not None
            a.update(resolver.resolve(queue, a.pop("container_instance_arn", None)))
    else:
        js.source = "s3"
        js.state = "NO-JOB"
        js.notes.append("no Batch job in the listed queues; numbers from S3 only")


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
COLUMNS = [
    ("SIM ID", "sim_id"),
    ("STATE", "state"),
    ("ATT", "attempt"),
    ("INTR", "interruptions"),
    ("STEP", "step"),
    ("DONE", "percent"),
    ("RATE", "rate"),
    ("ETA", "eta"),
    ("CKPT AGE", "ckpt"),
    ("CAPACITY", "capacity"),
    ("INSTANCE", "instance_type"),
    ("COST", "cost_label"),
    ("LOST", "steps_lost"),
    ("RECOV", "recovery"),
    ("WAIT", "capacity_wait"),
    ("$/NS", "usd_per_ns"),
]
# Shown only when some simulation has a deadline (the deadline policy's fields).
DEADLINE_COLUMNS = [
    ("DEADLINE", "deadline"),
    ("FINISH (PROJ)", "projected_finish"),
    ("QUEUE", "policy_queue"),
]


def _cells(j: JobStatus) -> dict[str, str]:
    step = "-" if j.step is None else (f"{j.step}/{j.total_steps}" if j.total_steps else str(j.step))
    rate = "-" if j.rate is None else f"{j.rate:.3g} {j.rate_unit or ''}".strip()
    return {
        "sim_id": j.sim_id,
        "state": j.state,
        "attempt": str(j.attempt),
        "interruptions": str(j.interruptions),
        "step": step,
        "percent": "-" if j.percent is None else f"{j.percent:.1f}%",
        "rate": rate,
        "eta": "-" if j.eta_seconds is None else format_duration(j.eta_seconds),
        "ckpt": "-" if j.checkpoint_age_seconds is None else format_duration(j.checkpoint_age_seconds),
        "capacity": j.capacity or "?",
        "instance_type": j.instance_type or "?",
        "cost_label": j.cost_label,
        **_telemetry_cells(j.telemetry),
        "deadline": _short_time(j.deadline),
        "projected_finish": _short_time(j.projected_finish),
        "policy_queue": j.policy_queue or "-",
    }


def _short_time(value: str | None) -> str:
    """``2026-12-03T10:28:00Z`` -> ``12-03 10:28`` (UTC); ``-`` for none."""
    return "-" if not value else str(value)[5:16].replace("T", " ")


def _telemetry_cells(tel: Mapping[str, Any]) -> dict[str, str]:
    rec = (tel.get("recovery_s") or {}).get("mean")
    usd_ns = tel.get("usd_per_ns")
    return {
        "steps_lost": str(tel.get("steps_lost", 0)) if tel else "-",
        "recovery": "-" if rec is None else format_duration(rec),
        "capacity_wait": format_duration(tel["capacity_wait_s"]) if tel.get("capacity_wait_s") else "-",
        "usd_per_ns": "-" if usd_ns is None else f"${usd_ns:.3g}",
    }


def fleet_line(tel: Mapping[str, Any]) -> str:
    """The fleet's telemetry in one line (under the table)."""
    hours, cost = tel.get("hours") or {}, tel.get("cost_usd") or {}
    parts = [
        f"fleet: {tel.get('simulations', 0)} sims",
        f"{tel.get('interruptions', 0)} interruptions",
        f"{tel.get('steps_lost', 0)} steps lost",
        f"recovery mean {_telemetry_cells(tel)['recovery']}",
        f"capacity wait {format_duration(tel.get('capacity_wait_s') or 0)}",
    ]
    for cap in ("spot", "on-demand", "local"):
        if hours.get(cap):
            usd = cost.get(cap)
            parts.append(f"{cap} {hours[cap]:.2f} h" + (f" ${usd:.2f}" if usd is not None else ""))
    if tel.get("usd_per_ns") is not None:
        parts.append(f"${tel['usd_per_ns']:.3g}/ns")
    return " | ".join(parts)


def render_table(jobs: Iterable[JobStatus]) -> str:
    jobs = list(jobs)
    rows = [_cells(j) for j in jobs]
    if not rows:
        return "no jobs"
    cols = COLUMNS + (DEADLINE_COLUMNS if any(j.deadline for j in jobs) else [])
    widths = {k: max(len(h), *(len(r[k]) for r in rows)) for h, k in cols}
    lines = ["  ".join(h.ljust(widths[k]) for h, k in cols).rstrip()]
    lines += ["  ".join(r[k].ljust(widths[k]) for _h, k in cols).rstrip() for r in rows]
    measured = [j for j in jobs if j.telemetry]
    if len(measured) > 1 or any(j.telemetry.get("interruptions") for j in measured):
        lines += ["", fleet_line(fleet(jobs))]
    return "\n".join(lines)


def fleet(jobs: Iterable[JobStatus]) -> dict[str, Any]:
    """:func:`lmpspot.telemetry.fleet_telemetry` over the jobs shown."""
    return fleet_telemetry(j.telemetry for j in jobs if j.telemetry)


def to_json(jobs: Iterable[JobStatus]) -> list[dict[str, Any]]:
    """The rows as dicts (shallow: the nested lists and dicts are the rows' own, only
    serialised; ``asdict`` would deep-copy every one of them)."""
    return [{f.name: getattr(j, f.name) for f in fields(j)} for j in jobs]


def json_lines(rows: list[dict[str, Any]]) -> str:
    """A JSON list with one row per line: each row through the C encoder (``indent``
    would take the pure-Python one, seconds for a sweep's thousand rows)."""
    if not rows:
        return "[]"
    return "[\n" + ",\n".join(json.dumps(r, default=str) for r in rows) + "\n]"


# --------------------------------------------------------------------------------------
# Command line (``lmpspot status``)
# --------------------------------------------------------------------------------------
def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``lmpspot status`` and ``lmpspot report``."""
    p.add_argument("--bucket", required=True, help="the results bucket")
    p.add_argument(
        "--queue",
        action="append",
        default=[],
        help="a job queue to list (repeat); default: every queue of the account/region",
    )
    p.add_argument("--results-prefix", default="results/")
    p.add_argument("--checkpoint-prefix", default="checkpoints/")
    p.add_argument("--project", help="job names are <project>-<sim id> (used when a job has no sim_id)")
    p.add_argument("--region", help="default: the AWS configuration's")
    p.add_argument("--endpoint-url", help="AWS endpoint (default: $AWS_ENDPOINT_URL or AWS's)")
    p.add_argument(
        "--prices",
        choices=("table", "aws"),
        default="table",
        help="table: lmpspot's dated offline price table; aws: the Price List / spot price APIs",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p)
    p.add_argument("--sim-id", action="append", default=[], help="only this simulation (repeat)")
    p.add_argument(
        "--format",
        choices=("table", "json", "both"),
        default="table",
        help="table (text), json (a list of jobs), both ({'table': ..., 'jobs': [...]}, for the play)",
    )
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"simulations read from S3 at once (default {WORKERS}); 1: one at a time",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="where unchanged S3 objects are kept between runs (default: $XDG_CACHE_HOME/lmpspot)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="read every object from S3, keep nothing between runs"
    )


def clients(args: argparse.Namespace) -> dict[str, Any]:
    import boto3  # noqa: PLC0415

    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    kw: dict[str, Any] = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    # One client per service, shared by gather's threads: a connection for each thread.
    kw["config"] = backoff.client_config(pool=getattr(args, "workers", WORKERS))
    return {n: session.client(n, **kw) for n in ("s3", "batch", "ecs", "ec2")} | {
        "region": session.region_name
    }


def is_local_endpoint(client: Any) -> bool:
    """True when ``client`` talks to something that is not AWS (the local AWS)."""
    from lmpspot.prices import is_real_aws_endpoint  # noqa: PLC0415

    return not is_real_aws_endpoint(client.meta.endpoint_url)


def price_fn_for(mode: str, endpoint_url: str | None = None) -> Callable[[str, str, str], Any]:
    """``lmpspot.prices.price_per_hour`` in ``mode`` (table | aws)."""

    def fn(itype: str, region: str, capacity: str) -> Any:
        from lmpspot.prices import price_per_hour  # noqa: PLC0415 (only when pricing)

        return price_per_hour(itype, region, capacity, mode=mode, endpoint_url=endpoint_url)

    return fn


def cmd_status(args: argparse.Namespace) -> int:
    c = clients(args)
    queues = list(args.queue)
    if not queues:
        queues = [q["jobQueueName"] for q in c["batch"].describe_job_queues().get("jobQueues", [])]
    cfg = Settings(
        bucket=args.bucket,
        region=c["region"] or "us-east-1",
        queues=queues,
        sim_ids=list(args.sim_id),
        results_prefix=args.results_prefix,
        checkpoint_prefix=args.checkpoint_prefix,
        project=args.project,
        local=is_local_endpoint(c["batch"]),
        workers=max(1, args.workers),
        cache_path=None
        if args.no_cache
        else str(cache_file(args.cache_dir or default_dir(), c["s3"].meta.endpoint_url, args.bucket)),
    )

    def log(msg: str) -> None:
        print(f"lmpspot status: {msg}", file=sys.stderr)

    jobs = gather(
        cfg,
        s3=c["s3"],
        batch=c["batch"],
        ecs=c["ecs"],
        ec2=c["ec2"],
        price_fn=price_fn_for(args.prices, args.endpoint_url),
        log=log,
    )
    if args.format == "json":
        print(json_lines(to_json(jobs)))
    elif args.format == "both":
        print(
            json.dumps(
                {"table": render_table(jobs), "jobs": to_json(jobs), "fleet": fleet(jobs)}, default=str
            )
        )
    else:
        print(render_table(jobs))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="a table of jobs: state, attempts, progress, checkpoints, cost")
    add_arguments(p)
    p.set_defaults(func=cmd_status)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lmpspot.status", description=__doc__.split("\n")[0])
    add_arguments(p)
    return cmd_status(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
