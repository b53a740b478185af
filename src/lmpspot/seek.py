"""Advance a run stage to a step where a restart is bitwise neutral.

A ``read_restart`` + setup re-neighbours, remaps and re-sorts the atoms.  That changes
nothing only on a step where the uninterrupted run itself re-neighboured *and* sorted:
the first neighbour-list build at or after a multiple of the atom sort frequency
(``atom_modify sort``; every build when sorting is off).  :func:`exact_seek` gets there
with ``run ... pre no`` chunks -- which equal one long run bit for bit -- up to the step
before the sort multiple, then 1-step chunks until the ``nbuild`` thermo keyword moves.

The seek is bounded by steps (one sort period plus one neighbour-list interval), not by
time: a periodic checkpoint waits for the exact step however slow the machine is.  Only a
stop (spot notice, SIGTERM) passes a ``grace`` in seconds, since the process exits after
it and nothing continues from an inexact checkpoint but a statistically exact resume.
An exact step within :data:`NEAR_END` steps of the stage end is not used: the stage is
run to its end and the stage-end checkpoint (always exact) follows.
"""

from __future__ import annotations

import time
from typing import Any

NEAR_END = 20  # steps: closer to the stage end than this, take the stage-end checkpoint


def _late(runner: Any, deadline: float | None) -> bool:
    """Rank 0's view of the deadline, agreed by every rank (no deadline: never late)."""
    if deadline is None:
        return False
    return bool(runner._agree(time.monotonic() > deadline if runner.is_root else None))


def _advance(runner: Any, st: Any, end: int) -> None:
    cur = runner.step()
    runner.cmd(runner._run_cmd(st, end, pre=False, post=end == st.target))
    runner._done_steps += end - cur


def exact_seek(runner: Any, st: Any, grace: float | None) -> bool | None:
    """True at an exact step, None if the stage ended (or nearly), False if ``grace``
    seconds passed first.  ``runner`` is a :class:`lmpspot.runner.Runner` in a stage."""
    deadline = None if grace is None else time.monotonic() + grace
    f = runner.sortfreq
    if f > 0:
        m = (runner.step() // f + 1) * f
        if m >= st.target - NEAR_END:
            m = st.target + 1  # no sort multiple left in the stage: run to its end
        while (cur := runner.step()) < min(m - 1, st.target):
            if _late(runner, deadline):
                return False
            n = runner._agree(runner._sizer.next() if runner.is_root else None)
            _advance(runner, st, min(m - 1, st.target, cur + max(1, int(n))))
    nb = runner.lmp.get_thermo("nbuild")
    while (cur := runner.step()) < st.target:
        if _late(runner, deadline):
            return False
        _advance(runner, st, cur + 1)
        nb2 = runner.lmp.get_thermo("nbuild")
        if nb2 != nb:
            if st.target - runner.step() >= NEAR_END:
                return True
            if runner.step() < st.target:  # too close to the end: finish the stage
                _advance(runner, st, st.target)
            break
        nb = nb2
    return None
