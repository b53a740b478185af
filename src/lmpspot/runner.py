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
running-simulations register, the spot watcher, signals, progress and the outputs; every branch that decides
which LAMMPS command comes next and depends on the clock, a signal, the watcher or the
disk is evaluated on rank 0 and broadcast (:func:`lmpspot.mpi.agree`), so all ranks issue
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

Parts
-----
:class:`Runner` orchestrates one attempt and owns its collaborators:
:class:`~lmpspot.session.LammpsSession` (the LAMMPS instance),
:class:`~lmpspot.replay.Replay` (commands before the resume point),
:class:`~lmpspot.stages.StageRunner` (a stage in chunks, its checkpoint moments),
:class:`~lmpspot.checkpointing.Checkpointer` (write, commit, sync; the exit after it),
:class:`~lmpspot.stops.Stops` (signals, notices, the lease, the deadline policy),
:class:`~lmpspot.stores.AttemptStores` (lease, resume checkpoint, local store, syncer) and
:class:`~lmpspot.run_outputs.RunOutputs` (the outputs in S3 across attempts).

Exit codes (:mod:`lmpspot.exits`)
---------------------------------
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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmpspot import accel, running
from lmpspot.checkpoint import Manifest
from lmpspot.checkpointing import RESTART_NAME, RUNNER_FORMAT, Checkpointer
from lmpspot.chunking import ChunkSizer
from lmpspot.exits import (
    EXIT_BAD_INPUT,
    EXIT_CHECKPOINTED,
    EXIT_FAILED,
    EXIT_LEASE_HELD,
    EXIT_MOVE,
    EXIT_MOVE_ON_DEMAND,
    EXIT_MOVE_SPOT,
    EXIT_OK,
    EXIT_STORE_UNAVAILABLE,
    CheckpointWriteError,
    LammpsError,
    RestartRejected,
)
from lmpspot.guard import LeaseHeld, StoreUnavailable
from lmpspot.mpi import SingleWorld
from lmpspot.progress import Progress, sample_gpu_utilization
from lmpspot.replay import Replay
from lmpspot.resume import ResumeRefused
from lmpspot.run_outputs import RunOutputs
from lmpspot.script import Kind, Plan, ScriptError, parse_script
from lmpspot.session import DEFAULT_SORTFREQ, LammpsSession, Tally, build_hash
from lmpspot.stages import StageRunner
from lmpspot.stops import Stops
from lmpspot.stores import AttemptStores

__all__ = [
    "DEFAULT_SORTFREQ",
    "EXIT_BAD_INPUT",
    "EXIT_CHECKPOINTED",
    "EXIT_FAILED",
    "EXIT_LEASE_HELD",
    "EXIT_MOVE",
    "EXIT_MOVE_ON_DEMAND",
    "EXIT_MOVE_SPOT",
    "EXIT_OK",
    "EXIT_STORE_UNAVAILABLE",
    "MIN_INTERVAL",
    "RESTART_NAME",
    "RUNNER_FORMAT",
    "CheckpointWriteError",
    "LammpsError",
    "RestartRejected",
    "Runner",
    "RunnerConfig",
    "build_hash",
]

MIN_INTERVAL = 60.0  # below this the caller must pass allow_short_interval

LogFn = Callable[[str], None]


def _default_log(msg: str) -> None:
    print(f"lmpspot: {msg}", file=sys.stderr, flush=True)


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
        self.chunk_seconds = accel.chunk_seconds(self.accel, cfg.chunk_seconds, cfg.interval)
        self.s3 = s3
        self.log = log or _default_log
        self.progress = progress
        # MPI: rank 0 decides, the other ranks follow (lmpspot.mpi.World); one process: no MPI.
        self.world = world if world is not None else SingleWorld()
        self.is_root = self.world.rank == 0
        self.plan: Plan | None = None
        self.tally = Tally()
        self.session = LammpsSession(self.world)
        self.stores = AttemptStores(self.world, cfg=cfg, s3=s3, log=self.log)
        self.stops = Stops(
            self.world,
            self.tally,
            self.stores,
            watcher=watcher,
            stop_after_checkpoints=cfg.stop_after_checkpoints,
            log=self.log,
        )
        self.outputs = RunOutputs(
            self.session,
            workdir=cfg.workdir,
            checkpoint_dir=cfg.checkpoint_dir,
            job_id=cfg.job_id,
            results_prefix=cfg.results_prefix,
            s3=s3,
            log=self.log,
        )
        self.replay = Replay(self.session, fresh_seeds=cfg.fresh_seeds, log=self.log)
        self.ckpt = Checkpointer(
            self.session, self.tally, self.stores, self.stops, self.outputs, cfg=cfg, accel=self.accel,
            seeds=self.replay.seeds, progress=self._progress, log=self.log,
        )  # fmt: skip
        self.stages = StageRunner(
            self.session, self.tally, self.stops, self.ckpt,
            sizer=ChunkSizer(self.chunk_seconds, cfg.max_chunk_seconds), accel=self.accel,
            interval=cfg.interval, notice_grace=cfg.notice_grace, progress=self._progress, log=self.log,
        )  # fmt: skip

    # -- main --------------------------------------------------------------------------
    def run(self) -> int:
        """Run the job; return one of the ``EXIT_*`` codes (never raises for bad input)."""
        rc, reason = EXIT_FAILED, "unexpected error"
        try:
            rc, reason = self._run_outcome()
            return rc
        finally:
            if self.stores.guard is not None and self.is_root:
                self.stores.guard.stop(rc, reason)

    def _run_outcome(self) -> tuple[int, str]:
        cfg = self.cfg
        try:
            self.plan = parse_script(cfg.input, allow_unsafe=cfg.allow_unsafe)
        except ScriptError as e:
            self.log(f"bad input: {e}")
            return EXIT_BAD_INPUT, f"bad input: {e}"
        self.replay.plan = self.ckpt.plan = self.stages.plan = self.plan
        old_handlers = self.stops.install_signals()
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
            self.stops.restore_signals(old_handlers)
            if self.session.lmp is not None:
                self.session.close()  # LAMMPS writes the log's last lines (total wall time) here
            syncer = self.stores.syncer
            if syncer is not None:
                self.outputs.sync(syncer)  # so the outputs in S3 end as they end on disk
                syncer.close(timeout=cfg.flush_timeout)

    def _reason(self, rc: int) -> str:
        reason = self.stops.reason
        if rc == EXIT_OK:
            return "finished"
        if rc == EXIT_LEASE_HELD:
            return reason or "superseded"
        if rc in EXIT_MOVE.values():
            return str(reason)
        return f"checkpointed: {reason}" if rc == EXIT_CHECKPOINTED else f"exit {rc}"

    def _run_setting_aside(self) -> int:
        """:meth:`_run`; a checkpoint LAMMPS cannot read is set aside and the next older tried."""
        while True:
            try:
                return self._run()
            except RestartRejected as e:
                self.log(f"{e}: setting checkpoint {e.seq} aside, trying the next older one")
                self.stores.set_aside(e.seq)
                self.session.close()
                self.session.lmp = None

    @contextlib.contextmanager
    def _registered(self):
        """Register with the host's run directory so the spot handler and checkpoint-sync
        timer can find this simulation (lmpspot.running).  Only where a run directory is
        configured (LMPSPOT_RUN_DIR) or exists; a failure to register is logged, not fatal."""
        run_dir = running.run_dir_from_env()
        with contextlib.ExitStack() as stack:
            if self.is_root and (os.environ.get("LMPSPOT_RUN_DIR") or run_dir.is_dir()):
                wd = self.cfg.workdir.resolve()
                try:
                    stack.enter_context(
                        running.register(self.cfg.job_id, wd, self.cfg.checkpoint_dir or wd / "checkpoints")
                    )
                except (OSError, ValueError) as e:
                    self.log(f"not registered in {run_dir}: {e}")
            yield

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
        self.ckpt.input_hash = plan.input_hash(cfg.variables)
        self.session.start(cfg.variables, cfg.lammps_args, screen=cfg.screen)
        found = self.stores.find_resume(self.ckpt.input_hash, self.session.build_hash)
        resume_path, man, resume_at, mid_stage = self._resume_point(found, plan, wd)
        self._estimate_total(plan)
        if self.stops.policy_start(
            deadline=cfg.deadline,
            s3=self.s3,
            workdir=cfg.workdir,
            job_id=cfg.job_id,
            changeover_s=cfg.changeover_s,
        ):
            return self._exit_moved()
        self.ckpt.last_wall = time.monotonic()  # the interval counts from the (re)start
        rc = self._run_commands(plan, resume_path, man, resume_at, mid_stage)
        if rc != EXIT_OK or not self.is_root:
            return rc
        return self._finish()

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
                self.outputs.restore(man, wd)
            self.session.cmd(f"log {wd / 'log.lammps'} append")
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
            self.tally.done_steps = int(man.extra.get("done_steps", 0))
            if self.is_root:
                self.outputs.truncate(man)
        else:
            self.session.cmd(f"log {wd / 'log.lammps'}")
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
        session, stages = self.session, self.stages
        for c in plan.commands:
            if c.index < resume_at:
                assert man is not None and resume_path is not None
                self.replay.command(c, resume_path, man)
                continue
            if c.kind is Kind.RUN:
                assert c.stage is not None and c.run is not None
                resuming = mid_stage if (mid_stage and mid_stage.stage == c.stage) else None
                rc = stages.run_stage(c, c.run, resuming)
                if rc != EXIT_OK:
                    return rc
            elif c.kind is Kind.MINIMIZE:
                assert c.stage is not None
                session.cmd(c.text)
                rc = stages.checkpoint_stage_end(c.stage, session.step(), session.step(), session.step())
                if rc != EXIT_OK:
                    return rc
            else:
                session.cmd(c.text)
        return EXIT_OK

    def _finish(self) -> int:
        """Rank 0, the script done: last progress, outputs and checkpoints flushed to S3."""
        syncer = self.stores.syncer
        assert syncer is not None
        self._progress(force=True)
        self.outputs.sync(syncer)
        ok = syncer.flush(self.cfg.flush_timeout)
        if not ok:
            self.log("WARNING: the final checkpoint or outputs could not be flushed to S3")
        self.log(f"finished at step {self.session.step()}")
        return EXIT_OK

    def _exit_moved(self) -> int:
        """Rank 0 (and the others): the move decided at the start; no MD step was run."""
        move = self.stops.move
        rc = EXIT_MOVE[move] if move else EXIT_CHECKPOINTED
        self.log(f"no MD step run here: exiting {rc} to be resubmitted to the {move} queue")
        return rc

    def finalize_accelerator(self, *, mpi: bool = False) -> None:
        """After :meth:`run`, as the process's last LAMMPS call: Kokkos (and, with
        ``mpi``, the MPI LAMMPS initialised) finalised once the instance is closed;
        no-op on a CPU build; never raises (lmpspot.accel.shutdown)."""
        accel.shutdown(self.session.lmp, mpi=mpi, log=self.log)

    # -- progress ----------------------------------------------------------------------
    def _estimate_total(self, plan: Plan) -> None:
        """Total steps of literal run stages, for % done (variables count as unknown)."""
        total = 0
        for s in plan.stages:
            if s.run is not None:
                with contextlib.suppress(ValueError):
                    total += int(s.run.nsteps)
        self.tally.total_steps = total

    def _progress(self, force: bool = False) -> Progress | None:
        """Feed :class:`lmpspot.progress.Progress` (it rate-limits the output itself);
        returns it (None on ranks other than 0)."""
        if not self.is_root:
            return None
        lmp, t = self.session.lmp, self.tally
        if self.progress is None:
            self.progress = Progress(
                t.total_steps,
                self.cfg.job_id,
                stream=sys.stderr,
                emf=self.cfg.emf,
                units=str(lmp.extract_global("units")),
                status_path=self.cfg.workdir.resolve() / "status.json",
                interval=self.cfg.progress_every,
                start_step=t.done_steps,
                interruptions=max(0, self.cfg.attempt - 1),  # attempts before this one ended early
                gpu_sampler=None if not self.cfg.emf else sample_gpu_utilization,
            )
        guard = self.stores.guard
        if guard is not None:
            guard.step(self.session.step())
            self.progress.add_events(guard.take_events())  # telemetry: once, after the first new step
        self.progress.timestep = float(lmp.extract_global("dt"))
        self.progress.update(
            t.done_steps,
            self.session.sim_time(),
            force=force,
            extra={"lammps_step": self.session.step(), "stage": t.stage_index},
        )
        if guard is not None:
            guard.progress(self.progress.last_status)
        return self.progress
