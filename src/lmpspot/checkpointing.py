"""Writing a checkpoint during a run and leaving the attempt after one.

:meth:`Checkpointer.write` is ``write_restart`` into :class:`~lmpspot.checkpoint.LocalStore`
staging (collective: every rank, rank 0's file name), then on rank 0 the commit with the
manifest, the hand-over to :class:`~lmpspot.sync.CheckpointSyncer` and the outputs.
:meth:`Checkpointer.exit_checkpointed` flushes the syncer and picks the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmpspot.checkpoint import Manifest
from lmpspot.exits import EXIT_CHECKPOINTED, EXIT_LEASE_HELD, EXIT_MOVE, CheckpointWriteError, LammpsError
from lmpspot.mpi import agree
from lmpspot.script import Plan

if TYPE_CHECKING:
    from lmpspot.stages import StageState

RESTART_NAME = "restart.bin"
RUNNER_FORMAT = 1


class Checkpointer:
    """``session`` (:class:`lmpspot.session.LammpsSession`), ``tally``, ``stops``
    (:class:`lmpspot.stops.Stops`), ``outputs`` (:class:`lmpspot.run_outputs.RunOutputs`),
    ``seeds`` the seeds derived for this resume (recorded in each manifest), ``progress``
    returns rank 0's :class:`lmpspot.progress.Progress` after feeding it; ``stores``
    (:class:`lmpspot.stores.AttemptStores`) holds rank 0's local store, syncer and guard.
    ``plan`` and ``input_hash`` are set once known."""

    def __init__(
        self,
        session: Any,
        tally: Any,
        stores: Any,
        stops: Any,
        outputs: Any,
        *,
        cfg: Any,
        accel: Any,
        seeds: list[dict[str, Any]],
        progress: Callable[[], Any],
        log: Callable[[str], None],
    ) -> None:
        self.session = session
        self.world = session.world
        self.is_root = self.world.rank == 0
        self.tally = tally
        self.stores = stores
        self.stops = stops
        self.outputs = outputs
        self.cfg = cfg
        self.accel = accel
        self.seeds = seeds
        self.progress = progress
        self.log = log
        self.plan: Plan | None = None
        self.input_hash = ""
        self.last_wall = time.monotonic()
        self.last_step: int | None = None

    def _staging(self) -> tuple[int, Any]:
        """Rank 0: the next checkpoint's seq and its staging directory."""
        local, syncer = self.stores.local, self.stores.syncer
        assert local is not None
        floor = max(self.stores.seq_floor, syncer.seq_floor if syncer is not None else 0)
        seq = local.next_seq(at_least=floor)
        return seq, local.staging(seq)

    def write(self, stage: int, st: StageState, *, stage_done: bool, exact: bool) -> Manifest | None:
        """``write_restart`` (collective: every rank, rank 0's file name) and, on rank 0,
        commit + hand to the syncer + outputs; returns the manifest (None on other ranks)."""
        assert self.plan is not None
        t0 = time.monotonic()
        step = self.session.step()
        restart: str | None = None
        if self.is_root:
            seq, staging = self._staging()
            restart = str(staging / RESTART_NAME)
        try:
            self.session.cmd(f"write_restart {agree(self.world, restart)} noinit")  # leaves the run untouched
        except LammpsError as e:
            raise CheckpointWriteError(f"could not write checkpoint at step {step}: {e}") from e
        if not self.is_root:
            self.tally.checkpoints_written += 1
            self.last_step = step
            return None
        local, syncer = self.stores.local, self.stores.syncer
        assert local is not None and syncer is not None
        man = local.commit(
            staging,
            seq=seq,
            job_id=self.cfg.job_id,
            attempt=self.cfg.attempt,
            stage=stage,
            stage_name=self.plan.stages[stage].name,
            step=step,
            stage_start_step=st.begin,
            stage_target_step=st.target,
            sim_time=self.session.sim_time(),
            lammps_version=self.session.lammps_version,
            build_hash=self.session.build_hash,
            input_hash=self.input_hash,
            extra=self._extra(stage, st, stage_done=stage_done, exact=exact),
        )
        syncer.submit(local.path_for(seq), man)
        self.outputs.sync(syncer)
        self.tally.checkpoints_written += 1
        prog = self.progress()
        assert prog is not None
        prog.checkpoint_done(self.tally.done_steps, time.monotonic() - t0)
        self.last_wall = time.monotonic()
        self.last_step = step
        stat = "" if exact and self.accel.exact else ", statistically exact"
        self.log(
            f"checkpoint {seq} at step {step} (stage {stage}{' done' if stage_done else ''}{stat}) "
            f"in {time.monotonic() - t0:.2f}s"
        )
        return man

    def _extra(self, stage: int, st: StageState, *, stage_done: bool, exact: bool) -> dict[str, Any]:
        """The runner's part of the manifest: where in the stage, outputs, ranks, seeds, lease."""
        assert self.plan is not None
        return {
            "runner_format": RUNNER_FORMAT,
            "restart_file": RESTART_NAME,
            "stage_done": stage_done,
            "begin": st.begin,
            "end": st.end,
            "first_step": st.first_step,
            "exact": exact and self.accel.exact,
            "accelerator": self.accel.record(self.session.lmp),
            "command_index": self.plan.stages[stage].command,
            "done_steps": self.tally.done_steps,
            "outputs": self.outputs.sizes(),
            "mpi_ranks": self.world.size,
            "seeds": self.seeds,
            "lease_token": self.stores.guard.token if self.stores.guard is not None else 0,
        }

    def exit_checkpointed(self) -> int:
        """After the stop's checkpoint: outputs and checkpoints flushed; the exit code."""
        if self.stops.superseded():
            self.log(f"another runner took this simulation over: stopping, exit {EXIT_LEASE_HELD}")
            return EXIT_LEASE_HELD
        if not self.is_root:
            return EXIT_CHECKPOINTED
        syncer = self.stores.syncer
        assert syncer is not None
        self.outputs.sync(syncer)
        ok = syncer.flush(self.cfg.flush_timeout)
        rc = EXIT_MOVE[self.stops.move] if self.stops.move else EXIT_CHECKPOINTED
        self.log(
            f"checkpointed at step {self.session.step()} ({self.stops.reason}); "
            f"{'flushed' if ok else 'NOT flushed'} to remote storage; exiting {rc}"
        )
        return rc
