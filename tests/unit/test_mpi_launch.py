"""lmpspot.mpi's launcher side and the CLI's MPI options (no MPI job started here;
tests/integration/test_runner_mpi.py runs real ranks)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lmpspot import cli, mpi


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["run", "in.lj", "--mpi-ranks", "2"], ["run", "in.lj", "--mpi-ranks", "2"]),
        (
            ["run", "in.lj", "--mpi-launcher", "mpirun -x A", "--mpi-ranks", "8"],
            ["run", "in.lj", "--mpi-ranks", "8"],
        ),
        (["run", "--mpi-launcher=mpirun", "in.lj"], ["run", "in.lj"]),
        (["run", "in.lj", "--fetch-inputs", "--bucket", "b"], ["run", "in.lj", "--bucket", "b"]),
    ],
)
def test_strip_launch_options(argv, want):
    assert mpi.strip_launch_options(argv, drop_flags=("--fetch-inputs",)) == want


def test_launcher_from_option_env_and_default(monkeypatch):
    monkeypatch.delenv(mpi.LAUNCHER_ENV, raising=False)
    # an explicit launcher: resolved on PATH, its arguments kept
    assert mpi.launcher_command(f"{sys.executable} --bind-to none") == [sys.executable, "--bind-to", "none"]
    monkeypatch.setenv(mpi.LAUNCHER_ENV, f"{sys.executable} -x")
    assert mpi.launcher_command() == [sys.executable, "-x"]
    assert mpi.launcher_command("mpiexec")[0].endswith("mpiexec")  # the option wins over the env
    monkeypatch.delenv(mpi.LAUNCHER_ENV)
    # default: the mpich wheel's mpiexec next to this interpreter
    assert mpi.launcher_command() == [str(Path(sys.executable).parent / "mpiexec")]


def test_missing_launcher_names_the_setting():
    with pytest.raises(mpi.MpiError, match="--mpi-launcher"):
        mpi.launcher_command("no-such-mpirun-here -n")


@pytest.mark.parametrize(
    ("env", "rank_env", "local"),
    [
        ({}, False, None),
        ({"PMI_RANK": "3", "MPI_LOCALRANKID": "3"}, True, 3),  # MPICH hydra
        ({"OMPI_COMM_WORLD_RANK": "9", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}, True, 1),  # Open MPI
        ({mpi.CONTROL_ENV: "/tmp/x"}, True, None),  # our launcher
        ({"SLURM_LOCALID": "x"}, False, None),  # not a number: unknown
    ],
)
def test_rank_detection(monkeypatch, env, rank_env, local):
    for v in (*mpi._RANK_ENV, *mpi._LOCAL_RANK_ENV, mpi.CONTROL_ENV):
        monkeypatch.delenv(v, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert mpi.in_mpi_rank() is rank_env
    assert mpi.local_rank() == local


@pytest.mark.parametrize(
    ("visible", "local", "want"),
    [(None, "2", "2"), ("4,5,6", "1", "5"), ("4,5", "3", "5"), ("GPU-a,GPU-b", "0", "GPU-a")],
)
def test_gpu_bind_local_rank(monkeypatch, visible, local, want):
    for v in mpi._LOCAL_RANK_ENV:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", local)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    cli._bind_gpu("local-rank")
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == want


def test_run_parser_accepts_the_node_job_options():
    args = cli.build_parser().parse_args(
        [
            "run",
            "in.lj",
            "--job-id",
            "j",
            "--workdir",
            "/w",
            "--mpi-ranks",
            "8",
            "--mpi-gpu-bind",
            "local-rank",
        ]
    )
    assert args.mpi_ranks == 8 and args.mpi_gpu_bind == "local-rank" and args.mpi_launcher is None
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(
            ["run", "in.lj", "--job-id", "j", "--workdir", "/w", "--mpi-gpu-bind", "x"]
        )


def test_mpi_ranks_below_one_is_refused(capsys):
    assert cli.main(["run", "in.lj", "--job-id", "j", "--workdir", "/w", "--mpi-ranks", "0"]) == 2
    assert "--mpi-ranks must be >= 1" in capsys.readouterr().err


def test_single_world_is_a_no_op():
    w = mpi.SingleWorld()
    assert (w.rank, w.size) == (0, 1)
    assert w.bcast({"a": 1}) == {"a": 1}


FAKE_STUCK_RANKS = """\
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a rank stuck in a collective never acts on it
with open(os.path.join(os.environ["LMPSPOT_MPI_CONTROL"], "rank0.pid"), "w") as fh:
    fh.write(str(os.getpid()))
with open(sys.argv[1], "w") as fh:
    fh.write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""


def test_ranks_that_ignore_a_relayed_sigterm_are_killed_after_stop_linger(tmp_path):
    """A deadlocked MPI job must not outlive its stop: after ``stop_linger`` seconds
    without rank 0's result the launcher's process group is killed and the attempt fails
    (1: retried), instead of hanging until Batch's own timeout."""
    import os
    import signal
    import threading
    import time

    fake = tmp_path / "fake_mpiexec.py"
    fake.write_text(FAKE_STUCK_RANKS)
    pidfile = tmp_path / "pid"
    logs: list[str] = []
    # the fake "launcher" gets "-n 2 python -m lmpspot.cli ..." after its own argv: ignore them
    launcher = [sys.executable, str(fake), str(pidfile), "--"]
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    t0 = time.monotonic()
    rc = mpi.launch(2, ["run", "x"], launcher=launcher, log=logs.append, stop_linger=1.5)
    took = time.monotonic() - t0
    assert rc == 1, logs
    assert any("relayed SIGTERM" in m for m in logs), logs
    assert any("did not stop within 2s" in m for m in logs), logs
    assert took < 30, took
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


IGNORE_SIGNALS = """\
import signal, sys, time
for s in (signal.SIGTERM, signal.SIGUSR1):
    signal.signal(s, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def test_relayed_signals_wait_for_rank0_and_only_a_stop_counts(tmp_path):
    """Signals stay queued until rank 0 has written its pid; SIGUSR1 (checkpoint, go on)
    is relayed but is no stop, SIGTERM is."""
    logs: list[str] = []
    pending = [int(signal.SIGUSR1)]
    assert mpi._relay_pending(pending, tmp_path, logs.append) is False
    assert pending == [signal.SIGUSR1] and logs == []  # rank 0 not started: held
    child = subprocess.Popen([sys.executable, "-c", IGNORE_SIGNALS], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        (tmp_path / "rank0.pid").write_text(f"{child.pid}\n")
        assert mpi._relay_pending(pending, tmp_path, logs.append) is False
        assert pending == [] and logs == [f"relayed SIGUSR1 to rank 0 (pid {child.pid})"]
        pending += [int(signal.SIGUSR1), int(signal.SIGTERM)]
        assert mpi._relay_pending(pending, tmp_path, logs.append) is True
        assert pending == [] and logs[-1] == f"relayed SIGTERM to rank 0 (pid {child.pid})"
    finally:
        child.kill()
        child.wait()
