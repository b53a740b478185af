"""The README's first command, from a fresh clone, against its own local AWS.

Clones the committed tree (what CI and a new user get), runs ``make up`` on a free
port, asserts the system's state through boto3, then runs ``make up`` again and
asserts nothing changed.  The clone reuses this checkout's ``.venv`` (via ``VENV=``)
so the test measures the playbooks rather than PyPI; CI's own run of ``make test`` in
its fresh clone exercises the venv creation path.
"""

from __future__ import annotations

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

        rc2, out2, second_s = _make(clone, "up", ports)
        assert rc2 == 0, out2[-8000:]
        assert _changed(out2) == 0, out2[-8000:]
        print(f"\nmake up: first {first_s:.1f}s, no-op re-run {second_s:.1f}s")
    finally:
        _make(clone, "local-aws-stop", ports, timeout=120)
