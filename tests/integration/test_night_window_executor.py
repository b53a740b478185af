"""The night window through the local executor: real podman, the real cpu image, real
LAMMPS and the moto S3, with a compressed window (seconds instead of hours).

The executor holds attempts while the window is closed (the disabled compute environment),
hands the window to the container (``LMPSPOT_WINDOW``), and the runner in it checkpoints
and exits 75 at the close by itself; the retry starts at the next opening and resumes from
S3. The job must span at least two windows, and its final state must equal a plain LAMMPS
run of the same input to the last printed digit.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import datetime

import pytest
from image_fixture import cpu_image  # noqa: F401 (a fixture)
from lmp_helpers import (
    EVALUATE_ON_EXIT,
    job_environment,
    lj_fcc,
    steps_for,
    thermo_text_rows,
    unmanaged_queue,
)

from lmpspot_local.executor import EXITED_REASON, Podman, run_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "lmpspot-test-window"
QUEUE = "lmpspot-test-window"
OPEN_S, CLOSED_S = 30.0, 8.0
WORK_S = 45.0  # compute the job needs, at this machine's measured speed: > one window

# A small deterministic NVE system (864 atoms): restarts are bitwise exact.
LJ = f"""\
units           lj
atom_style      atomic
{lj_fcc(6, "1.5")}\
neighbor        0.3 bin
fix             1 all nve
thermo_style    custom step pe ke etotal press
thermo_modify   format float %.15g
thermo          1000
run             {{steps}}
"""

RETRY_STRATEGY = {  # the compute layer's rules, with Batch's maximum of attempts
    "attempts": 10,
    "evaluateOnExit": EVALUATE_ON_EXIT,
}

WRAPPER = (
    'python -m lmpspot.inputs "s3://$LMPSPOT_BUCKET/$LMPSPOT_INPUTS_PREFIX$0/" /work/input'
    ' && exec lmpspot run "$1" --job-id "$0" --workdir /work/run --bucket "$LMPSPOT_BUCKET"'
    ' --prefix "$LMPSPOT_CHECKPOINT_PREFIX" --interval 600 --imds off --notice-grace 2'
)


def test_job_runs_across_windows_and_resumes_exactly(aws, cpu_image, tmp_path):  # noqa: F811
    wrapped = cpu_image.derive("wrap-" + cpu_image.ref.rsplit(":", 1)[1], "ENTRYPOINT []\nCMD []\n")
    batch, s3 = aws.client("batch"), aws.client("s3")
    unmanaged_queue(aws, QUEUE, ce_name="lmpspot-test-window", role_name="lmpspot-test-batch")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    jobdef = batch.register_job_definition(
        jobDefinitionName="lmpspot-test-window",
        type="container",
        containerProperties={
            "image": wrapped,
            "command": ["sh", "-c", WRAPPER, "Ref::sim_id", "Ref::input"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "environment": job_environment(BUCKET),
        },
        retryStrategy=RETRY_STRATEGY,
    )["jobDefinitionArn"]
    sim_id = "lj-window"
    steps = steps_for(LJ, WORK_S, tmp_path, 4000)
    script = LJ.format(steps=steps)
    s3.put_object(
        Bucket=BUCKET, Key=f"inputs/{sim_id}/in.lj", Body=script.encode(), ChecksumAlgorithm="SHA256"
    )
    # The reference: the same input, uninterrupted, with the plain lmp (alongside the job).
    (tmp_path / "in.lj").write_text(script)
    plain_run = subprocess.Popen(
        [shutil.which("lmp") or "lmp", "-in", "in.lj", "-log", "plain.log", "-screen", "none"], cwd=tmp_path
    )
    job_id = batch.submit_job(
        jobName=f"lmpspot-{sim_id}",
        jobQueue=QUEUE,
        jobDefinition=jobdef,
        parameters={"sim_id": sim_id, "input": "/work/input/in.lj"},
    )["jobId"]

    # The window is closed when the executor picks the job up: it waits for the opening.
    anchor = time.time() + 4.0
    window = f"cycle {OPEN_S:g} {CLOSED_S:g} {anchor:.3f}"
    logs: list[str] = []
    t0 = time.time()
    [result] = run_job(
        batch,
        job_id,
        s3_client=s3,
        podman=Podman(containers_conf=cpu_image.containers_conf),
        window=window,
        window_grace_s=25,
        log=logs.append,
    )
    wall = time.time() - t0
    attempts = result.attempts
    outputs = {a.attempt: "\n".join(a.output) for a in attempts}
    assert result.status == "SUCCEEDED", (logs, outputs)
    assert len(attempts) >= 2, logs  # at least two windows

    for a in attempts[:-1]:  # each stopped at a close, by its own runner, checkpointed
        assert (a.exit_code, a.status_reason, a.action) == (75, EXITED_REASON, "RETRY"), outputs[a.attempt]
        assert a.window_closed_at, a
        assert "night window closed" in outputs[a.attempt], outputs[a.attempt]
        assert re.search(r"checkpointed at step \d+", outputs[a.attempt]), outputs[a.attempt]
    assert not any("still running after the close" in m for m in logs), logs  # no executor SIGTERM
    assert any("RUNNABLE, night window closed" in m for m in logs), logs  # waited before attempt 1
    # no attempt started while the window was closed (1 s of slack for the clock reads)
    period = OPEN_S + CLOSED_S
    for a in attempts:
        started = datetime.fromisoformat(a.started_at.replace("Z", "+00:00")).timestamp()
        assert started >= anchor - 1.0, (a.started_at, anchor)
        assert (started - anchor + 1.0) % period < OPEN_S + 1.0, (a.started_at, anchor)

    # each retry resumed where the previous attempt checkpointed
    for prev, nxt in zip(attempts, attempts[1:], strict=False):
        ckpt = int(re.findall(r"checkpointed at step (\d+)", outputs[prev.attempt])[-1])
        resumed = re.search(r"resuming at step (\d+)", outputs[nxt.attempt])
        assert resumed and int(resumed.group(1)) == ckpt, outputs[nxt.attempt]
    assert f"finished at step {steps}" in outputs[attempts[-1].attempt]

    # Exact: the whole log kept in S3 equals a plain, uninterrupted LAMMPS run.
    assert plain_run.wait(timeout=600) == 0
    plain = thermo_text_rows((tmp_path / "plain.log").read_text())
    windowed = thermo_text_rows(
        s3.get_object(Bucket=BUCKET, Key=f"results/{sim_id}/log.lammps")["Body"].read().decode()
    )
    assert plain[steps] == windowed[steps], (plain[steps], windowed[steps])
    common = sorted(set(plain) & set(windowed))
    assert len(common) == steps // 1000 + 1, (sorted(plain), sorted(windowed))
    assert all(plain[s] == windowed[s] for s in common)

    record = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{sim_id}/attempts.json")["Body"].read())
    assert record["status"] == "SUCCEEDED"
    # The job record holds each close as the executor saw it (the last attempt may also have
    # seen one, when it finished within the grace after a close on a busy machine).
    assert [bool(a["window_closed_at"]) for a in record["attempts"]] == [
        bool(a.window_closed_at) for a in attempts
    ]
    print(f"night window job: {steps} steps, {len(attempts)} windows, {wall:.0f} s wall")
