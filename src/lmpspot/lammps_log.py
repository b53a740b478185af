"""The LAMMPS log of a job (every attempt appended to one file): thermo tables, run timings,
checkpoint and resume lines, and the time series and throughput drawn from them.

The thermo parser (:func:`parse_log`) understands LAMMPS' one-line thermo styles
(``one``, ``custom``, ...): a header line starting with ``Step`` and rows of numbers.
Attempts are told apart by LAMMPS' ``Total wall time`` line (an attempt that ended
normally) and by the runner's ``read_restart .../ckpt-<seq>/restart.bin`` (a resume).
Rows of the same step seen more than once -- chunk boundaries, and the steps an
interrupted attempt ran past its last checkpoint and the next attempt ran again -- are
kept once, from the later attempt.  ``minimize`` blocks are not MD time and are left out
of the time series.  Simulated time is the ``Time`` thermo column when present, else
accumulated as steps x the ``timestep`` in force (the units' default when none is set).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from lmpspot.progress import TIME_UNIT_NS

# LAMMPS' default timestep of each `units` style (in that style's time unit).
DEFAULT_TIMESTEP: dict[str, float] = {
    "lj": 0.005,
    "real": 1.0,
    "metal": 0.001,
    "si": 1e-8,
    "cgs": 1e-8,
    "electron": 0.001,
    "micro": 2.0,
    "nano": 0.00045,
}

_RE_LOOP = re.compile(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps")
_RE_UNITS = re.compile(r"^units\s+(\w+)")
_RE_TIMESTEP = re.compile(r"^timestep\s+(\S+)")
_RE_RESUME = re.compile(r"^read_restart\s+\S*ckpt-(\d+)/\S+")
_RE_CKPT_WRITE = re.compile(r"^write_restart\s+\S*(?:\.staging-(\d+)-|ckpt-(\d+)/)")
_RE_RUN = re.compile(r"^(run|minimize|min|rerun)\b")


@dataclass
class ThermoBlock:
    """One thermo table: the rows one ``run``/``minimize`` command printed."""

    attempt: int  # 1-based: the n-th LAMMPS instance that wrote to this log
    kind: str  # run | minimize | rerun
    columns: list[str]
    rows: list[list[float]] = field(default_factory=list)
    timestep: float | None = None
    units: str | None = None


@dataclass
class Loop:
    """A ``Loop time`` line: how long a run command (a runner chunk) took."""

    attempt: int
    kind: str
    seconds: float
    steps: int
    end_step: int | None
    timestep: float | None


@dataclass
class CheckpointMark:
    attempt: int
    seq: int
    step: int | None


@dataclass
class Resume:
    attempt: int
    seq: int
    step: int | None = None  # the first thermo step the attempt printed


@dataclass
class LogData:
    units: str | None = None
    blocks: list[ThermoBlock] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    checkpoints: list[CheckpointMark] = field(default_factory=list)
    resumes: list[Resume] = field(default_factory=list)
    attempts: int = 0
    warnings: list[str] = field(default_factory=list)


def _floats(tokens: list[str]) -> list[float] | None:
    out = []
    for t in tokens:
        try:
            out.append(float(t))
        except ValueError:
            return None
    return out


def parse_log(text: str) -> LogData:
    """Parse a (possibly multi-attempt, appended) LAMMPS log; see the module doc."""
    parser = _LogParser()
    for raw in text.splitlines():
        parser.feed(raw.strip())
    data = parser.data
    data.attempts = parser.attempt if (data.blocks or data.loops) else 0
    return data


class _LogParser:
    """:func:`parse_log`'s state: one pass over the log, by line kind."""

    def __init__(self) -> None:
        self.data = LogData()
        self.attempt = 1
        self.attempt_has_rows = False
        self.ended = False  # saw "Total wall time": the next line belongs to a new attempt
        self.units: str | None = None
        self.timestep: float | None = None
        self.pending = "run"
        self.block: ThermoBlock | None = None
        self.last_step: int | None = None
        self.pending_resume: Resume | None = None

    def feed(self, line: str) -> None:
        """Take one (stripped) line of the log."""
        if self.ended and line:
            self.attempt += 1
            self.attempt_has_rows = False
            self.ended = False
            self.block = None
        if self.block is not None and self._in_block(self.block, line):
            return
        if line.startswith("Total wall time"):
            self.ended = True
            return
        if self._marker(line) or self._setting(line):
            return
        toks = line.split()
        if toks and toks[0] == "Step" and _floats(toks) is None:
            self.block = ThermoBlock(
                self.attempt, self.pending, toks, timestep=self.timestep, units=self.units
            )
            self.data.blocks.append(self.block)

    def _in_block(self, block: ThermoBlock, line: str) -> bool:
        """True when ``line`` belongs to the open thermo block (a row, a blank line, a
        warning); else the block is closed."""
        toks = line.split()
        vals = _floats(toks) if len(toks) == len(block.columns) else None
        if vals is not None:
            block.rows.append(vals)
            self.attempt_has_rows = True
            self.last_step = int(vals[0])
            if self.pending_resume is not None and self.pending_resume.step is None:
                self.pending_resume.step = self.last_step
            return True
        if not line or line.startswith("WARNING"):
            return True
        self.block = None
        return False

    def _marker(self, line: str) -> bool:
        """A loop time, an lmpspot resume or checkpoint line: recorded, True."""
        data = self.data
        m = _RE_LOOP.match(line)
        if m:
            data.loops.append(
                Loop(
                    self.attempt,
                    self.pending,
                    float(m.group(1)),
                    int(m.group(3)),
                    self.last_step,
                    self.timestep,
                )
            )
            return True
        if m := _RE_RESUME.match(line):
            if self.attempt_has_rows:
                self.attempt += 1
                self.attempt_has_rows = False
            self.pending_resume = Resume(self.attempt, int(m.group(1)))
            data.resumes.append(self.pending_resume)
            return True
        if m := _RE_CKPT_WRITE.match(line):
            data.checkpoints.append(
                CheckpointMark(self.attempt, int(m.group(1) or m.group(2)), self.last_step)
            )
            return True
        return False

    def _setting(self, line: str) -> bool:
        """``units``, ``timestep``, ``run``/``minimize``: remembered for the next blocks, True."""
        if m := _RE_UNITS.match(line):
            self.units = m.group(1)
            self.data.units = self.data.units or self.units
            self.timestep = DEFAULT_TIMESTEP.get(self.units)  # `units` resets the timestep
            return True
        if m := _RE_TIMESTEP.match(line):
            try:
                self.timestep = float(m.group(1))
            except ValueError:
                self.data.warnings.append(
                    f"timestep {m.group(1)!r} is not a number: its blocks use the previous one"
                )
            return True
        if m := _RE_RUN.match(line):
            self.pending = "minimize" if m.group(1) in ("minimize", "min") else m.group(1)
            return True
        return False


@dataclass
class Series:
    """The deduplicated MD time series (minimize blocks left out)."""

    columns: list[str]
    steps: list[int]
    time: list[float]  # simulated time in `time_unit`
    time_unit: str  # ns | tau | <units' time unit> when unknown
    attempt: list[int]
    values: dict[str, list[float]]

    def __len__(self) -> int:
        return len(self.steps)


def time_unit(units: str | None) -> tuple[str, float]:
    """(label, factor to convert a LAMMPS time in ``units`` to that label)."""
    if units in TIME_UNIT_NS:
        return "ns", TIME_UNIT_NS[units]
    if units == "lj":
        return "tau", 1.0
    return "time units", 1.0


def thermo_series(data: LogData) -> Series:
    """Rows of every run block, one per step (the later attempt's), in step order."""
    unit, factor = time_unit(data.units)
    columns: list[str] = []
    latest: dict[int, tuple[int, int, dict[str, float], float | None]] = {}
    run_dt: dict[int, float] = {}
    order = 0
    for b in data.blocks:
        if b.kind != "run" or not b.columns or b.columns[0] != "Step":
            continue
        for c in b.columns:
            if c not in columns:
                columns.append(c)
        for i, row in enumerate(b.rows):
            order += 1
            step = int(row[0])
            if i > 0 and b.timestep is not None:
                # The block ran the steps up to this row with its timestep (a block's first
                # row is the state it started from, run by the block before).
                run_dt[step] = b.timestep
            key_prev = latest.get(step)
            # A later attempt wins; within an attempt, later lines win (same values).
            if key_prev is None or (b.attempt, order) >= (key_prev[0], key_prev[1]):
                latest[step] = (b.attempt, order, dict(zip(b.columns, row, strict=True)), b.timestep)
    # A later attempt re-ran everything after its resume step: rows an earlier attempt
    # printed past that step (it ran on after its last checkpoint) are superseded too.
    first: dict[int, int] = {}
    for s, (a, _o, _v, _dt) in latest.items():
        first[a] = min(first.get(a, s), s)
    superseded = [(a, f) for a, f in first.items()]
    steps = sorted(
        s for s, (a, _o, _v, _dt) in latest.items() if not any(b > a and s > f for b, f in superseded)
    )
    has_time = "Time" in columns
    times: list[float] = []
    t = 0.0
    prev: int | None = None
    for s in steps:
        _a, _o, vals, dt = latest[s]
        if has_time and "Time" in vals:
            t = vals["Time"]
        else:
            dt = run_dt.get(s, dt if dt is not None else 1.0)
            t = s * dt if prev is None else t + (s - prev) * dt
        times.append(t * factor)
        prev = s
    values = {c: [latest[s][2].get(c, math.nan) for s in steps] for c in columns}
    return Series(columns, steps, times, unit, [latest[s][0] for s in steps], values)


def _per_day(steps: float, seconds: float, dt: float | None, units: str | None) -> float | None:
    if seconds <= 0 or dt is None:
        return None
    _unit, factor = time_unit(units)
    return steps / seconds * dt * 86400.0 * factor


def log_rates(
    data: LogData, series: Series | None = None, min_fraction: float = 0.005
) -> list[dict[str, Any]]:
    """Throughput from the ``Loop time`` lines: consecutive run chunks of one attempt are
    merged until they cover at least ``min_fraction`` of the total loop time (1-step
    chunks alone are noise).  Each point: attempt, end step, simulated time, per-day rate."""
    loops = [lp for lp in data.loops if lp.kind == "run" and lp.steps > 0 and lp.end_step is not None]
    total = sum(lp.seconds for lp in loops)
    step_time = dict(zip(series.steps, series.time, strict=True)) if series else {}
    out: list[dict[str, Any]] = []
    acc_s = acc_n = 0.0
    for i, lp in enumerate(loops):
        acc_s += lp.seconds
        acc_n += lp.steps
        nxt = loops[i + 1] if i + 1 < len(loops) else None
        if nxt is not None and nxt.attempt == lp.attempt and acc_s < total * min_fraction:
            continue
        rate = _per_day(acc_n, acc_s, lp.timestep, data.units)
        if rate is not None:
            out.append(
                {
                    "attempt": lp.attempt,
                    "step": lp.end_step,
                    "time": step_time.get(int(lp.end_step or 0)),
                    "per_day": rate,
                    "steps_per_s": acc_n / acc_s,
                }
            )
        acc_s = acc_n = 0.0
    return out
