"""The local executor hands a real podman container its environment through a 0600 file,
not on the command line, and removes the file after the attempt (moto + real podman with
the local Debian base image; no LAMMPS needed)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import podman_env
from lmp_helpers import unmanaged_queue

from lmpspot_local.executor import Podman, run_job

pytestmark = pytest.mark.integration

BASE = "localhost/lmpspot-base:bookworm"
QUEUE = "lmpspot-test-secrets"
BUCKET = "lmpspot-test-secrets"


class WatchedPodman(Podman):
    """The real podman; every argv it is given is kept for the test to read."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.argvs: list[list[str]] = []

    def call(self, *args, **kw):
        self.argvs.append(list(args))
        return super().call(*args, **kw)

    def popen(self, args):
        self.argvs.append(list(args))
        return super().popen(args)


@pytest.fixture
def podman(tmp_path):
    if not shutil.which("podman"):
        pytest.fail("podman is required (apt-get install podman)")
    conf = tmp_path / "state" / "containers.conf"
    podman_env.ensure(str(conf))
    p = WatchedPodman(containers_conf=conf)
    if p.call("image", "exists", BASE).returncode != 0:
        pytest.fail(f"{BASE} is missing: scripts/build-base-image.sh {BASE}")
    return p


def test_credentials_reach_the_container_but_never_a_command_line(aws, podman):
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    unmanaged_queue(aws, QUEUE, ce_name="ce-secrets", role_name="r-secrets")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    batch = aws.client("batch")
    # The container checks it got the secret without the command line naming it.
    check = (
        f'test "${{LMPSPOT_TEST_SECRET%-*}}" = s3cr3t && test ${{#LMPSPOT_TEST_SECRET}} -eq {len(secret)}'
        ' && test -n "$AWS_SECRET_ACCESS_KEY" && test -n "$AWS_ENDPOINT_URL"'
    )
    jd = batch.register_job_definition(
        jobDefinitionName="jd-secrets",
        type="container",
        containerProperties={
            "image": BASE,
            "command": ["sh", "-c", check],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
            "environment": [{"name": "LMPSPOT_BUCKET", "value": BUCKET}],
        },
    )["jobDefinitionArn"]
    job_id = batch.submit_job(
        jobName="lmpspot-secrets", jobQueue=QUEUE, jobDefinition=jd, parameters={"sim_id": "secrets"}
    )["jobId"]
    (result,) = run_job(
        batch, job_id, s3_client=s3, podman=podman, extra_env={"LMPSPOT_TEST_SECRET": secret}, bucket=BUCKET
    )
    assert result.status == "SUCCEEDED", [a.output for a in result.attempts]  # the container saw them
    key = aws.client("sts")._request_signer._credentials.secret_key  # what the executor hands on
    runs = [a for a in podman.argvs if a and a[0] == "run"]
    assert runs
    for argv in podman.argvs:
        text = " ".join(argv)
        assert secret not in text and f"AWS_SECRET_ACCESS_KEY={key}" not in text, argv
        assert "-e" not in argv
    env_file = runs[0][runs[0].index("--env-file") + 1]
    assert not Path(env_file).exists()  # removed after the attempt
