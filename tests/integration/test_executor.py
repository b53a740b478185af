"""The local executor end to end: moto (the local AWS) + podman + the real cpu image.

One job per test, each through the real path: the inputs go to S3, the job is submitted
to the local AWS (moto records it and, without Docker, calls it SUCCEEDED at once -- we
never look at that status), and the local executor runs it under podman the way Batch
would, recording every attempt in S3.

Stand-in until ``lmpspot run --inputs`` exists: the test job definition runs
``sh -c 'python -m lmpspot.inputs ... && exec lmpspot run ...'`` in an image derived from
the cpu image with an empty ENTRYPOINT (Batch cannot override an entrypoint). Only this
test's job definition does that; the compute layer's runs ``lmpspot run`` directly.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from image_fixture import cpu_image  # noqa: F401 (a fixture)
from lmp_helpers import EVALUATE_ON_EXIT, job_environment, lj_fcc, unmanaged_queue

from lmpspot_local.executor import EXITED_REASON, TIMEOUT_REASON, Podman, run_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "lmpspot-test-results"
QUEUE = "lmpspot-test-spot"
STEPS = 8000
# The notice comes 10 s into attempt 1 (wall time): the run must outlast that on a fast,
# idle machine (8,000 steps were at step 7,909 there), or the stop lands on the stage end.
NOTICE_STEPS = 40000

LJ = f"""\
units           lj
atom_style      atomic
{lj_fcc(10, "1.5")}\
neighbor        0.3 bin
fix             1 all nve
thermo          500
run             {STEPS}
"""
LJ_LONG = LJ.replace(f"run             {STEPS}", f"run             {NOTICE_STEPS}")

# The compute layer's retry strategy (roles/compute/vars/main.yml), 3 attempts.
RETRY_STRATEGY = {
    "attempts": 3,
    "evaluateOnExit": EVALUATE_ON_EXIT,
}

# $0 = sim_id, $1 = input (whole-argument Ref:: placeholders, as Batch substitutes them).
WRAPPER = (
    'python -m lmpspot.inputs "s3://$LMPSPOT_BUCKET/$LMPSPOT_INPUTS_PREFIX$0/" /work/input'
    ' && exec lmpspot run "$1" --job-id "$0" --workdir /work/run --bucket "$LMPSPOT_BUCKET"'
    ' --prefix "$LMPSPOT_CHECKPOINT_PREFIX" --interval 600 --imds-poll 1 --notice-grace 5'
)


@pytest.fixture(scope="module")
def wrapped_image(cpu_image):  # noqa: F811 (the fixture)
    return cpu_image.derive("wrap-" + cpu_image.ref.rsplit(":", 1)[1], "ENTRYPOINT []\nCMD []\n")


@pytest.fixture
def batch_env(aws, wrapped_image):
    """A queue, the results bucket and the test job definition in the (reset) local AWS."""
    unmanaged_queue(aws, QUEUE, ce_name="lmpspot-test-ce", role_name="lmpspot-test-batch")
    batch = aws.client("batch")
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )

    def register(name: str, timeout_s: int = 600) -> str:
        return batch.register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": wrapped_image,
                "command": ["sh", "-c", WRAPPER, "Ref::sim_id", "Ref::input"],
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
                "environment": job_environment(BUCKET),
                "linuxParameters": {"sharedMemorySize": 256},
            },
            retryStrategy=RETRY_STRATEGY,
            timeout={"attemptDurationSeconds": timeout_s},
        )["jobDefinitionArn"]

    return register


def _job_record(aws, sim_id: str) -> dict:
    return json.loads(
        aws.client("s3").get_object(Bucket=BUCKET, Key=f"results/{sim_id}/attempts.json")["Body"].read()
    )


def _text(aws, url: str) -> str:
    key = url.removeprefix(f"s3://{BUCKET}/")
    return aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def test_spot_notice_checkpoints_retries_and_resumes(aws, playbook, batch_env, cpu_image, tmp_path):  # noqa: F811
    """submit.yml: notice in attempt 1 -> exit 75 -> retried -> attempt 2 resumes from S3 and finishes."""
    batch_env("lmpspot-test-lj")
    (tmp_path / "in.lj").write_text(LJ_LONG)
    t0 = time.monotonic()
    res = playbook(
        "playbooks/submit.yml",
        aws,
        extra_vars={
            "submit_input": str(tmp_path / "in.lj"),
            "submit_queue": QUEUE,
            "submit_job_definition": "lmpspot-test-lj",
            "submit_bucket": BUCKET,
            "submit_wait": True,
            "submit_inject_spot_notice_at": 10,
            "submit_spot_notice_lead_s": 60,
            "lmpspot_state_dir": str(cpu_image.state_dir),  # its containers.conf
        },
        timeout=600,
    )
    assert res.rc == 0, res
    wall = time.monotonic() - t0
    m = re.search(r"sim_id (in-lj-[0-9a-f]{12});", res.stdout)
    assert m, res
    sim_id = m.group(1)

    doc = _job_record(aws, sim_id)
    assert doc["status"] == "SUCCEEDED", doc
    assert doc["executor"] == "local"
    a1, a2 = doc["attempts"]  # exactly two
    assert (a1["attempt"], a1["exit_code"], a1["status_reason"], a1["action"]) == (
        1,
        75,
        EXITED_REASON,
        "RETRY",
    )
    assert "rule 2" in a1["why"]  # onExitCode 75 -> RETRY
    assert a1["notice_injected_at"]
    assert (a2["attempt"], a2["exit_code"], a2["action"]) == (2, 0, "SUCCEEDED")
    assert a2["notice_injected_at"] is None
    assert a1["stopped_at"] <= a2["started_at"]
    assert a1["image"] == a2["image"]
    assert a1["instance"] == "local"

    # Checkpoints of this sim id in S3 (the runner's S3Store layout).
    keys = [
        o["Key"]
        for o in aws.client("s3")
        .list_objects_v2(Bucket=BUCKET, Prefix=f"checkpoints/{sim_id}/")
        .get("Contents", [])
    ]
    assert f"checkpoints/{sim_id}/latest.json" in keys, keys
    assert any(re.search(r"/ckpt-\d+/manifest\.json$", k) for k in keys), keys

    # The container output (CloudWatch's stand-in): checkpoint on notice, resume, finish.
    log1, log2 = _text(aws, a1["log"]), _text(aws, a2["log"])
    assert "checkpointed at step" in log1 and "exiting 75" in log1, log1
    ckpt_step = int(re.search(r"checkpointed at step (\d+)", log1).group(1))
    assert 0 < ckpt_step < NOTICE_STEPS, log1
    resumed = re.search(r"attempt 2: resuming at step (\d+)", log2)
    assert resumed, log2
    assert int(resumed.group(1)) == ckpt_step
    assert f"finished at step {NOTICE_STEPS}" in log2, log2
    assert "starting in.lj from the beginning" not in log2

    # The play showed the record; moto's own job status is not what we look at.
    assert "attempts.json" in res.stdout
    print(f"spot-notice job: {wall:.0f} s for the play, attempts {a1['duration_s']} s + {a2['duration_s']} s")


def _submit(aws, jobdef: str, sim_id: str, script: str) -> str:
    s3 = aws.client("s3")
    s3.put_object(
        Bucket=BUCKET, Key=f"inputs/{sim_id}/in.lj", Body=script.encode(), ChecksumAlgorithm="SHA256"
    )
    return aws.client("batch").submit_job(
        jobName=f"lmpspot-{sim_id}",
        jobQueue=QUEUE,
        jobDefinition=jobdef,
        parameters={"sim_id": sim_id, "input": "/work/input/in.lj"},
    )["jobId"]


def test_timeout_stops_the_attempt_and_is_not_retried(aws, batch_env, cpu_image):  # noqa: F811
    """attemptDurationSeconds passed: SIGTERM (runner checkpoints, exits 75), FAILED, no retry."""
    jobdef = batch_env("lmpspot-test-timeout", timeout_s=12)
    job_id = _submit(aws, jobdef, "lj-timeout", LJ)
    results = run_job(
        aws.client("batch"),
        job_id,
        s3_client=aws.client("s3"),
        podman=Podman(containers_conf=cpu_image.containers_conf),
        kill_grace_s=10,
    )
    assert len(results) == 1
    r = results[0]
    assert r.status == "FAILED"
    assert len(r.attempts) == 1
    a = r.attempts[0]
    assert a.status_reason == TIMEOUT_REASON
    assert a.action == "FAILED"
    assert "timed out" in a.why
    # The runner took the SIGTERM as a stop request and checkpointed within the grace.
    assert a.exit_code == 75, _text(aws, a.log)
    assert a.duration_s < 12 + 10 + 15
    assert _job_record(aws, "lj-timeout")["status"] == "FAILED"


def test_bad_input_fails_after_one_attempt(aws, batch_env, cpu_image):  # noqa: F811
    """The runner rejects the script (exit 2): the bad-input EXIT rule ends the job at once."""
    jobdef = batch_env("lmpspot-test-bad")
    bad = LJ.replace("fix             1 all nve", "fix             1 all no_such_style")
    job_id = _submit(aws, jobdef, "lj-bad", bad)
    results = run_job(
        aws.client("batch"),
        job_id,
        s3_client=aws.client("s3"),
        podman=Podman(containers_conf=cpu_image.containers_conf),
    )
    r = results[0]
    assert r.status == "FAILED"
    assert [(a.attempt, a.exit_code, a.action) for a in r.attempts] == [(1, 2, "FAILED")], r.attempts
    assert "rule 3" in r.attempts[0].why  # onExitCode 2 -> EXIT
    doc = _job_record(aws, "lj-bad")
    assert doc["status"] == "FAILED"
    assert len(doc["attempts"]) == 1
    # moto called the job SUCCEEDED the moment it was submitted: not the source of truth.
    assert aws.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "SUCCEEDED"


def test_serve_finds_the_jobs_not_yet_executed(aws):
    """serve() picks jobs by the job record, not by moto's (always SUCCEEDED) status."""
    from lmpspot_local.executor import LocalExecutor, write_job_record

    unmanaged_queue(aws, QUEUE, ce_name="ce-serve", role_name="r-serve")
    batch = aws.client("batch")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    batch.register_job_definition(
        jobDefinitionName="jd-serve",
        type="container",
        containerProperties={
            "image": "x",
            "command": ["run", "Ref::input"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
            "environment": [{"name": "LMPSPOT_BUCKET", "value": BUCKET}],
        },
    )
    ids = [
        batch.submit_job(
            jobName=f"lmpspot-{s}", jobQueue=QUEUE, jobDefinition="jd-serve", parameters={"sim_id": s}
        )["jobId"]
        for s in ("done", "todo")
    ]
    write_job_record(s3, BUCKET, "results/done/attempts.json", {"job_id": ids[0], "status": "SUCCEEDED"})
    ex = LocalExecutor(batch, s3)
    assert ex.pending_jobs(QUEUE) == [ids[1]]
    # A job record of an earlier job of the same sim_id does not count for a new job.
    again = batch.submit_job(
        jobName="lmpspot-done", jobQueue=QUEUE, jobDefinition="jd-serve", parameters={"sim_id": "done"}
    )
    assert ex.pending_jobs(QUEUE) == [ids[1], again["jobId"]]


def test_container_still_running_at_notice_time_is_reclaimed(aws, batch_env, wrapped_image, cpu_image):  # noqa: F811
    """A job that ignores the notice is killed when the 2 minutes (here 3 s) end: Host EC2 -> RETRY."""
    batch_env("lmpspot-test-ignore")  # queue and bucket
    jobdef = aws.client("batch").register_job_definition(
        jobDefinitionName="lmpspot-test-deaf",
        type="container",
        containerProperties={
            "image": wrapped_image,
            # Attempt 1 hangs (ignores the notice); attempt 2 succeeds at once.
            "command": ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" = 1 && exec sleep 300; exit 0'],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
            "environment": [{"name": "LMPSPOT_BUCKET", "value": BUCKET}],
        },
        retryStrategy=RETRY_STRATEGY,
    )["jobDefinitionArn"]
    job_id = aws.client("batch").submit_job(
        jobName="lmpspot-deaf", jobQueue=QUEUE, jobDefinition=jobdef, parameters={"sim_id": "deaf"}
    )["jobId"]
    r = run_job(
        aws.client("batch"),
        job_id,
        s3_client=aws.client("s3"),
        podman=Podman(containers_conf=cpu_image.containers_conf),
        inject_notice_at=1,
        notice_lead_s=3,
    )[0]
    a1, a2 = r.attempts
    assert (a1.exit_code, a1.status_reason, a1.action) == (
        None,
        "Host EC2 (instance i-local0000) terminated.",
        "RETRY",
    )
    assert "rule 1" in a1.why
    assert a1.duration_s < 30
    assert (a2.exit_code, a2.action) == (0, "SUCCEEDED")
    assert r.status == "SUCCEEDED"
    assert _job_record(aws, "deaf")["attempts"][0]["status_reason"].startswith("Host EC2")
