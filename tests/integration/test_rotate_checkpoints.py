"""Checkpoint rotation (lmpspot.prune, playbooks/rotate.yml --tags checkpoints) against the
local AWS: real checkpoint sets written by the runtime (LocalStore -> S3Store.upload ->
latest.json), job records written by the executor's own writer, Batch jobs in moto."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmpspot.checkpoint import LocalStore
from lmpspot.job_record import job_record_key
from lmpspot.prune import FINISHED, RUNNING, UNKNOWN, prune_finished
from lmpspot.s3store import S3Store
from lmpspot_local.executor import write_job_record

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-local-results"  # storage_bucket_name in inventories/local


def _bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return s3


def _checkpoints(s3, tmp_path: Path, sim: str, seqs, *, corrupt=()) -> S3Store:
    """Write checkpoints with the runtime (local commit, verified upload, pointer)."""
    local = LocalStore(tmp_path / sim)
    store = S3Store(s3, BUCKET, "checkpoints/", sim, log=lambda m: None)
    for seq in seqs:
        d = local.staging(seq)
        (d / "restart.bin").write_bytes(os.urandom(2048))
        man = local.commit(d, job_id=sim, step=seq * 100, lammps_version="22 Jul 2025")
        store.upload(local.path_for(seq), man)
        store.commit_latest(man)
    for seq in corrupt:  # same size, other bytes: no longer verifies
        s3.put_object(Bucket=BUCKET, Key=store.key(seq, "restart.bin"), Body=os.urandom(2048))
    return store


def _job_record(s3, sim: str, status: str) -> None:
    doc = {"format": 1, "sim_id": sim, "status": status}
    write_job_record(s3, BUCKET, job_record_key("results/", sim), doc)


def _batch_job(aws, name: str) -> None:
    """A job in a moto queue (moto marks it SUCCEEDED at once and runs nothing)."""
    iam = aws.client("iam")
    role = iam.create_role(RoleName="rot-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = aws.client("batch")
    ce = batch.create_compute_environment(computeEnvironmentName="rot-ce", type="UNMANAGED", serviceRole=role)
    batch.create_job_queue(
        jobQueueName="rot-q",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName="rot-jd",
        type="container",
        containerProperties={"image": "x", "command": ["true"], "vcpus": 1, "memory": 512},
    )
    batch.submit_job(jobName=name, jobQueue="rot-q", jobDefinition="rot-jd")


def test_prune_finished_rules(aws, tmp_path: Path):
    s3 = _bucket(aws)
    done = _checkpoints(s3, tmp_path, "done", range(1, 7), corrupt=(5,))
    _job_record(s3, "done", "SUCCEEDED")
    failed = _checkpoints(s3, tmp_path, "failed", range(1, 4))
    _job_record(s3, "failed", "FAILED")
    live = _checkpoints(s3, tmp_path, "live", range(1, 7))
    _job_record(s3, "live", "RUNNABLE")  # between attempts: running
    orphan = _checkpoints(s3, tmp_path, "orphan", range(1, 7))  # no job record, no job
    batch_done = _checkpoints(s3, tmp_path, "viabatch", range(1, 6))
    _batch_job(aws, "lmpspot-viabatch")
    batch = aws.client("batch")

    # dry run: the same S3Store.prune decides, nothing is deleted
    plan = {
        r.sim_id: r
        for r in prune_finished(s3, BUCKET, 2, batch=batch, job_name_prefix="lmpspot-", dry_run=True)
    }
    assert {k: v.state for k, v in plan.items()} == {
        "done": FINISHED,
        "failed": FINISHED,
        "live": RUNNING,
        "orphan": UNKNOWN,
        "viabatch": FINISHED,  # no job record: Batch's SUCCEEDED decides (AWS mode)
    }
    # done: 6 and 4 are the newest verified (5 is corrupt); the pointer (6) is kept
    assert plan["done"].deleted == [5, 3, 2, 1]
    assert plan["failed"].deleted == [1]
    assert plan["live"].deleted == [] and plan["orphan"].deleted == []
    assert plan["viabatch"].deleted == [3, 2, 1]
    assert done.list_seqs() == [6, 5, 4, 3, 2, 1]  # untouched

    # local-executor mode: moto's instant SUCCEEDED says nothing, the job record alone decides
    local = {
        r.sim_id: r
        for r in prune_finished(
            s3, BUCKET, 2, batch=batch, job_name_prefix="lmpspot-", local_executor=True, dry_run=True
        )
    }
    assert local["viabatch"].state == UNKNOWN and local["viabatch"].deleted == []
    assert local["done"].deleted == [5, 3, 2, 1]

    got = {
        r.sim_id: r.deleted for r in prune_finished(s3, BUCKET, 2, batch=batch, job_name_prefix="lmpspot-")
    }
    assert got == {"done": [5, 3, 2, 1], "failed": [1], "live": [], "orphan": [], "viabatch": [3, 2, 1]}
    assert done.list_seqs() == [6, 4] and done.verify(6) and done.verify(4) and done.latest_seq() == 6
    assert failed.list_seqs() == [3, 2]
    assert live.list_seqs() == [6, 5, 4, 3, 2, 1] and orphan.list_seqs() == [6, 5, 4, 3, 2, 1]
    assert batch_done.list_seqs() == [5, 4]
    # nothing left of a deleted checkpoint
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix=done.ckpt_prefix(5)).get("Contents")
    # converged: a second pass deletes nothing
    again = prune_finished(s3, BUCKET, 2, batch=batch, job_name_prefix="lmpspot-")
    assert all(r.deleted == [] for r in again)


def test_rotate_play_checkpoints(aws, tmp_path: Path, playbook):
    s3 = _bucket(aws)
    done = _checkpoints(s3, tmp_path, "melt-done", range(1, 6))
    _job_record(s3, "melt-done", "SUCCEEDED")
    live = _checkpoints(s3, tmp_path, "melt-live", range(1, 6))
    _job_record(s3, "melt-live", "RUNNING")
    args = ("--tags", "checkpoints")
    ev = {"rotate_checkpoints_retention": 2}

    check = playbook("playbooks/rotate.yml", aws, *args, "--check", extra_vars=ev)
    assert check.rc == 0, check
    assert check.changed == 1, check
    assert (
        "melt-done: finished (job record: SUCCEEDED); 5 checkpoint(s); would delete [3, 2, 1]" in check.stdout
    )
    assert done.list_seqs() == [5, 4, 3, 2, 1]  # --check deleted nothing

    run = playbook("playbooks/rotate.yml", aws, *args, extra_vars=ev)
    assert run.rc == 0 and run.changed == 1, run
    assert done.list_seqs() == [5, 4] and done.latest_seq() == 5
    assert live.list_seqs() == [5, 4, 3, 2, 1]

    again = playbook("playbooks/rotate.yml", aws, *args, extra_vars=ev)
    assert again.rc == 0 and again.changed == 0, again

    bad = playbook("playbooks/rotate.yml", aws, *args, extra_vars={"rotate_checkpoints_retention": 0})
    assert bad.rc != 0 and "rotate_checkpoints_retention" in bad.stdout, bad
