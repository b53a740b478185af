"""Running one ``run`` stage in chunks, and the moments its checkpoints are written.

A stage runs as ``run E upto start B stop T pre no post no`` chunks sized by
:class:`~lmpspot.chunking.ChunkSizer`; between chunks rank 0 checks the clock (the
checkpoint interval), the stop requests and the deadline policy (:class:`lmpspot.stops.Stops`)
and every rank follows its decision.  Mid-stage checkpoints wait for an exact step
(:func:`lmpspot.seek.exact_seek`); the stage end always gets one.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmpspot.checkpoint import Manifest
from lmpspot.chunking import FIRST_CHUNK, ChunkSizer
from lmpspot.exits import EXIT_OK, LammpsError
from lmpspot.mpi import agree
from lmpspot.script import Command, Kind, Plan, RunSpec, ScriptError
from lmpspot.seek import exact_seek


@dataclass
class StageState:
    """Where the current run stage is."""

    stage: int
    begin: int  # value for `start` (ramp origin)
    end: int  # value for `stop` (ramp end)
    target: int  # last step of the stage (`upto`)
    first_step: int  # step the stage (or this attempt's part of it) started at


def run_cmd(st: StageState, upto: int, *, pre: bool, post: bool) -> str:
    """The chunk's ``run`` command: ``upto`` the stage's target, its ramp kept."""
    return (
        f"run {upto} upto start {st.begin} stop {st.end} "
        f"pre {'yes' if pre else 'no'} post {'yes' if post else 'no'}"
    )


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


class StageRunner:
    """Runs the stages of ``plan`` on ``session`` (:class:`lmpspot.session.LammpsSession`),
    checkpointing through ``ckpt`` (:class:`lmpspot.checkpointing.Checkpointer`) when
    ``stops`` (:class:`lmpspot.stops.Stops`) and the interval say so."""

    def __init__(
        self,
        session: Any,
        tally: Any,
        stops: Any,
        ckpt: Any,
        *,
        sizer: ChunkSizer,
        accel: Any,
        interval: float,
        notice_grace: float,
        progress: Callable[[], Any],
        log: Callable[[str], None],
    ) -> None:
        self.session = session
        self.world = session.world
        self.is_root = self.world.rank == 0
        self.tally = tally
        self.stops = stops
        self.ckpt = ckpt
        self.sizer = sizer
        self.accel = accel
        self.interval = interval
        self.notice_grace = notice_grace
        self.progress = progress
        self.log = log
        self.plan: Plan | None = None
        self.exact_due = False  # the last stage end was inexact: checkpoint the next exact step

    def step(self) -> int:
        return self.session.step()

    def run_stage(self, c: Command, spec: RunSpec, resuming: Manifest | None) -> int:
        assert c.stage is not None
        self.tally.stage_index = c.stage
        cur = self.step()
        st, pre = self._stage_state(c, spec, resuming, cur)
        if st.target == cur:  # run 0 (or nothing left): one setup run, like the script's
            self.session.cmd(run_cmd(st, cur, pre=True, post=spec.post))
            return self.checkpoint_stage_end(c.stage, st.begin, st.end, st.target, st)
        chunk = self._first_chunk()
        t_prev = time.monotonic()
        while (cur := self.step()) < st.target:
            end = min(st.target, cur + max(1, chunk))
            post = spec.post and end == st.target
            t_prev = self._run_chunk(st, cur, end, pre=pre, post=post, t_prev=t_prev)
            pre = False
            chunk = self.sizer.next()
            if self.step() >= st.target:
                break
            self.progress()
            chunk, stop, due, ckpt, move = self._chunk_decision(chunk)
            if stop:
                # a move has no hard deadline: it waits for an exact step, as a periodic one does
                return self._checkpoint_and_exit(st, grace=None if move else self.notice_grace)
            if ckpt or self.exact_due:
                if not due and self.is_root:
                    self._log_checkpoint_request()
                self.exact_due = False
                wrote = self._mid_stage_checkpoint(st)
                if self.is_root and self.stops.rebalance_pending():
                    self.stops.ack_checkpoint_now()
                if not wrote:  # the seek reached the stage end
                    break
                # write_restart noinit left the running system untouched: go on with pre no
                if self.stops.agreed():
                    return self.ckpt.exit_checkpointed()
                # the next checkpoint is due one interval from now (every rank agrees on it)
                cap = self._interval_chunk(chunk) if self.is_root else None
                chunk = min(chunk, agree(self.world, cap))
            t_prev = time.monotonic()
        return self.checkpoint_stage_end(c.stage, st.begin, st.end, st.target, st)

    def _stage_state(
        self, c: Command, spec: RunSpec, resuming: Manifest | None, cur: int
    ) -> tuple[StageState, bool]:
        """The stage's steps (from the manifest when resuming it mid-stage) and whether its
        first chunk needs ``pre yes``."""
        assert c.stage is not None
        if resuming is not None:
            st = StageState(
                c.stage,
                int(resuming.extra.get("begin", resuming.stage_start_step)),
                int(resuming.extra.get("end", resuming.stage_target_step)),
                resuming.stage_target_step,
                int(resuming.extra.get("first_step", resuming.stage_start_step)),
            )
            if cur != resuming.step:
                raise LammpsError(f"restart is at step {cur}, manifest says {resuming.step}")
            return st, True
        resolve = self.session.resolve_int
        n = resolve(spec.nsteps)
        target = n if spec.upto else cur + n
        if target < cur:
            raise ScriptError(f"{c.where}: run upto {target} is before the current step")
        begin = resolve(spec.start) if spec.start is not None else cur
        end = resolve(spec.stop) if spec.stop is not None else target
        return StageState(c.stage, begin, end, target, cur), spec.pre

    def _first_chunk(self) -> int:
        """The stage's first chunk length, the same on every rank."""
        sizer = self.sizer
        chunk = sizer.next() if sizer.step_seconds > 0 else FIRST_CHUNK
        # each rank's sizer measured its own clock: the first chunk is rank 0's on all
        # of them, or the ranks issue runs of different lengths and deadlock in MPI
        chunk = agree(self.world, chunk)
        if self.exact_due:  # the last stage end was inexact (a carried stop too): seek at once
            chunk = 1
        return chunk

    def _run_chunk(
        self, st: StageState, cur: int, end: int, *, pre: bool, post: bool, t_prev: float
    ) -> float:
        """Run the chunk ``cur`` -> ``end``, account for it; returns the wall time it ended."""
        t0 = time.monotonic()
        self.session.cmd(run_cmd(st, end, pre=pre, post=post))
        t1 = time.monotonic()
        t = self.tally
        t.chunks += 1
        t.chunk_wall += t1 - t0
        t.done_steps += end - cur
        if not pre:  # the boundary's cost counts from the previous chunk's end
            self.sizer.observe(end - cur, t1 - t_prev)
            t.rate = self.sizer.rate
        else:  # setup included: only a bound on the step time
            self.sizer.observe_setup(end - cur, t1 - t0)
        return t1

    def advance(self, st: StageState, end: int) -> None:
        """One ``pre no`` chunk to ``end`` (the seek's steps), counted as done."""
        cur = self.step()
        self.session.cmd(run_cmd(st, end, pre=False, post=end == st.target))
        self.tally.done_steps += end - cur

    def _chunk_decision(self, chunk: int) -> list[Any]:
        """[next chunk, stop, checkpoint due, checkpoint now, move] as rank 0 sees them,
        on every rank.

        Rank 0's chunk size (measured rate) and its view of signals, watcher and clock.
        """
        decision = None
        if self.is_root:
            stops, rate = self.stops, self.tally.rate
            left = self.interval - (time.monotonic() - self.ckpt.last_wall)
            due = left <= 0
            if rate > 0 and not due:  # end the chunk about when the checkpoint is due
                chunk = min(chunk, max(1, int(left * rate) + 1))
            if due and stops.has_policy and stops.move is None:
                stops.policy_at_checkpoint()
            stop = stops.carried or stops.requested
            decision = [chunk, stop, due, due or stops.rebalance_pending(), stops.move]
        return agree(self.world, decision)

    def _log_checkpoint_request(self) -> None:
        """Rank 0: say why a checkpoint is written before the interval is up."""
        why = self.stops.checkpoint_request_reason(self.exact_due)
        self.log(f"checkpoint requested ({why}) at step {self.step()}")

    def _interval_chunk(self, chunk: int) -> int:
        """Rank 0: the steps one checkpoint interval takes at the measured rate (``chunk``
        before there is a rate)."""
        rate = self.tally.rate
        return max(1, int(self.interval * rate) + 1) if rate > 0 else chunk

    # -- checkpoints -------------------------------------------------------------------
    def _seek_exact_step(self, st: StageState, grace: float | None) -> bool | None:
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

    def _mid_stage_checkpoint(self, st: StageState) -> bool:
        """Seek an exact step and checkpoint there; False if the stage ended first."""
        exact = self._seek_exact_step(st, None)
        if exact is None:
            return False
        self.ckpt.write(st.stage, st, stage_done=False, exact=exact)
        return True

    def _checkpoint_and_exit(self, st: StageState, grace: float | None) -> int:
        stops = self.stops
        if not stops.carried:
            self.log(f"stop requested ({stops.reason}) at step {self.step()}: checkpointing")
        stops.announced = True
        done = self._seek_exact_step(st, grace)
        if done is None:  # reached the stage end while seeking
            return self.checkpoint_stage_end(st.stage, st.begin, st.end, st.target, st)
        self.ckpt.write(st.stage, st, stage_done=False, exact=bool(done))
        return self.ckpt.exit_checkpointed()

    def checkpoint_stage_end(
        self, stage: int, begin: int, end: int, target: int, st: StageState | None = None
    ) -> int:
        step = self.step()
        st = st or StageState(stage, begin, end, target, step)
        exact = self._stage_end_exact()
        self.ckpt.write(stage, st, stage_done=True, exact=exact)
        # a resume from an inexact stage end would differ in the last bits: the next stage
        # (its setup re-partitions the atoms as a restart does) checkpoints at its first
        # exact step, and a stop waits for that step
        self.exact_due = not exact and self._exactness_attainable() and self._next_stage_is_run(stage)
        stops = self.stops
        if stops.agreed():
            if not stops.announced:  # the stop came during the stage's last chunk
                self.log(f"stop requested ({stops.reason}) at the end of stage {stage} (step {step})")
                stops.announced = True
            if self.exact_due:
                self.log(
                    f"the stage-end checkpoint at step {step} is not bitwise exact with "
                    f"{self.world.size} MPI ranks: going on to an exact step of the next stage"
                )
                stops.carried = True
                return EXIT_OK
            return self.ckpt.exit_checkpointed()
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
        lmp = self.session.lmp
        if self.accel.exact and not int(lmp.extract_global("triclinic")):
            n = int(lmp.extract_global("nlocal"))
            lo, hi = lmp.extract_global("sublo"), lmp.extract_global("subhi")
            blo, bhi = lmp.extract_global("boxlo"), lmp.extract_global("boxhi")
            # a dimension this rank spans whole keeps its atoms (a periodic remap included)
            split = [d for d in range(3) if not (lo[d] == blo[d] and hi[d] == bhi[d])]
            inside = _inside(lmp.extract_atom("x"), n, lo, hi, split)
        return all(self.world.allgather(inside))

    def _exactness_attainable(self) -> bool:
        assert self.plan is not None
        return self.plan.bitwise_restartable and self.accel.exact

    def _next_stage_is_run(self, stage: int) -> bool:
        assert self.plan is not None
        later = [c for c in self.plan.commands if c.stage is not None and c.stage > stage]
        return bool(later) and min(later, key=lambda c: c.stage).kind is Kind.RUN
