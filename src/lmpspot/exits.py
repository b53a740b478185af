"""The runner's exit codes and the errors that lead to them (see :mod:`lmpspot.runner`)."""

from __future__ import annotations

from lmpspot.deadline import ON_DEMAND, SPOT

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


class LammpsError(RuntimeError):
    """LAMMPS rejected a command (bad input or a failed simulation)."""


class CheckpointWriteError(RuntimeError):
    """``write_restart`` failed (disk full, unwritable directory): infrastructure, exit 1."""


class RestartRejected(RuntimeError):
    """A checkpoint that verified by hash but LAMMPS could not read (``read_restart``)."""

    def __init__(self, seq: int, msg: str) -> None:
        super().__init__(msg)
        self.seq = seq
