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

from lmpspot.mpi import agree

NEAR_END = 20  # steps: closer to the stage end than this, take the stage-end checkpoint


def _late(stages: Any, deadline: float | None) -> bool:
    """Rank 0's view of the deadline, agreed by every rank (no deadline: never late)."""
    if deadline is None:
        return False
    return bool(agree(stages.world, time.monotonic() > deadline if stages.is_root else None))


def exact_seek(stages: Any, st: Any, grace: float | None) -> bool | None:
    """True at an exact step, None if the stage ended (or nearly), False if ``grace``
    seconds passed first.  ``stages`` is a :class:`lmpspot.stages.StageRunner` in a stage."""
    deadline = None if grace is None else time.monotonic() + grace
    session = stages.session
    f = session.sortfreq
    if f > 0:
        m = (session.step() // f + 1) * f
        if m >= st.target - NEAR_END:
            m = st.target + 1  # no sort multiple left in the stage: run to its end
        while (cur := session.step()) < min(m - 1, st.target):
            if _late(stages, deadline):
                return False
            n = agree(stages.world, stages.sizer.next() if stages.is_root else None)
            stages.advance(st, min(m - 1, st.target, cur + max(1, int(n))))
    nb = session.lmp.get_thermo("nbuild")
    while (cur := session.step()) < st.target:
        if _late(stages, deadline):
            return False
        stages.advance(st, cur + 1)
        nb2 = session.lmp.get_thermo("nbuild")
        if nb2 != nb:
            if st.target - session.step() >= NEAR_END:
                return True
            if session.step() < st.target:  # too close to the end: finish the stage
                stages.advance(st, st.target)
            break
        nb = nb2
    return None
