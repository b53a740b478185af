"""The README's first command, from a fresh clone, against its own local AWS.

Clones the committed tree (what CI and a new user get), runs ``make up`` on a free
port: it stands the system up (site.yml) and runs the main job -- the polymer example
through playbooks/submit.yml, with a spot notice injected into attempt 1 -- then writes
its report.  The outcome is asserted from the local AWS through boto3 (the job
record, the checkpoints and results in the bucket, the report), not from the log.
``make up`` then runs again: nothing changes and the finished job is not run again.
The clone reuses this checkout's ``.venv`` (via ``VENV=``)
so the test measures the playbooks rather than PyPI; CI's own run of ``make test`` in
its fresh clone exercises the venv creation path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from conftest import RECAP, REPO, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _make(clone: Path, target: str, ports: tuple[int, int], timeout: int = 1500) -> tuple[int, str, float]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ANSIBLE_")) and k not in ("MAKEFLAGS", "MFLAGS")
    }
    venv = Path(sys.executable).parent.parent
    aws_port, registry_port = ports
    args = f"ARGS=-e lmpspot_local_aws_port={aws_port} -e registry_local_port={registry_port}"
    cmd = ["make", "-C", str(clone), target, f"VENV={venv}", args]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def _changed(output: str) -> int:
    return sum(int(m["changed"]) for m in RECAP.finditer(output))


@pytest.fixture
def clone(tmp_path):
    dest = tmp_path / "lmpspot"
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)
    return dest


def test_make_up_from_fresh_clone(clone):
    port = free_port()
    ports = (port, free_port())
    try:
        rc, out, first_s = _make(clone, "up", ports)
        assert rc == 0, out[-8000:]
        assert (clone / ".state" / "moto.pid").exists()

        def client(svc):
            return boto3.client(
                svc,
                endpoint_url=f"https://127.0.0.1:{port}",
                verify=str(clone / ".state" / "tls" / "ca.pem"),  # the clone's own local CA
                region_name="us-east-2",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        vpcs = client("ec2").describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["lmpspot"]}])["Vpcs"]
        assert [v["CidrBlock"] for v in vpcs] == ["10.42.0.0/16"]
        assert "lmpspot-local-results" in [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
        roles = [r["RoleName"] for r in client("iam").list_roles()["Roles"]]
        assert any(r.startswith("lmpspot-local-") for r in roles), roles
        record_1 = _assert_main_job(client("s3"))
        # The terminal showed the job as it went (make up follows the executor's log).
        assert "spot interruption notice injected" in out, out[-8000:]
        assert "resuming from s3 checkpoint" in out, out[-8000:]

        rc2, out2, second_s = _make(clone, "up", ports)
        assert rc2 == 0, out2[-8000:]
        assert _changed(out2) == 0, out2[-8000:]
        assert "already finished" in out2, out2[-8000:]
        assert _job_record(client("s3")) == record_1  # not run again
        print(f"\nmake up: first {first_s:.1f}s, no-op re-run {second_s:.1f}s")
    finally:
        _make(clone, "local-aws-stop", ports, timeout=120)


BUCKET = "lmpspot-local-results"


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _job_record(s3) -> dict:
    keys = [k for k in _keys(s3, "results/") if k.endswith("/attempts.json")]
    assert len(keys) == 1, keys  # the main job, and only it
    return json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())


def _assert_main_job(s3) -> dict:
    """The main job checkpointed on the notice, was retried, resumed from S3 and finished."""
    doc = _job_record(s3)
    sim = doc["sim_id"]
    assert sim.startswith("in-polymer-"), sim
    assert doc["status"] == "SUCCEEDED", doc
    first, second = doc["attempts"]
    assert first["notice_injected_at"], first
    assert (first["exit_code"], first["action"]) == (75, "RETRY"), first
    assert (second["exit_code"], second["action"]) == (0, "SUCCEEDED"), second
    # Attempt 2 ran on a fresh container: it could only resume from S3.
    log2 = s3.get_object(Bucket=BUCKET, Key=f"results/{sim}/logs/attempt-2.log")["Body"].read().decode()
    assert "resuming from s3 checkpoint" in log2, log2[-3000:]
    manifests = [k for k in _keys(s3, f"checkpoints/{sim}/") if k.endswith("/manifest.json")]
    assert 1 <= len(manifests) <= 3, manifests  # retention: the last 3
    results = set(_keys(s3, f"results/{sim}/"))
    for name in ("log.lammps", "final.data", "msd.dat", "traj.lammpstrj", "status.json"):
        assert f"results/{sim}/{name}" in results, sorted(results)
    status = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{sim}/status.json")["Body"].read())
    assert status["step"] == status["total_steps"] == 100000, status
    for name in ("report.md", "thermo.png", "rate.png", "checkpoints.png", "progress.png"):
        assert f"results/{sim}/report/{name}" in results, sorted(results)
    png = s3.get_object(Bucket=BUCKET, Key=f"results/{sim}/report/thermo.png")["Body"].read()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    # the report's telemetry: the one injected interruption, its lost steps and recovery time
    md = s3.get_object(Bucket=BUCKET, Key=f"results/{sim}/report/report.md")["Body"].read().decode()
    assert "## Interruptions and cost" in md and "| interruptions | 1 |" in md, md
    tel = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{sim}/report/report.json")["Body"].read())[
        "telemetry"
    ]
    (intr,) = tel["interruption_list"]
    assert intr["steps_lost"] is not None and intr["recovery_s"] is not None and intr["recovery_s"] > 0, tel
    return doc
