"""Why and when an attempt stops early, as rank 0 sees it and every rank agrees.

SIGTERM/SIGINT, a spot interruption notice (the watcher), losing the lease to another
runner, the deadline policy moving the simulation to the other queue
(:mod:`lmpspot.queue_policy`), and the test hook ``stop_after_checkpoints``.  SIGUSR1 or a
rebalance recommendation ask for a checkpoint now without stopping.  Rank 0 alone installs
the handlers and reads the watcher; :meth:`Stops.agreed` broadcasts its view.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot.deadline import Decision
from lmpspot.mpi import agree
from lmpspot.queue_policy import AttemptPolicy, move_reason, policy_for
from lmpspot.timefmt import utc_iso


class Stops:
    """``watcher`` is anything with a ``notice`` :class:`threading.Event` (and optionally
    ``exit_required``/``acknowledge``/``reason``); ``tally`` the :class:`lmpspot.session.Tally`;
    ``stores`` the :class:`lmpspot.stores.AttemptStores` (rank 0's guard, once it has one)."""

    def __init__(
        self,
        world: Any,
        tally: Any,
        stores: Any,
        *,
        watcher: Any,
        stop_after_checkpoints: int | None,
        log: Callable[[str], None],
    ) -> None:
        self.world = world
        self.is_root = world.rank == 0
        self.tally = tally
        self.stores = stores
        self.watcher = watcher
        self.stop_after_checkpoints = stop_after_checkpoints
        self.log = log
        self.reason: str | None = None
        self.announced = False
        self.carried = False  # a stop came at an inexact stage end: stop in the next stage
        self._sigterm = threading.Event()
        # SIGUSR1 (the host spot handler on a rebalance recommendation): checkpoint now, go on.
        self._ckpt_now = threading.Event()
        self._policy: AttemptPolicy | None = None
        self.move: str | None = None  # the queue the deadline policy moves the job to

    @property
    def guard(self) -> Any:
        return self.stores.guard

    # -- signals -----------------------------------------------------------------------
    def install_signals(self) -> dict[int, Any]:
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
    def restore_signals(old: dict[int, Any]) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    # -- stop requests -----------------------------------------------------------------
    def _hook_stop(self) -> bool:
        n = self.stop_after_checkpoints
        if n is not None and self.tally.checkpoints_written >= n:
            self.reason = self.reason or f"stop_after_checkpoints={n}"
            return True
        return False

    def agreed(self) -> bool:
        """:attr:`requested` or the test hook, as rank 0 sees them."""
        return bool(agree(self.world, (self._hook_stop() or self.requested) if self.is_root else None))

    @property
    def requested(self) -> bool:
        """True on SIGTERM/SIGINT, a spot interruption, a lost lease or a policy move."""
        if self._sigterm.is_set():
            self.reason = self.reason or "SIGTERM"
            return True
        if self.guard is not None and self.guard.superseded:
            self.reason = self.reason or "superseded: another runner took the lease"
            return True
        if self.move is not None:
            return True
        w = self.watcher
        if w is not None and w.notice.is_set() and getattr(w, "exit_required", True):
            self.reason = self.reason or str(getattr(w, "reason", "notice"))
            if self.guard is not None:  # telemetry: the attempt record's notice_at
                self.guard.notice()
            return True
        return False

    def superseded(self) -> bool:
        """Rank 0's guard lost the lease to another runner, agreed by every rank."""
        return bool(
            agree(self.world, self.guard is not None and self.guard.superseded if self.is_root else None)
        )

    def rebalance_pending(self) -> bool:
        """A checkpoint-now request: SIGUSR1, or a rebalance recommendation seen by the watcher."""
        if self._ckpt_now.is_set():
            return True
        w = self.watcher
        return bool(w is not None and w.notice.is_set() and not getattr(w, "exit_required", True))

    def ack_checkpoint_now(self) -> None:
        self._ckpt_now.clear()
        if self.watcher is not None:
            self.watcher.acknowledge()  # clears a rebalance notice; an interruption stays set

    def checkpoint_request_reason(self, exact_due: bool) -> str:
        """Rank 0: why a checkpoint is written before the interval is up."""
        if exact_due:
            return "the last stage-end checkpoint is not bitwise exact"
        if self._ckpt_now.is_set():
            return "SIGUSR1"
        return "rebalance recommendation"

    # -- the deadline policy (lmpspot.queue_policy) -------------------------------------
    @property
    def has_policy(self) -> bool:
        return self._policy is not None

    def policy_start(
        self, *, deadline: float | None, s3: Any, workdir: Path, job_id: str, changeover_s: float | None
    ) -> bool:
        """At the start of the attempt (collective): True when the policy moves the job
        before any MD step (the resume checkpoint is already committed)."""
        move = None
        if self.is_root and deadline is not None:
            self._policy = policy_for(
                deadline,
                s3=s3,
                local_dir=workdir.resolve() / ".attempts",
                sim_id=job_id,
                own_uid=self.guard.record.uid if self.guard is not None else None,
                now=time.time(),
                changeover_s=changeover_s,
                env=os.environ,
                log=self.log,
            )
            if self._policy is not None:
                d = self._policy.at_start(
                    now=time.time(), done=self.tally.done_steps, total=self.tally.total_steps
                )
                move = self._policy_note(d)
        self.move = agree(self.world, move)
        return self.move is not None

    def policy_at_checkpoint(self) -> None:
        """Rank 0, a periodic checkpoint due: ask the policy; a move becomes the stop."""
        assert self._policy is not None
        t = self.tally
        d = self._policy.at_checkpoint(now=time.time(), done=t.done_steps, total=t.total_steps, rate=t.rate)
        self.move = self._policy_note(d)

    def _policy_note(self, d: Decision | None) -> str | None:
        """Record the decision in the attempt record; the queue to move to, or None."""
        pol = self._policy
        if d is None or pol is None:
            return None
        total = self.tally.total_steps
        if self.guard is not None:
            self.guard.record.set(deadline=utc_iso(pol.deadline), policy=d.as_record(total))
        if d.queue == pol.current:
            return None
        self.reason = move_reason(d)
        self.log(f"{self.reason}; projected finish {d.as_record(total)['projected_finish']}")
        return d.queue
