"""lmpspot status / lmpspot report / playbooks/status.yml against a real two-attempt job.

The job is a shortened copy of examples/polymer_melt (same thermo_style, so density is
there; minimize + reset_timestep; four stages), run by the real runner (real LAMMPS)
with its checkpoints and outputs in the local AWS (moto's S3), and submitted to moto's
Batch the way the submit role does (``sim_id`` parameter, ``SimId`` tag), which marks it
SUCCEEDED at once and runs nothing.  The two attempts are what the local executor would
run in podman; here they run as plain processes (no image build, to keep this test short):

* attempt 1 gets a spot interruption notice from a real IMDS stand-in once its second
  checkpoint is in S3, checkpoints and exits 75;
* attempt 2 starts in a fresh work directory (a new node), resumes from S3, finishes.

Each attempt is recorded in ``results/<sim>/attempts.json`` with the executor's own
record type, retry decision and writer (``lmpspot_local.executor``), with the attempt's real
times, exit code and output -- what the executor writes after a podman attempt.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, LocalAws, run_playbook
from lmp_helpers import unmanaged_queue

from lmpspot.job_record import job_record_key
from lmpspot.report import parse_emf
from lmpspot_local.executor import EXITED_REASON, Attempt, _record, decide, utc_iso, write_job_record
from lmpspot_local.imds_stub import ImdsStub

pytestmark = [pytest.mark.integration]

BUCKET = "lmpspot-test-status"
QUEUE = "lmpspot-test-status-spot"
# The compute layer's retry strategy (roles/compute/vars/main.yml).
RETRY = {
    "attempts": 3,
    "evaluateOnExit": [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onExitCode": "75", "action": "RETRY"},
        {"onStatusReason": "*", "action": "EXIT"},
    ],
}
PNG_SIZES = {
    "thermo.png": (1100, 850),
    "checkpoints.png": (1100, 450),
    "rate.png": (1100, 600),
    "progress.png": (1100, 500),
}


def polymer_input(tmp: Path) -> Path:
    """examples/polymer_melt with shorter stages (2000 + 2000 + 30000 steps), thermo every 200.

    The last stage is long enough that the notice lands inside it on an idle machine.
    """
    src = REPO / "examples" / "polymer_melt"
    text = (src / "in.polymer").read_text()
    for old, new in (
        ("run             10000", "run 2000"),
        ("run             40000", "run 2000"),
        ("run             50000", "run 30000"),
        ("thermo          1000", "thermo 200"),
    ):
        assert old in text, old  # the example changed: adapt this test
        text = text.replace(old, new)
    d = tmp / "input"
    d.mkdir()
    (d / "in.polymer").write_text(text)
    (d / "data.polymer").write_bytes((src / "data.polymer").read_bytes())
    return d / "in.polymer"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def lmpspot(aws: LocalAws, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, **aws.env}
    return subprocess.run(
        [sys.executable, "-m", "lmpspot.cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_attempt(
    aws: LocalAws, script: Path, sim: str, job_id: str, n: int, workdir: Path, imds: ImdsStub
) -> Attempt:
    """Attempt ``n`` of Batch job ``job_id`` as a process (the runner records both, as in a
    Batch container); a notice once S3 holds two of its checkpoints (attempt 1)."""
    s3 = aws.client("s3")
    env = {**os.environ, **aws.env, "AWS_BATCH_JOB_ID": job_id, "AWS_BATCH_JOB_ATTEMPT": str(n)}
    argv = [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(script),
        "--job-id",
        sim,
        "--workdir",
        str(workdir),
        "--bucket",
        BUCKET,
        "--interval",
        "0.4",
        "--allow-short-interval",
        "--progress-every",
        "0.3",
        # short chunks: the notice must land mid-run however fast the machine is (5 s
        # default chunks let an idle machine finish the polymer run before it is seen)
        "--chunk-seconds",
        "0.3",
        "--max-chunk-seconds",
        "0.3",
        "--imds",
        "on",
        "--imds-endpoint",
        imds.url,
        "--imds-poll",
        "0.2",
        "--notice-grace",
        "2",
    ]
    started = time.time()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    notice_at = None
    if n == 1:
        while proc.poll() is None and notice_at is None:
            keys = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"checkpoints/{sim}/").get("Contents", [])
            if sum(k["Key"].endswith("/manifest.json") for k in keys) >= 3:  # minimize + NVT + one more
                imds.schedule_interruption(60)
                notice_at = time.time()
            time.sleep(0.1)
    out, _ = proc.communicate(timeout=300)
    d = decide(RETRY, n, proc.returncode, EXITED_REASON, None)
    a = Attempt(
        attempt=n,
        started_at=utc_iso(started),
        stopped_at=utc_iso(time.time()),
        exit_code=proc.returncode,
        status_reason=EXITED_REASON,
        reason=None,
        action=d.action,
        why=d.why,
        image="(test: the runner as a process)",
        notice_injected_at=utc_iso(notice_at) if notice_at else None,
        duration_s=round(time.time() - started, 3),
    )
    log_key = f"results/{sim}/logs/attempt-{n}.log"
    s3.put_object(Bucket=BUCKET, Key=log_key, Body=out.encode())
    a.log = f"s3://{BUCKET}/{log_key}"
    a.output = out.splitlines()
    return a


def write_attempts(aws: LocalAws, sim: str, job_id: str, attempts: list[Attempt]) -> None:
    status = attempts[-1].action if attempts[-1].action != "RETRY" else "RUNNABLE"
    doc = {
        "format": 1,
        "executor": "local",
        "job_id": job_id,
        "sim_id": sim,
        "queue": QUEUE,
        "status": status,
        "attempts": [_record(a) for a in attempts],
    }
    write_job_record(aws.client("s3"), BUCKET, job_record_key("results/", sim), doc)


@pytest.fixture
def submitted(aws: LocalAws) -> tuple[str, str]:
    """The bucket, a queue and a job for the sim in the (reset) local AWS."""
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    unmanaged_queue(aws, QUEUE, ce_name="lmpspot-test-status-ce", role_name="lmpspot-test-status")
    batch = aws.client("batch")
    batch.register_job_definition(
        jobDefinitionName="lmpspot-test-status",
        type="container",
        containerProperties={
            "image": "lammps",
            "command": ["lmpspot", "run", "Ref::input"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "1024"}],
        },
    )
    sim = "in-polymer-teststatus01"
    job = batch.submit_job(
        jobName=f"lmpspot-{sim}",
        jobQueue=QUEUE,
        jobDefinition="lmpspot-test-status",
        parameters={"sim_id": sim, "input": "/work/input/in.polymer"},
        tags={"SimId": sim},
    )["jobId"]
    return sim, job


def test_status_and_report_of_an_interrupted_job(aws: LocalAws, submitted, tmp_path: Path):
    sim, job_id = submitted
    script = polymer_input(tmp_path)
    # Submitted, no attempt yet: moto already says SUCCEEDED; status does not believe it.
    pre = lmpspot(aws, "status", "--bucket", BUCKET, "--queue", QUEUE, "--json")
    assert pre.returncode == 0, pre.stderr
    (row,) = json.loads(pre.stdout)
    assert (row["sim_id"], row["state"], row["attempt"], row["cost_label"]) == (sim, "SUBMITTED", 0, "-")
    t0 = time.monotonic()
    imds = ImdsStub().start()
    try:
        a1 = run_attempt(aws, script, sim, job_id, 1, tmp_path / "node1", imds)
        assert a1.exit_code == 75 and a1.action == "RETRY", "\n".join(a1.output[-30:])
        write_attempts(aws, sim, job_id, [a1])

        # Between the attempts: moto says SUCCEEDED; the job record says the job goes on.
        mid = lmpspot(aws, "status", "--bucket", BUCKET, "--queue", QUEUE, "--json")
        assert mid.returncode == 0, mid.stderr
        (row,) = json.loads(mid.stdout)
        assert aws.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "SUCCEEDED"
        assert (row["sim_id"], row["job_id"], row["source"], row["state"]) == (
            sim,
            job_id,
            "local",
            "RUNNING",
        )
        assert (row["attempt"], row["interruptions"]) == (2, 1)
        assert 0 < row["percent"] < 100 and 0 < row["step"] < row["total_steps"] == 34000
        # The checkpoint shown is the one attempt 1 took on the notice (where attempt 2 resumes);
        # its step depends on how fast the run went, not on a stage boundary.
        noticed = int(re.search(r"checkpointed at step (\d+)", "\n".join(a1.output)).group(1))
        assert row["checkpoint_age_seconds"] is not None and row["checkpoint_step"] == noticed > 0

        imds.reset()  # a retried attempt runs on a new instance
        a2 = run_attempt(aws, script, sim, job_id, 2, tmp_path / "node2", imds)
    finally:
        imds.stop()
    assert a2.exit_code == 0 and a2.action == "SUCCEEDED", "\n".join(a2.output[-30:])
    resumed = int(re.search(r"attempt 2: resuming at step (\d+)", "\n".join(a2.output)).group(1))
    stopped = int(re.search(r"checkpointed at step (\d+)", "\n".join(a1.output)).group(1))
    assert resumed == stopped
    write_attempts(aws, sim, job_id, [a1, a2])
    run_s = time.monotonic() - t0

    # -- lmpspot status: JSON and the table --------------------------------------------------
    st = lmpspot(aws, "status", "--bucket", BUCKET, "--queue", QUEUE, "--json")
    assert st.returncode == 0, st.stderr
    (row,) = json.loads(st.stdout)
    assert (row["state"], row["attempt"], row["interruptions"]) == ("SUCCEEDED", 2, 1)
    assert row["step"] == row["total_steps"] == 34000 and row["percent"] == 100.0
    assert row["rate"] > 0 and row["rate_unit"] == "tau/day" and row["eta_seconds"] is None
    assert row["checkpoint_step"] == 34000 and row["checkpoint_age_seconds"] < 120
    # Local mode says what ran: podman on this machine, not an EC2 type; no price.
    assert (row["capacity"], row["instance_type"], row["cost_label"], row["cost_usd"]) == (
        "local",
        "local",
        "n/a (local)",
        None,
    )
    led = row["ledger"]["attempts"]
    assert [a["ended"] for a in led] == ["checkpointed on a notice/SIGTERM (exit 75)", "finished (exit 0)"]
    assert all(a["hours"] > 0 for a in led)
    # Telemetry: one interruption (the notice the runner saw), its lost steps, the recovery
    # from the notice to attempt 2's first new MD step (both in the runner's records).
    tel = row["telemetry"]
    assert (tel["interruptions"], tel["attempts"]) == (1, 2)
    (intr,) = tel["interruption_list"]
    assert intr["attempt"] == 1 and intr["steps_lost"] is not None and intr["steps_lost"] >= 0
    assert row["attempts"][0]["notice_at"] and row["attempts"][1]["first_step_at"]
    assert 0 < intr["recovery_s"] < run_s and tel["recovery_s"]["count"] == 1
    assert tel["hours"]["local"] > 0 and tel["usd_per_ns"] is None  # tau (LJ), and no price locally
    # ... and attempt 2 reported them once, at fleet level, in its EMF lines
    events = [r for r in parse_emf("\n".join(a2.output)) if "Interruptions" in r]
    assert len(events) == 1 and events[0]["Interruptions"] == 1 and events[0]["RecoverySeconds"] > 0
    table = lmpspot(aws, "status", "--bucket", BUCKET, "--queue", QUEUE)
    assert table.returncode == 0, table.stderr
    header, line, _blank, fleet = table.stdout.strip().splitlines()
    assert fleet.startswith("fleet: 1 sims | 1 interruptions"), table.stdout
    for col in (
        "SIM ID",
        "STATE",
        "ATT",
        "INTR",
        "STEP",
        "DONE",
        "RATE",
        "ETA",
        "CKPT AGE",
        "CAPACITY",
        "COST",
    ):
        assert col in header
    assert line.split()[:6] == [sim, "SUCCEEDED", "2", "1", "34000/34000", "100.0%"], table.stdout

    # -- lmpspot report ----------------------------------------------------------------------
    out = tmp_path / "report"
    rep = lmpspot(aws, "report", sim, "--bucket", BUCKET, "--queue", QUEUE, "--out", str(out))
    assert rep.returncode == 0, rep.stderr
    for name, size in PNG_SIZES.items():
        assert png_size(out / name) == size, name
    md = (out / "report.md").read_text()
    for name in PNG_SIZES:
        assert f"]({name})" in md
    assert "Cost so far: **n/a (local)**" in md and "| 1 |" in md and "| 2 |" in md
    assert "## Interruptions and cost" in md and "| interruptions | 1 |" in md
    summary = json.loads((out / "report.json").read_text())
    assert summary["attempts_in_log"] == 2 and summary["units"] == "lj" and summary["time_unit"] == "tau"
    assert summary["steps"]["last"] == 34000
    assert summary["simulated_time"]["last"] == pytest.approx(34000 * 0.01)
    assert [r["step"] for r in summary["resumes"]] == [resumed]
    assert 0.8 < summary["last_row"]["Density"] < 0.9  # the NPT stage compressed the melt
    assert summary["rate"]["emf_records"] > 2 and summary["rate"]["points_from_log"] > 2
    keys = {
        o["Key"]
        for o in aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"results/{sim}/report/")["Contents"]
    }
    assert keys == {f"results/{sim}/report/{n}" for n in [*PNG_SIZES, "report.md", "report.json"]}
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=f"results/{sim}/report/thermo.png")["Body"].read()
    assert body == (out / "thermo.png").read_bytes()

    # -- playbooks/status.yml: prints the table, changes nothing, works in --check ------------
    ev = {"storage_bucket_name": BUCKET, "status_queues": [QUEUE]}
    for extra in ([], ["--check"]):
        play = run_playbook("playbooks/status.yml", aws, *extra, extra_vars=ev)
        assert play.rc == 0, play
        assert play.changed == 0, play
        assert sim in play.stdout and "SUCCEEDED" in play.stdout and "n/a (local)" in play.stdout, play
    # With status_reports the play also builds the report (locally and in S3): changed.
    reports = tmp_path / "play-reports"
    play = run_playbook(
        "playbooks/status.yml",
        aws,
        extra_vars={**ev, "status_reports": [sim], "status_report_dir": str(reports)},
    )
    assert play.rc == 0 and play.changed == 1, play
    for name, size in PNG_SIZES.items():
        assert png_size(reports / sim / name) == size
    bad = run_playbook("playbooks/status.yml", aws, extra_vars={**ev, "status_prices": "cheapest"})
    assert bad.rc != 0 and "status_prices" in bad.stdout, bad
    print(f"two attempts {run_s:.0f} s; status, report and play {time.monotonic() - t0 - run_s:.0f} s")


def test_aws_path_resolves_instance_type_and_capacity(aws: LocalAws):
    """Batch attempt -> ECS container instance -> EC2 instance, against the local AWS's
    real Batch/ECS/EC2 APIs: a spot g5.xlarge and an on-demand one, priced from the
    explicit table; an attempt whose container instance is gone falls back to the compute
    environment's capacity type with the instance type unknown."""
    from lmpspot.ledger import cost_ledger
    from lmpspot.prices import Price
    from lmpspot.status import InstanceResolver

    ec2, ecs, batch, iam = (aws.client(s) for s in ("ec2", "ecs", "batch", "iam"))
    role = iam.create_role(RoleName="lmpspot-test-ce", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="lmpspot-test-ce")["InstanceProfile"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="lmpspot-test-ce", Description="t", VpcId=vpc)["GroupId"]
    queues = {}
    for kind in ("SPOT", "EC2"):
        ce = batch.create_compute_environment(
            computeEnvironmentName=f"lmpspot-test-{kind.lower()}",
            type="MANAGED",
            state="ENABLED",
            serviceRole=role,
            computeResources={
                "type": kind,
                "minvCpus": 0,
                "maxvCpus": 8,
                "instanceTypes": ["g5.xlarge"],
                "subnets": [subnet],
                "securityGroupIds": [sg],
                "instanceRole": profile,
            },
        )["computeEnvironmentArn"]
        queues[kind] = f"lmpspot-test-q-{kind.lower()}"
        batch.create_job_queue(
            jobQueueName=queues[kind],
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
        )
    clusters = {
        e["computeResources"]["type"]: e["ecsClusterArn"]
        for e in batch.describe_compute_environments()["computeEnvironments"]
    }
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    arns = {}
    for kind, market in (("SPOT", {"MarketType": "spot"}), ("EC2", None)):
        kw = {"InstanceMarketOptions": market} if market else {}
        inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="g5.xlarge", **kw)[
            "Instances"
        ][0]
        doc = json.dumps(
            {"instanceId": inst["InstanceId"], "instanceType": "g5.xlarge", "region": "us-east-2"}
        )
        arns[kind] = ecs.register_container_instance(cluster=clusters[kind], instanceIdentityDocument=doc)[
            "containerInstance"
        ]["containerInstanceArn"]

    r = InstanceResolver(batch, ecs, ec2)
    spot = r.resolve(queues["SPOT"], arns["SPOT"])
    ondemand = r.resolve(queues["EC2"], arns["EC2"])
    gone = r.resolve(queues["SPOT"], arns["SPOT"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000")
    assert (spot["instance_type"], spot["capacity"]) == ("g5.xlarge", "spot") and spot["instance_id"]
    assert (ondemand["instance_type"], ondemand["capacity"]) == ("g5.xlarge", "on-demand")
    assert (gone["instance_type"], gone["capacity"]) == (None, "spot")

    attempts = [
        {"attempt": 1, "started_at": "2026-01-01T00:00:00Z", "stopped_at": "2026-01-01T01:30:00Z", **spot},
        {
            "attempt": 2,
            "started_at": "2026-01-01T01:40:00Z",
            "stopped_at": "2026-01-01T02:10:00Z",
            **ondemand,
        },
    ]
    # The offline table is still sparse for us-east-2: price with a small explicit table
    # (lmpspot.prices.Price-shaped) so the arithmetic on the resolved attempts is checked.
    table = {("g5.xlarge", "spot"): 0.40, ("g5.xlarge", "on-demand"): 1.006}
    seen = []

    def price(itype, region, capacity):
        seen.append((itype, region, capacity))
        return Price(table[(itype, capacity)], "test table", "2026-11-29")

    led = cost_ledger(attempts, "us-east-2", price_fn=price)
    assert seen == [("g5.xlarge", "us-east-2", "spot"), ("g5.xlarge", "us-east-2", "on-demand")]
    assert [a["cost_usd"] for a in led["attempts"]] == [pytest.approx(1.5 * 0.40), pytest.approx(0.5 * 1.006)]
    assert led["total_label"] == f"${1.5 * 0.40 + 0.5 * 1.006:.2f}"


def test_attempt_output_from_cloudwatch_logs(aws: LocalAws):
    """On AWS the attempts' EMF records come from their Batch log streams (CloudWatch Logs)."""
    from lmpspot.progress import Progress
    from lmpspot.report import parse_emf
    from lmpspot.report_inputs import _cloudwatch_text

    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/aws/batch/job")
    logs.create_log_stream(logGroupName="/aws/batch/job", logStreamName="lmpspot-gpu/default/abc")
    t = [0.0]
    p = Progress(
        1000,
        "sim",
        stream=None,
        emf=False,
        timestep=2.0,
        units="real",
        interval=1,
        gpu_sampler=lambda: 91.0,
        clock=lambda: t[0],
    )
    lines = ["lmpspot: attempt 1: starting in.x from the beginning"]
    for step in (0, 400, 800):
        p.update(step)
        lines.append(p.emf_line())
        t[0] += 10.0
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/aws/batch/job",
        logStreamName="lmpspot-gpu/default/abc",
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)],
    )
    text = _cloudwatch_text(logs, "/aws/batch/job", "lmpspot-gpu/default/abc")
    recs = parse_emf(text, attempt=1)
    assert [r["step"] for r in recs] == [0, 400, 800]
    assert (
        recs[-1]["NsPerDay"] == pytest.approx(40 * 2.0 * 86400 * 1e-6) and recs[-1]["GpuUtilization"] == 91.0
    )
    assert _cloudwatch_text(logs, "/aws/batch/job", "gone/stream") == ""  # expired stream: no records
