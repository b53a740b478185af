"""The Batch hosts' Spot-notice handler (roles/compute/files/lmpspot-spot-notice.sh, put on
every GPU host by the launch template's user data) against a real IMDSv2 stand-in and
real podman containers.

Batch jobs cannot read IMDS (hop limit 1 and the user data's rule for non-root users), so
this handler is how the notice reaches them: SIGTERM to every ECS job container (label
``com.amazonaws.ecs.task-arn``), once each, including containers that start after the
notice; other containers (the ECS agent's) are left alone.  ``docker`` is podman here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from lmpspot_local.imds_stub import ImdsStub

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "roles" / "compute" / "files" / "lmpspot-spot-notice.sh"
IMAGE = os.environ.get("LMPSPOT_BASE_IMAGE", "localhost/lmpspot-base:bookworm")
LABEL = "com.amazonaws.ecs.task-arn"
# Exits 75 on SIGTERM (what the runner does after its checkpoint), else runs on.
JOB = "trap 'exit 75' TERM; while :; do sleep 0.2; done"


@pytest.fixture(scope="module")
def podman_env():
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    env = dict(os.environ)
    out = subprocess.run(
        [str(REPO / "scripts" / "podman-env.sh")], capture_output=True, text=True, check=True, env=env
    ).stdout
    for word in out.replace("export ", "").split():
        key, _, value = word.partition("=")
        env[key] = value.strip("'\"")
    subprocess.run([str(REPO / "scripts" / "build-base-image.sh"), IMAGE], check=True, env=env, timeout=900)
    return env


def _start(env, name: str, labelled: bool) -> None:
    label = ["--label", f"{LABEL}=arn:aws:ecs:us-east-2:1:task/{name}"] if labelled else []
    subprocess.run(
        ["podman", "run", "-d", "--name", name, *label, IMAGE, "bash", "-c", JOB],
        check=True, env=env, capture_output=True, timeout=120,
    )  # fmt: skip


def _state(env, name: str) -> tuple[str, int]:
    out = subprocess.run(
        ["podman", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name],
        check=True, env=env, capture_output=True, text=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return out[0], int(out[1])


def _wait_exit(env, name: str, timeout: float = 30.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, code = _state(env, name)
        if status == "exited":
            return code
        time.sleep(0.2)
    raise AssertionError(f"{name} still {_state(env, name)} after {timeout}s")


def test_notice_becomes_sigterm_for_job_containers_only(podman_env, tmp_path):
    env = podman_env
    tag = uuid.uuid4().hex[:8]
    job1, job2, agent = f"lmpspot-t-job1-{tag}", f"lmpspot-t-job2-{tag}", f"lmpspot-t-agent-{tag}"
    handler = None
    try:
        with ImdsStub() as imds:
            _start(env, job1, labelled=True)
            _start(env, agent, labelled=False)
            log = (tmp_path / "handler.log").open("w")
            handler = subprocess.Popen(
                ["bash", str(HANDLER)],
                env={
                    **env,
                    "LMPSPOT_IMDS_ENDPOINT": imds.url,
                    "LMPSPOT_SPOT_POLL_S": "0.2",
                    "LMPSPOT_DOCKER": "podman",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            time.sleep(2.0)  # several polls without a notice: nothing is signalled
            assert _state(env, job1) == ("running", 0)
            imds.schedule_interruption(120)
            assert _wait_exit(env, job1) == 75
            # A job container started after the notice gets SIGTERM as well.
            _start(env, job2, labelled=True)
            assert _wait_exit(env, job2) == 75
            assert _state(env, agent)[0] == "running"
            assert handler.poll() is None  # the stand-in answers GETs only with an IMDSv2 token
    finally:
        if handler is not None:
            handler.terminate()
            handler.wait(timeout=10)
        for name in (job1, job2, agent):
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], env=env, capture_output=True, check=False)
    text = (tmp_path / "handler.log").read_text()
    assert "interruption notice" in text and text.count("SIGTERM sent") == 2, text
