"""playbooks/submit.yml and lmpspot.aws.batch_submit_job against the local AWS, no container.

With ``lmpspot_job_executor=batch`` the play takes its AWS path (no local executor), which
is what is checked here: check mode, uploads (and no re-upload of unchanged files), the
derived sim_id, the submitted job's parameters, tags and array size. The local-mode path
(the executor running the job) is tests/integration/test_executor.py.
"""

from __future__ import annotations

import hashlib
import re

import pytest

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-submit"
QUEUE = "lmpspot-test-q"
JOBDEF = "lmpspot-test-jd"


@pytest.fixture
def batch(aws):
    iam = aws.client("iam")
    role = iam.create_role(RoleName="lmpspot-test-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = aws.client("batch")
    ce = client.create_compute_environment(
        computeEnvironmentName="lmpspot-test-ce", type="UNMANAGED", serviceRole=role
    )["computeEnvironmentArn"]
    client.create_job_queue(
        jobQueueName=QUEUE,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    client.register_job_definition(
        jobDefinitionName=JOBDEF,
        type="container",
        containerProperties={
            "image": "x",
            "command": ["run", "Ref::input", "--job-id", "Ref::sim_id"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    return client


def _inputs(tmp_path):
    d = tmp_path / "melt"
    (d / "data").mkdir(parents=True)
    (d / "in.melt").write_text("read_data data/melt.data\nrun 100\n")
    (d / "data" / "melt.data").write_text("LAMMPS data file\n\n10 atoms\n")
    (d / ".hidden").write_text("not uploaded")
    return d


def _expected_sim_id(d):
    lines = sorted(
        f"{p.relative_to(d).as_posix()} {hashlib.sha256(p.read_bytes()).hexdigest()}"
        for p in (d / "in.melt", d / "data" / "melt.data")
    )
    return "in-melt-" + hashlib.sha256("|".join(lines).encode()).hexdigest()[:12]


def test_submit_play_uploads_once_and_submits(aws, playbook, batch, tmp_path):
    d = _inputs(tmp_path)
    ev = {
        "lmpspot_job_executor": "batch",  # the AWS path: no local executor
        "submit_input": str(d / "in.melt"),
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
        "submit_environment": {"OMP_NUM_THREADS": "2"},
    }
    sim_id = _expected_sim_id(d)
    s3 = aws.client("s3")

    check = playbook("playbooks/submit.yml", aws, "--check", extra_vars=ev)
    assert check.rc == 0, check
    assert check.changed >= 2, check  # two uploads and the submission, predicted
    assert (
        "KeyCount" in s3.list_objects_v2(Bucket=BUCKET) and s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    )
    assert batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"] == []

    first = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert first.rc == 0, first
    assert f"sim_id {sim_id};" in first.stdout, first
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [f"inputs/{sim_id}/data/melt.data", f"inputs/{sim_id}/in.melt"]
    head = s3.head_object(Bucket=BUCKET, Key=f"inputs/{sim_id}/data/melt.data")
    assert (
        head["Metadata"]["lmpspot-sha256"]
        == hashlib.sha256((d / "data" / "melt.data").read_bytes()).hexdigest()
    )

    job_id = re.search(r"job ([0-9a-f-]{36}) \(lmpspot-" + re.escape(sim_id), first.stdout).group(1)
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["jobName"] == f"lmpspot-{sim_id}"
    assert job["parameters"]["sim_id"] == sim_id
    assert job["parameters"]["input"] == "/work/input/in.melt"
    assert {"name": "OMP_NUM_THREADS", "value": "2"} in job["container"]["environment"]
    assert job["tags"]["SimId"] == sim_id

    # Again: nothing re-uploaded; the local AWS already calls the job SUCCEEDED (it runs
    # nothing), so there is no active job and a new one is submitted for the same sim_id.
    again = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert again.rc == 0, again
    assert again.changed == 1, again
    names = [j["jobName"] for j in batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]]
    assert names == [f"lmpspot-{sim_id}"] * 2

    # A changed data file: another sim_id (content-derived), uploaded under its own prefix.
    (d / "data" / "melt.data").write_text("LAMMPS data file\n\n12 atoms\n")
    changed = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert changed.rc == 0, changed
    assert _expected_sim_id(d) != sim_id
    assert f"sim_id {_expected_sim_id(d)};" in changed.stdout


def test_submit_play_sweep_and_explicit_files(aws, playbook, batch, tmp_path):
    d = _inputs(tmp_path)
    (d / "unrelated.big").write_text("x" * 1000)
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_files": ["data/melt.data"],
        "submit_sim_id": "melt-sweep",
        "submit_array_size": 3,
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc == 0, res
    s3 = aws.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["inputs/melt-sweep/data/melt.data", "inputs/melt-sweep/in.melt"]
    parent = [
        j
        for j in batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]
        if ":" not in j["jobId"]
    ]
    assert len(parent) == 1
    job = batch.describe_jobs(jobs=[parent[0]["jobId"]])["jobs"][0]
    assert job["arrayProperties"]["size"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"submit_sim_id": "bad id!"}, "submit_sim_id"),
        ({"submit_array_size": 20000}, "submit_array_size"),
        ({"submit_input": "/nonexistent/in.lj"}, "no such file"),
        ({"submit_files": ["../outside"]}, "not a file in"),
    ],
)
def test_submit_play_refuses_bad_input(aws, playbook, batch, tmp_path, extra, message):
    d = _inputs(tmp_path)
    (tmp_path / "outside").write_text("outside the input directory")
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
        **extra,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc != 0, res
    assert message in res.stdout, res
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def _seed_secrets(d):
    """What careless users keep next to a script: credentials, keys, a repository, a link out."""
    for rel in (".aws/credentials", ".ssh/id_rsa", ".git/config", "runs/.cache/token"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("SECRET " + rel)
    (d / "passwd").symlink_to("/etc/passwd")


def test_submit_uploads_only_what_the_script_references(aws, playbook, batch, tmp_path):
    d = _inputs(tmp_path)
    _seed_secrets(d)
    (d / "notes.txt").write_text("not referenced")
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc == 0, res
    sim_id = _expected_sim_id(d)
    keys = sorted(o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [f"inputs/{sim_id}/data/melt.data", f"inputs/{sim_id}/in.melt"]


@pytest.mark.parametrize(
    ("script", "files", "message"),
    [
        (None, [".aws/credentials"], "under a dot-directory"),
        (None, [".ssh/id_rsa"], "under a dot-directory"),
        (None, [".git/config"], "under a dot-directory"),
        (None, ["passwd"], "a symbolic link leading out"),
        ("read_data data/melt.data\nvariable k file .aws/credentials\nrun 100\n", [], "in.melt:2:"),
        ("read_data passwd\nrun 100\n", [], "a symbolic link leading out"),
        ("read_data data/melt.data\nshell cat .ssh/id_rsa\nrun 100\n", [], "'shell' is refused"),
    ],
    ids=["list-aws", "list-ssh", "list-git", "list-link", "script-aws", "script-link", "script-shell"],
)
def test_submit_refuses_secrets_and_links_out(aws, playbook, batch, tmp_path, script, files, message):
    d = _inputs(tmp_path)
    _seed_secrets(d)
    if script:
        (d / "in.melt").write_text(script)
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_files": files,
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc != 0, res
    assert message in res.stdout, res
    assert aws.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"] == []


def test_submit_opt_in_runs_an_unsafe_script_and_tells_the_job(aws, playbook, batch, tmp_path):
    d = _inputs(tmp_path)
    (d / "in.melt").write_text("read_data data/melt.data\nshell echo hello\nrun 100\n")
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_allow_unsafe_commands": True,
        "submit_sim_id": "melt-unsafe",
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc == 0, res
    job_id = re.search(r"job ([0-9a-f-]{36}) \(lmpspot-melt-unsafe", res.stdout).group(1)
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert {"name": "LMPSPOT_ALLOW_UNSAFE_COMMANDS", "value": "true"} in job["container"]["environment"]


def test_submit_play_a_thousand_child_sweep_and_status_lists_it(aws, playbook, batch, tmp_path, monkeypatch):
    """One SubmitJob for 1,000 children (an array job), then ``lmpspot status`` shows the
    sweep as one row, its parent job. ``lmpspot_job_executor=batch``: the play takes its AWS
    path, so the local executor does not run the 1,000 children (moto only records them)."""
    import contextlib
    import io
    import json

    from lmpspot.cli import main

    d = _inputs(tmp_path)
    ev = {
        "lmpspot_job_executor": "batch",
        "submit_input": str(d / "in.melt"),
        "submit_files": ["data/melt.data"],
        "submit_sim_id": "melt-sweep-1000",
        "submit_array_size": 1000,
        "submit_queue": QUEUE,
        "submit_job_definition": JOBDEF,
        "submit_bucket": BUCKET,
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc == 0, res
    job_id = re.search(r"job ([0-9a-f-]{36}) ", res.stdout).group(1)
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["arrayProperties"]["size"] == 1000
    assert job["parameters"]["sim_id"] == "melt-sweep-1000"

    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["status", "--bucket", BUCKET, "--queue", QUEUE, "--json"]) == 0
    rows = json.loads(out.getvalue())
    assert [(r["sim_id"], r["job_id"]) for r in rows] == [("melt-sweep-1000", job_id)]
