"""Seed a bucket with what a sweep of simulations leaves in S3, written by the product's writers.

Per simulation ``sweep-<i>`` (importable as ``sweep_seed`` from every test directory):

- 2 or 3 attempt records (:class:`lmpspot.attempts.AttemptRecord` over ``S3Backend``, each
  with its last progress report, the earlier records and the pointer as the runner keeps
  them): the
  first ones spot attempts that checkpointed on a notice and exited 75, the last one an
  On-Demand attempt that finished (exit 0) or, for every third simulation, is running;
- one checkpoint (:class:`lmpspot.s3store.S3Store`: claim, a small restart file, manifest
  last, each verified) and ``latest.json`` moved to it (``commit_latest``);
- ``results/<sim>/status.json`` as :class:`lmpspot.progress.Progress` reports it.

:func:`expected` says what ``lmpspot status`` must show for each.
"""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lmpspot.attempts import AttemptRecord, S3Backend, read_attempts
from lmpspot.checkpoint import LocalStore, Manifest
from lmpspot.progress import Progress
from lmpspot.s3store import S3Store

TOTAL_STEPS = 100_000


def sim_id(i: int) -> str:
    return f"sweep-{i:05d}"


def expected(i: int) -> dict[str, Any]:
    attempts = 2 + i % 2
    running = i % 3 == 0
    return {
        "sim_id": sim_id(i),
        "attempt": attempts,
        "interruptions": attempts - 1,
        "step": 1000 * (i % 50) + 500,
        "total_steps": TOTAL_STEPS,
        "checkpoint_seq": 1,
        "checkpoint_step": 1000 * (i % 50),
        "running": running,
        "capacity": "on-demand",
        "instance_type": "g6.xlarge",
    }


def _checkpoint(root: Path) -> tuple[Path, Manifest]:
    store = LocalStore(root)
    staging = store.staging(1)
    (staging / "restart.bin").write_bytes(os.urandom(4096))
    man = store.commit(
        staging,
        seq=1,
        job_id="sweep-template",
        attempt=1,
        stage=0,
        stage_name="run#1",
        step=0,
        stage_start_step=0,
        stage_target_step=TOTAL_STEPS,
        sim_time=0.0,
        lammps_version="seed",
        build_hash="0" * 64,
        input_hash="0" * 64,
        extra={},
    )
    return store.path_for(1), man


def _status(sid: str, step: int) -> dict[str, Any]:
    t = [0.0]
    p = Progress(
        TOTAL_STEPS, sid, stream=None, emf=False, timestep=0.005, units="lj",
        gpu_sampler=None, clock=lambda: t[0], start_step=step - 500,
    )  # fmt: skip
    t[0] = 10.0
    p.update(step, force=True)
    return p.last_status


def seed_one(s3: Any, bucket: str, i: int, ckdir: Path, template: Manifest) -> None:
    """Each attempt as the runner writes it (:class:`lmpspot.guard.AttemptGuard`): its record
    first; at its start the lease token fences ``latest.json`` and the earlier records are
    carried in its own (``earlier``); the pointer it wrote or fenced is carried too
    (``pointer``).  The first attempt commits the checkpoint."""
    exp = expected(i)
    sid = exp["sim_id"]
    backend = S3Backend(s3, bucket, f"checkpoints/{sid}/")
    man = dataclasses.replace(template, job_id=sid, step=exp["checkpoint_step"])
    n = exp["attempt"]
    for a in range(1, n + 1):
        last = a == n
        rec = AttemptRecord(
            [backend], sid, batch_job_id=f"job-{sid}-{'od' if last else 'spot'}", batch_attempt=a,
            host="seed", instance_type="g6.xlarge", lifecycle="on-demand" if last else "spot",
        )  # fmt: skip
        assert rec.flush()
        store = S3Store(s3, bucket, "checkpoints/", sid)
        assert store.fence_pointer(a)
        rec.set_earlier(read_attempts(s3, bucket, store.base, sid, skip=rec.name))
        if a == 1:
            store.upload(ckdir, man)
            assert store.commit_latest(man, verify=False, token=a)
        rec.set(pointer=store.pointer_seen)
        reached = exp["checkpoint_step"] if not last else exp["step"]
        rec.step(reached)
        rec.progress(_status(sid, reached))  # as the runner does with each progress report
        if not last:
            rec.stop(75, "spot interruption notice: checkpointed")
        elif not exp["running"]:
            rec.stop(0, "finished")
        else:
            assert rec.flush()
    body = json.dumps(_status(sid, exp["step"])).encode()
    s3.put_object(Bucket=bucket, Key=f"results/{sid}/status.json", Body=body)


def seed(s3: Any, bucket: str, count: int, tmp: Path, *, start: int = 0, workers: int = 8) -> list[str]:
    """Seed simulations ``start .. start+count-1``; their sim ids."""
    ckdir, template = _checkpoint(tmp / "seed-ckpt")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda i: seed_one(s3, bucket, i, ckdir, template), range(start, start + count)))
    return [sim_id(i) for i in range(start, start + count)]
