"""The runner refuses input-script commands that run arbitrary code unless opted in (real LAMMPS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc

SCRIPT = "units lj\natom_style atomic\n" + lj_fcc(2, "1.0") + "fix 1 all nve\nshell touch {marker}\nrun 20\n"


def _run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, Path]:
    marker = tmp_path / "marker"
    script = tmp_path / "in.lj"
    script.write_text(SCRIPT.format(marker=marker))
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(script), "--job-id", "trust",
           "--workdir", str(tmp_path / "run"), "--allow-short-interval", *args]  # fmt: skip
    proc = subprocess.run(cmd, env=lammps_env(env), capture_output=True, text=True, timeout=180, check=False)
    return proc, marker


def test_shell_is_refused_before_lammps_runs_anything(tmp_path):
    proc, marker = _run(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "in.lj:12: 'shell' is refused" in proc.stderr
    assert "--allow-unsafe-commands" in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--allow-unsafe-commands",), None), ((), {"LMPSPOT_ALLOW_UNSAFE_COMMANDS": "true"})],
    ids=["flag", "env"],
)
def test_shell_runs_with_the_opt_in(tmp_path, args, env):
    proc, marker = _run(tmp_path, *args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert marker.exists()
