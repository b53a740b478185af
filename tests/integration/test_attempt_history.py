"""Status, the cost ledger and prune-finished read a simulation's attempts from the runner's
records in S3 (lmpspot.attempts, lmpspot.history), against the local AWS.

The records are written with the runner's own writer (``AttemptRecord`` over
``S3Backend``: conditional creates and updates); Batch jobs go to moto's Batch the way
submit does.  Cases: a simulation whose Batch jobs are gone (Batch keeps finished jobs
about a week) still shows every attempt, priced; a local-mode simulation joins the local
executor's view of its current job (log URL, decision) to the runner's records.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pytest
from lmp_helpers import unmanaged_queue

from lmpspot.attempts import AttemptRecord, S3Backend
from lmpspot.job_record import job_record_key
from lmpspot.status import Settings, gather
from lmpspot_local.executor import write_job_record

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-history"
QUEUE = "lmpspot-test-history-q"


@dataclass
class FakePrice:
    """What the ledger reads from lmpspot.prices.Price (the price itself is the test's)."""

    usd_per_hour: float
    label: str = "test price"
    synthetic: bool = False


def prices(itype: str, region: str, capacity: str) -> FakePrice:
    assert region == "us-east-2"
    return FakePrice({("g6.xlarge", "spot"): 0.5, ("g6.xlarge", "on-demand"): 1.0}[(itype, capacity)])


def record(s3, sim_id: str, **kw) -> AttemptRecord:
    rec = AttemptRecord([S3Backend(s3, BUCKET, f"checkpoints/{sim_id}/")], sim_id, host="test", **kw)
    assert rec.flush()
    return rec


def submit(aws, sim_id: str) -> str:
    """A job for ``sim_id`` in a fresh queue of the local AWS, as submit sends it."""
    unmanaged_queue(aws, QUEUE, ce_name="lmpspot-test-history-ce", role_name="lmpspot-test-history")
    batch = aws.client("batch")
    batch.register_job_definition(
        jobDefinitionName="lmpspot-test-history-jd",
        type="container",
        containerProperties={
            "image": "x",
            "command": ["run"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    return batch.submit_job(
        jobName=f"lmpspot-{sim_id}",
        jobQueue=QUEUE,
        jobDefinition="lmpspot-test-history-jd",
        parameters={"sim_id": sim_id, "input": "/work/input/in.lj"},
    )["jobId"]


class Counting:
    """The S3 client, counting the GetObject requests per key into ``asked``."""

    def __init__(self, s3, asked: Counter[str]) -> None:
        self.s3, self.asked = s3, asked

    def __getattr__(self, name):
        return getattr(self.s3, name)

    def get_object(self, **kw):
        self.asked[kw["Key"]] += 1
        return self.s3.get_object(**kw)


@pytest.fixture
def s3(aws):
    c = aws.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return c


def test_history_outlives_batch_jobs(aws, s3):
    """Spot attempt checkpointed on a notice, then the On-Demand fallback's job finished:
    no Batch job is left, the records still give both attempts, their steps and cost."""
    unmanaged_queue(aws, QUEUE, ce_name="lmpspot-test-history-ce", role_name="lmpspot-test-history")
    a1 = record(
        s3, "melt-1", batch_job_id="j-spot", batch_attempt=1, lifecycle="spot", instance_type="g6.xlarge"
    )
    a1.set(last_checkpoint={"seq": 2, "stage": 0, "step": 2000})
    a1.step(2150)
    assert a1.stop(75, "checkpointed on a spot notice")
    a2 = record(
        s3,
        "melt-1",
        batch_job_id="j-ondemand",
        batch_attempt=1,
        lifecycle="on-demand",
        instance_type="g6.xlarge",
    )
    a2.set(resumed_from={"seq": 3, "stage": 0, "step": 2150})
    assert a2.stop(0, "finished")
    cfg = Settings(bucket=BUCKET, region="us-east-2", queues=[QUEUE], sim_ids=["melt-1"])
    (js,) = gather(cfg, s3=s3, batch=aws.client("batch"), price_fn=prices)
    assert (js.source, js.state) == ("s3", "NO-JOB")
    assert [(a["attempt"], a["batch_job_id"], a["capacity"], a["exit_code"]) for a in js.attempts] == [
        (1, "j-spot", "spot", 75),
        (2, "j-ondemand", "on-demand", 0),
    ]
    assert js.attempts[1]["resumed_from"] == {"seq": 3, "stage": 0, "step": 2150}
    assert js.interruptions == 1 and js.attempt == 2
    rows = js.ledger["attempts"]
    assert [(r["capacity"], r["usd_per_hour"]) for r in rows] == [("spot", 0.5), ("on-demand", 1.0)]
    assert js.ledger["unpriced"] == 0
    assert any("runner's records" in n for n in js.notes)


def test_local_mode_joins_the_executors_view(aws, s3):
    """The local executor's record of the current job (what DescribeJobs would say) adds
    its log URL and decision; an attempt the runner never recorded is still listed."""
    batch = aws.client("batch")
    job_id = submit(aws, "lj-2")
    rec = record(s3, "lj-2", batch_job_id=job_id, batch_attempt=2, lifecycle="local")
    assert rec.stop(0, "finished")
    log_url = f"s3://{BUCKET}/results/lj-2/logs/attempt-2.log"
    write_job_record(
        s3,
        BUCKET,
        job_record_key("results/", "lj-2"),
        {
            "format": 1,
            "executor": "local",
            "job_id": job_id,
            "sim_id": "lj-2",
            "status": "SUCCEEDED",
            "attempts": [
                {  # the image could not be pulled: the runner never started
                    "attempt": 1,
                    "started_at": "2020-01-01T00:00:00.000Z",
                    "stopped_at": "2020-01-01T00:00:01.000Z",
                    "exit_code": None,
                    "status_reason": "CannotPullContainerError: x",
                    "action": "RETRY",
                },
                {
                    "attempt": 2,
                    "started_at": rec.data["started"],
                    "stopped_at": rec.data["stopped"],
                    "exit_code": 0,
                    "status_reason": "Essential container in task exited",
                    "action": "SUCCEEDED",
                    "log": log_url,
                },
            ],
        },
    )
    cfg = Settings(bucket=BUCKET, region="us-east-2", queues=[QUEUE], sim_ids=["lj-2"], local=True)
    (js,) = gather(cfg, s3=s3, batch=batch, price_fn=prices)
    assert (js.source, js.state) == ("local", "SUCCEEDED")
    first, second = js.attempts
    assert (first["source"], first["status_reason"]) == ("local", "CannotPullContainerError: x")
    assert (second["source"], second["log"], second["action"]) == ("runner", log_url, "SUCCEEDED")
    assert (second["capacity"], second["instance_type"], second["exit_reason"]) == (
        "local",
        "local",
        "finished",
    )
    assert js.ledger["attempts"][1]["capacity"] == "local"


def test_a_local_job_without_a_job_record_reads_each_object_once(aws, s3):
    """A local-mode job the executor has not finished an attempt of is RUNNING once its
    runner wrote ``status.json``; that file is read once, for the state and the progress."""
    submit(aws, "lj-3")
    status = {"step": 500, "total_steps": 1000, "progress_percent": 50.0}
    s3.put_object(Bucket=BUCKET, Key="results/lj-3/status.json", Body=json.dumps(status).encode())
    asked: Counter[str] = Counter()
    cfg = Settings(bucket=BUCKET, region="us-east-2", queues=[QUEUE], sim_ids=["lj-3"], local=True)
    (js,) = gather(cfg, s3=Counting(s3, asked), batch=aws.client("batch"), price_fn=prices)
    assert (js.source, js.state, js.attempt, js.step, js.percent) == ("local", "RUNNING", 1, 500, 50.0)
    assert asked == {
        "results/lj-3/attempts.json": 1,  # the local executor's job record: none yet
        "results/lj-3/status.json": 1,
        "checkpoints/lj-3/latest.json": 1,
    }


def test_the_newest_records_progress_spares_status_json(aws, s3):
    """A runner keeps its progress report in its attempt record: status shows it and does
    not ask for ``status.json`` (which, older, says something else here)."""
    submit(aws, "lj-4")
    older = {"step": 100, "total_steps": 1000}
    s3.put_object(Bucket=BUCKET, Key="results/lj-4/status.json", Body=json.dumps(older).encode())
    old = record(s3, "lj-4", lifecycle="spot")
    old.stop(75, "spot interruption notice: checkpointed")
    rec = record(s3, "lj-4", lifecycle="on-demand")
    rec.step(700)
    rec.progress({"step": 700, "total_steps": 1000, "progress_percent": 70.0, "eta_seconds": 30.0, "gpu": 1})
    assert rec.flush()
    asked: Counter[str] = Counter()
    cfg = Settings(bucket=BUCKET, region="us-east-2", queues=[QUEUE], sim_ids=["lj-4"], local=True)
    (js,) = gather(cfg, s3=Counting(s3, asked), batch=aws.client("batch"), price_fn=prices)
    assert (js.state, js.attempt, js.step, js.total_steps, js.percent, js.eta_seconds) == (
        "RUNNING", 2, 700, 1000, 70.0, 30.0,
    )  # fmt: skip
    assert "results/lj-4/status.json" not in asked, asked
    body = s3.get_object(Bucket=BUCKET, Key=f"checkpoints/lj-4/attempts/{rec.name}")["Body"].read()
    assert "gpu" not in json.loads(body)["progress"]  # only the fields status shows
