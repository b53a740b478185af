"""The deadline policy inside the runner: real LAMMPS, no S3 (the attempt history in the
work directory).  The runner learns its queue from AWS_BATCH_JQ_NAME against the job
definition's LMPSPOT_SPOT_QUEUE / LMPSPOT_ONDEMAND_QUEUE, and ends a move with exit 22
(to On-Demand) or 23 (to Spot) after a checkpoint -- or, decided at the start, before any
MD step.  A move's checkpoint is at an exact step: the run continued on the other queue
equals plain ``lmp -in``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

pytestmark = pytest.mark.integration

SCRIPT = f"""\
units           lj
atom_style      atomic
{lj_fcc(5, "1.5", 5011)}\
neighbor        0.3 bin
atom_modify     sort 100 0.0
thermo          500
thermo_style    custom step temp pe ke etotal press
thermo_modify   format float %.17g
fix             1 all nve
run             6000
unfix           1
fix             2 all nvt temp 1.0 1.0 0.5
run             6000
"""
QUEUES = {"LMPSPOT_SPOT_QUEUE": "lmpspot-test-spot", "LMPSPOT_ONDEMAND_QUEUE": "lmpspot-test-ondemand"}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(wd: Path, queue: str | None, *extra: str) -> subprocess.CompletedProcess:
    env = dict(QUEUES)
    if queue:
        env["AWS_BATCH_JQ_NAME"] = QUEUES[f"LMPSPOT_{queue}_QUEUE"]
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(wd / "in.lj"), "--job-id", "dl",
           "--workdir", str(wd), "--allow-short-interval", "--imds", "off", *extra]  # fmt: skip
    return subprocess.run(
        cmd, env=lammps_env(env, unset=("LMPSPOT_LIFECYCLE",)), capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def records(wd: Path) -> list[dict]:
    return sorted(
        (json.loads(p.read_text()) for p in (wd / ".attempts").glob("*.json")), key=lambda r: r["started"]
    )


def plain_log(tmp_path: Path) -> dict:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "in.lj").write_text(SCRIPT)
    subprocess.run(
        [str(Path(sys.executable).parent / "lmp"), "-in", "in.lj", "-log", "log.lammps", "-screen", "none"],
        cwd=plain, env=lammps_env(), check=True, timeout=300,
    )  # fmt: skip
    return thermo_rows(plain / "log.lammps")


def test_ahead_on_demand_moves_to_spot_at_a_checkpoint_and_the_run_stays_exact(tmp_path: Path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(SCRIPT)
    deadline = iso(time.time() + 6 * 3600)
    p = run(wd, "ONDEMAND", "--interval", "1", "--deadline", deadline, "--changeover", "1")
    assert p.returncode == 23, p.stderr
    assert "deadline-policy: move to spot" in p.stderr, p.stderr
    (rec,) = records(wd)
    assert rec["lifecycle"] == "on-demand"
    assert rec["exit_code"] == 23 and rec["exit_reason"].startswith("deadline-policy: move to spot")
    assert rec["deadline"] == deadline
    assert rec["policy"]["queue"] == "spot" and rec["policy"]["ahead_s"] > 2
    assert list((wd / "checkpoints").glob("ckpt-*")), "the move checkpointed"
    # the next attempt, on Spot, is ahead too: it stays there and finishes
    p = run(wd, "SPOT", "--interval", "1", "--deadline", deadline, "--changeover", "1")
    assert p.returncode == 0, p.stderr
    second = records(wd)[-1]
    assert second["lifecycle"] == "spot" and second["policy"]["queue"] == "spot"
    ref, got = plain_log(tmp_path), thermo_rows(wd / "log.lammps")
    assert 12000 in got
    assert set(ref) <= set(got)
    for step, rows in got.items():  # the runner's own thermo lines at chunk ends aside
        for row in rows:
            assert step not in ref or row in ref[step], (step, row)


def test_a_deadline_out_of_reach_on_spot_moves_on_demand(tmp_path: Path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(SCRIPT)
    p = run(wd, "SPOT", "--interval", "1", "--deadline", iso(time.time() + 2), "--changeover", "1")
    assert p.returncode == 22, p.stderr
    (rec,) = records(wd)
    assert rec["policy"]["queue"] == "on-demand" and rec["policy"]["pinned"] is True
    assert "cannot be met" in rec["exit_reason"]


def test_spot_lost_behind_the_line_moves_on_demand_before_any_md_step(tmp_path: Path):
    """History: an attempt on Spot, started an hour ago, interrupted a minute ago, never
    checkpointed.  Half-way to the deadline with nothing done: behind the line, slack
    plenty -- Uniform Progress catches up On-Demand, decided before LAMMPS runs a step."""
    wd = tmp_path / "wd"
    (wd / ".attempts").mkdir(parents=True)
    (wd / "in.lj").write_text(SCRIPT)
    now = time.time()
    prev = {
        "schema": 1, "sim_id": "dl", "uid": "0badc0de", "batch_job_id": "j-1", "batch_attempt": 1,
        "started": iso(now - 3600), "stopped": iso(now - 60), "updated": iso(now - 60), "host": "h",
        "instance_type": "g5.xlarge", "lifecycle": "spot", "exit_code": 75,
        "exit_reason": "checkpointed: SIGTERM", "resumed_from": None, "last_checkpoint": None,
        "last_step": 7_000_000, "steps_lost": 7_000_000,
    }  # fmt: skip
    (wd / ".attempts" / "20261204T000000.000000Z-0badc0de.json").write_text(json.dumps(prev))
    p = run(wd, "SPOT", "--interval", "600", "--deadline", iso(now + 3600), "--changeover", "30")
    assert p.returncode == 22, p.stderr
    assert "no MD step run here" in p.stderr
    rec = [r for r in records(wd) if r["uid"] != "0badc0de"][0]
    assert rec["exit_reason"].startswith("deadline-policy: move to on-demand (Spot lost")
    assert rec["policy"]["ahead_s"] < 0 and rec["policy"]["pinned"] is False
    assert not list((wd / "checkpoints").glob("ckpt-*")), "a move at the start writes no checkpoint"


def test_without_a_known_queue_the_policy_is_off(tmp_path: Path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(SCRIPT.replace("run             6000\n", "run             500\n"))
    p = run(wd, None, "--interval", "600", "--deadline", iso(time.time() + 2))
    assert p.returncode == 0, p.stderr
    assert "the deadline policy is off" in p.stderr
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(
            [sys.executable, "-m", "lmpspot.cli", "run", str(wd / "in.lj"), "--job-id", "dl2",
             "--workdir", str(tmp_path / "w2"), "--imds", "off", "--deadline", "36h"],
            env=lammps_env(), capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
