"""Fresh, reproducible random streams after a resume (fix langevin, real LAMMPS).

A Langevin run is stopped at its first (mid-stage) checkpoint, then the work directory is
copied and resumed three times: twice with fresh seeds (the default) and once with
``--keep-seeds``.  The two default resumes must produce the same trajectory bit for bit
(the derived seed depends only on the script's seed and the resume point); the
``--keep-seeds`` resume re-uses the stage start's random stream and must differ from
them.  The manifest records the seed, the derived seed and the formula.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

from lmpspot.checkpoint import LocalStore
from lmpspot.seeds import SEED_MAX, derive_seed

pytestmark = pytest.mark.integration

SEED = 4242
SCRIPT = f"""\
units           lj
atom_style      atomic
{lj_fcc(4, "1.0", 12345)}\
neighbor        0.3 bin
thermo          100
thermo_style    custom step temp pe ke etotal press
thermo_modify   format float %.17g
fix             1 all nve
fix             2 all langevin 1.0 1.0 0.5 {SEED}
dump            d all custom 500 traj.dump id x y z vx vy vz
dump_modify     d format float %.17g
run             3000
"""


def run(wd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(wd / "in.lang"),
        "--job-id",
        "seeds",
        "--workdir",
        str(wd),
        "--allow-short-interval",
        *args,
    ]
    return subprocess.run(cmd, env=lammps_env(), capture_output=True, text=True, timeout=300, check=False)


def after(rows: dict, step: int) -> dict:
    """Thermo rows past ``step`` at the script's thermo steps (chunk-boundary rows vary)."""
    return {s: sorted(v) for s, v in rows.items() if s > step and s % 100 == 0}


def test_derived_seed_is_in_range_and_depends_on_the_resume_point():
    seeds = {derive_seed(SEED, stage, step) for stage in range(3) for step in (0, 10, 1000, 10**9)}
    assert len(seeds) == 12
    assert all(1 <= s <= SEED_MAX for s in seeds)
    assert derive_seed(SEED, 1, 10) == derive_seed(SEED, 1, 10)


def test_resume_draws_a_fresh_reproducible_stream(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "in.lang").write_text(SCRIPT)
    p = run(base, "--interval", "0.05", "--stop-after-checkpoints", "1")
    assert p.returncode == 75, p.stderr
    man = LocalStore(base / "checkpoints").newest_valid()[1]
    assert not man.extra["stage_done"] and 0 < man.step < 3000
    at = man.step

    results = {}
    for name, extra in (("a", []), ("b", []), ("keep", ["--keep-seeds"])):
        wd = tmp_path / name
        shutil.copytree(base, wd)
        p = run(wd, "--interval", "600", *extra)
        assert p.returncode == 0, p.stderr
        assert f"resuming at step {at}" in p.stderr
        results[name] = (after(thermo_rows(wd / "log.lammps"), at), (wd / "traj.dump").read_bytes(), p.stderr)
        final = LocalStore(wd / "checkpoints").newest_valid()[1]
        if name == "keep":
            assert final.extra["seeds"] == []
        else:
            (rec,) = final.extra["seeds"]
            assert rec["seed"] == SEED and rec["derived"] == derive_seed(SEED, 0, at)
            assert rec["step"] == at and "sha256" in rec["formula"]
            assert f"seed {SEED} -> {rec['derived']}" in p.stderr
    a, b, keep = results["a"], results["b"], results["keep"]
    assert a[0] and a[0] == b[0] and a[1] == b[1]  # same checkpoint -> same trajectory
    assert keep[0] != a[0] and keep[1] != a[1]  # the stage start's stream is not re-used
