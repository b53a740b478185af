"""LAMMPS accelerators as the runner sees them: what the command line selects, what the
manifests record, how long a chunk is, and the library shutdown at process exit.

An accelerator is chosen on LAMMPS' command line: ``-sf``/``-suffix`` (``gpu``, ``kk``,
``omp``, ``opt``, ``intel``), ``-pk``/``-package`` options and ``-k``/``-kokkos on ...``.
Images name a default in ``LMPSPOT_LAMMPS_ACCELERATOR`` (``gpu``, ``kokkos`` or ``none``):
it applies when the arguments choose none themselves.

Bitwise reproducibility: the GPU package and KOKKOS on a GPU sum forces with atomics
(and the GPU package in single/mixed precision), so a checkpointed-and-resumed run is
statistically, not bitwise, the same as an uninterrupted one; manifests say
``exact: false`` there.  CPU builds (plain, ``omp``, ``opt``) restart bitwise.

Shutdown: LAMMPS' library documentation asks for ``lammps_kokkos_finalize()`` (and
``lammps_mpi_finalize()`` when LAMMPS initialised MPI) once every instance is closed,
before the process exits, or static destructors may crash at exit -- which would turn a
clean exit 75 into 139.  :func:`shutdown` does that and never changes the exit code.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Suffixes whose force accumulation is not bitwise reproducible run to run.
NOT_BITWISE = frozenset({"gpu", "kk"})
# -sf/-pk/-k flags and their long forms; any other word starting with '-' ends an option list.
_SUFFIX = ("-sf", "-suffix")
_PACKAGE = ("-pk", "-package")
_KOKKOS = ("-k", "-kokkos")
# LMPSPOT_LAMMPS_ACCELERATOR -> LAMMPS arguments (one GPU: one GPU per job).
DEFAULT_ARGS = {
    "gpu": ["-sf", "gpu", "-pk", "gpu", "1"],
    "kokkos": ["-k", "on", "g", "1", "-sf", "kk"],
    "none": [],
    "": [],
}
# Wall seconds per chunk when an accelerator runs: a chunk boundary costs a host-device
# copy of the atoms and a re-setup of the GPU neighbor lists (milliseconds); at 5 s per
# chunk that is well under 1 % while a spot notice (2 min) still has ample room.
ACCEL_CHUNK_SECONDS = 5.0
# On the CPU too: a boundary of the wheel's in.rhodo (32,000 atoms, PPPM, 0.2 s a step)
# costs about 0.045 s (160 steps in 5-step chunks 33.0 s, in one run 31.6 s), a quarter
# of a step and below the steps' own spread (neighbour rebuilds, thermo lines), so the
# sizer's fit of short chunks found no boundary cost and stayed at the shortest length:
# 1.5 s chunks cost rhodo 4.8 % (docs/PERFORMANCE.md), 5 s ones 0.9-1.3 % (docs/RUNNER.md).
CPU_CHUNK_SECONDS = 5.0


@dataclass(frozen=True)
class Accelerator:
    """What a LAMMPS command line selects."""

    suffix: str | None = None
    packages: tuple[tuple[str, ...], ...] = ()
    kokkos: tuple[str, ...] | None = None  # the words after -k (e.g. ("on", "g", "1"))

    @property
    def name(self) -> str:
        """``kokkos``, ``gpu``, ``omp``, ... or ``none``."""
        if self.kokkos is not None and self.kokkos[:1] == ("on",):
            return "kokkos"
        if self.suffix:
            return {"kk": "kokkos"}.get(self.suffix, self.suffix)
        for pk in self.packages:
            if pk:
                return pk[0]
        return "none"

    @property
    def on_device(self) -> bool:
        """True when forces are computed on a GPU (GPU package, or KOKKOS with GPUs)."""
        if self.name == "gpu":
            return True
        if self.name == "kokkos" and self.kokkos is not None:
            words = list(self.kokkos)
            for i, w in enumerate(words[:-1]):
                if w in ("g", "gpus"):
                    return words[i + 1] not in ("0",)
        return False

    @property
    def exact(self) -> bool:
        """Whether a resumed run is bitwise the uninterrupted one (as far as the
        accelerator goes; other causes are the runner's business).  KOKKOS is never
        taken as exact: its threaded and GPU back ends accumulate with atomics."""
        return not (self.suffix in NOT_BITWISE or self.name in ("kokkos", "gpu") or self.on_device)

    def record(self, lmp: Any = None) -> dict[str, Any]:
        """The manifest's ``accelerator`` entry (JSON types)."""
        out: dict[str, Any] = {
            "name": self.name,
            "suffix": self.suffix,
            "package": [list(p) for p in self.packages],
            "kokkos": list(self.kokkos) if self.kokkos is not None else None,
            "exact": self.exact,
        }
        if lmp is not None:
            with contextlib.suppress(Exception):
                out["config"] = lmp.accelerator_config
        return out


def _option_words(args: list[str], i: int) -> tuple[list[str], int]:
    """The words after flag ``args[i]`` up to the next flag; and the index after them."""
    j = i + 1
    while j < len(args) and not (args[j].startswith("-") and args[j][1:2].isalpha()):
        j += 1
    return args[i + 1 : j], j


def parse_args(args: list[str]) -> Accelerator:
    """The accelerator a LAMMPS command line selects (the last -sf and -k win)."""
    suffix: str | None = None
    packages: list[tuple[str, ...]] = []
    kokkos: tuple[str, ...] | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in _SUFFIX or a in _PACKAGE or a in _KOKKOS:
            words, nxt = _option_words(args, i)
            if a in _SUFFIX:
                suffix = words[0] if words else None
            elif a in _PACKAGE:
                packages.append(tuple(words))
            else:
                kokkos = tuple(words)
            i = nxt
        else:
            i += 1
    return Accelerator(suffix=suffix, packages=tuple(packages), kokkos=kokkos)


def with_default(args: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """``args`` plus the image's default accelerator (``LMPSPOT_LAMMPS_ACCELERATOR``)
    when ``args`` choose none. Raises ValueError for an unknown name."""
    env = os.environ if env is None else env
    name = env.get("LMPSPOT_LAMMPS_ACCELERATOR", "").strip().lower()
    if name not in DEFAULT_ARGS:
        raise ValueError(f"LMPSPOT_LAMMPS_ACCELERATOR={name!r}: must be one of gpu, kokkos, none")
    chosen = parse_args(args)
    if chosen.suffix or chosen.kokkos is not None or chosen.packages:
        return list(args)
    return list(args) + DEFAULT_ARGS[name]


# The default never makes chunks longer than the checkpoint interval, but not shorter than
# this either (the CPU default before 5 s): a short test interval keeps its checkpoints.
SHORT_INTERVAL_CHUNK_SECONDS = 1.5


def chunk_seconds(accel: Accelerator, requested: float | None, interval: float | None = None) -> float:
    """Wall seconds per chunk: ``requested`` when given, else the accelerator's default --
    at most ``interval`` (the checkpoint interval; chunk ends are where checkpoints are
    taken), at least :data:`SHORT_INTERVAL_CHUNK_SECONDS`."""
    if requested is not None:
        return requested
    default = ACCEL_CHUNK_SECONDS if accel.on_device else CPU_CHUNK_SECONDS
    if interval is not None and interval < default:
        return max(SHORT_INTERVAL_CHUNK_SECONDS, interval)
    return default


def shutdown(lmp: Any, *, mpi: bool, log: Any = None) -> None:
    """Close ``lmp`` (when still open) and finalise Kokkos -- and MPI when ``mpi`` (a
    single process whose MPI LAMMPS initialised) -- through the library interface.

    Best effort: an error is logged, never raised, so the caller's exit code stands.
    Call it once, as the last LAMMPS call of the process."""
    if lmp is None:
        return
    for step in ("close", "lammps_kokkos_finalize", "lammps_mpi_finalize"):
        if step == "lammps_mpi_finalize" and not mpi:
            continue
        try:
            if step == "close":
                if getattr(lmp, "lmp", None) is not None:
                    lmp.close()
            else:
                getattr(lmp.lib, step)()
        except Exception as e:  # shutdown must not change the exit code
            if log is not None:
                log(f"{step}: {e}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
