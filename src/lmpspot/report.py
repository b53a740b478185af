"""Per-job report: thermo plots against simulated time, throughput, checkpoint timeline.

``lmpspot report SIM_ID --bucket B`` reads what a job left in S3 and writes, locally
(``--out``, default ``.state/reports/<sim_id>/``) and to
``s3://<bucket>/<results prefix><sim_id>/report/``:

* ``thermo.png``: temperature, energy, pressure and density against simulated time
  (ns, or tau in LJ units), each attempt's stretch shaded, every interrupted attempt's
  last step marked;
* ``rate.png``: ns/day (tau/day) over simulated time from the LAMMPS log's per-chunk
  ``Loop time`` lines, and over wall-clock time from the runner's EMF records when the
  attempt logs hold them (with GPU utilization where nvidia-smi reported it);
* ``checkpoints.png``: every checkpoint the log records (by attempt, along simulated
  time), the resume points, and the checkpoints still in S3;
* ``progress.png``: progress (percent of the steps, or steps) against wall-clock time
  over every attempt, interruptions marked; with a deadline (the deadline policy's), the
  deadline as a vertical line and the straight line from the start to 100 % at the deadline;
* ``report.md``: the attempts (with the cost ledger), the interruption telemetry
  (:mod:`lmpspot.telemetry`: interruptions, steps lost, recovery, capacity waits, spot and
  on-demand hours and cost, $/ns), the numbers, links to the PNGs;
* ``report.json``: the same numbers for machines.

Inputs (all read-only): ``results/<sim_id>/log.lammps`` (the runner syncs it; resumed
attempts append to it), ``results/<sim_id>/attempts.json`` (the local executor's
ledger) or the Batch job's attempts, the attempt logs (``results/<sim_id>/logs/`` in
local mode; CloudWatch Logs on AWS), ``checkpoints/<sim_id>/`` manifests.

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

import contextlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lmpspot.ledger import parse_time
from lmpspot.progress import TIME_UNIT_NS
from lmpspot.telemetry import sim_telemetry
from lmpspot.timefmt import utc_iso

LogFn = Callable[[str], None]

REPORT_DIR = "report"
PNG_DPI = 100
THERMO_SIZE_IN = (11.0, 8.5)  # -> 1100 x 850 px
RATE_SIZE_IN = (11.0, 6.0)  # -> 1100 x 600 px
CKPT_SIZE_IN = (11.0, 4.5)  # -> 1100 x 450 px
PROGRESS_SIZE_IN = (11.0, 5.0)  # -> 1100 x 500 px

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

# What each thermo panel shows: (title, candidate columns in order of preference).
PANELS: list[tuple[str, list[str]]] = [
    ("temperature", ["Temp", "c_thermo_temp"]),
    ("energy", ["TotEng", "PotEng", "E_pair", "KinEng"]),
    ("pressure", ["Press", "c_thermo_press"]),
    ("density", ["Density"]),
]
ENERGY_COLUMNS = ("TotEng", "PotEng", "KinEng", "E_pair")

_RE_LOOP = re.compile(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps")
_RE_UNITS = re.compile(r"^units\s+(\w+)")
_RE_TIMESTEP = re.compile(r"^timestep\s+(\S+)")
_RE_RESUME = re.compile(r"^read_restart\s+\S*ckpt-(\d+)/\S+")
_RE_CKPT_WRITE = re.compile(r"^write_restart\s+\S*(?:\.staging-(\d+)-|ckpt-(\d+)/)")
_RE_RUN = re.compile(r"^(run|minimize|min|rerun)\b")


# --------------------------------------------------------------------------------------
# The LAMMPS log
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# The runner's progress records (EMF lines in the attempt logs)
# --------------------------------------------------------------------------------------
def parse_emf(text: str, attempt: int | None = None) -> list[dict[str, Any]]:
    """The CloudWatch EMF records (``{"_aws": ...}`` lines) in an attempt's output.

    Lines may carry a prefix (the local executor's ``[job a1]``, a CloudWatch timestamp):
    the JSON object is taken from the first ``{"_aws"``.
    """
    out = []
    for line in text.splitlines():
        i = line.find('{"_aws"')
        if i < 0:
            continue
        try:
            rec = json.loads(line[i:])
        except ValueError:
            continue
        if not isinstance(rec, dict) or "_aws" not in rec:
            continue
        ts = rec["_aws"].get("Timestamp")
        rec = {k: v for k, v in rec.items() if k != "_aws"}
        rec["timestamp"] = ts / 1000.0 if isinstance(ts, (int, float)) else None
        if attempt is not None:
            rec["attempt"] = attempt
        out.append(rec)
    return out


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------
ATTEMPT_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"]


def _plt():
    import matplotlib  # noqa: PLC0415 (heavy, only for reports)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def attempt_spans(series: Series) -> list[tuple[int, float, float]]:
    """(attempt, first time, last time) of the rows each attempt contributed."""
    spans: list[tuple[int, float, float]] = []
    for a, t in zip(series.attempt, series.time, strict=True):
        if spans and spans[-1][0] == a:
            spans[-1] = (a, spans[-1][1], t)
        else:
            start = spans[-1][2] if spans else t
            spans.append((a, start, t))
    return spans


def _interrupted(attempts: list[dict[str, Any]]) -> dict[int, str]:
    """attempt number -> why it ended early, for the attempts that did not finish the job."""
    out = {}
    for a in attempts[:-1] if attempts else []:
        out[int(a["attempt"])] = attempt_end_label(a)
    return out


def attempt_end_label(a: Mapping[str, Any]) -> str:
    reason = str(a.get("status_reason") or "")
    if reason.startswith("Host EC2"):
        return "spot reclaim"
    if a.get("exit_code") == 75:
        return "spot notice / SIGTERM (checkpointed)"
    if reason:
        return reason
    return f"exit {a.get('exit_code')}"


def _shade(ax, spans, interrupts: Mapping[int, str], ends: Mapping[int, float], label: bool) -> None:
    for a, t0, t1 in spans:
        ax.axvspan(t0, t1, color=ATTEMPT_COLORS[(a - 1) % len(ATTEMPT_COLORS)], alpha=0.10, lw=0)
        if label:
            ax.text(
                (t0 + t1) / 2, 0.98, f"attempt {a}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8, color="#333333",
            )  # fmt: skip
    for a, why in interrupts.items():
        if a in ends:
            ax.axvline(ends[a], color="#c44e52", ls="--", lw=1.2)
            if label:
                ax.text(
                    ends[a], 0.02, f" {why}", transform=ax.get_xaxis_transform(), rotation=90,
                    ha="left", va="bottom", fontsize=7, color="#c44e52",
                )  # fmt: skip


def step_to_time(series: Series, step: float) -> float:
    """Simulated time of any step (linear between the series' rows)."""
    import numpy as np  # noqa: PLC0415

    return float(np.interp(step, series.steps, series.time))


def _attempt_ranges(data: LogData) -> dict[int, tuple[int, int]]:
    """(first, last) MD step each attempt printed, superseded rows included."""
    out: dict[int, tuple[int, int]] = {}
    for b in data.blocks:
        if b.kind == "run" and b.rows:
            lo, hi = int(b.rows[0][0]), int(b.rows[-1][0])
            if b.attempt in out:
                lo, hi = min(lo, out[b.attempt][0]), max(hi, out[b.attempt][1])
            out[b.attempt] = (lo, hi)
    return out


def _attempt_ends(data: LogData, series: Series) -> dict[int, float]:
    """Simulated time of the last step each attempt printed (the interruption point)."""
    return {a: step_to_time(series, hi) for a, (_lo, hi) in _attempt_ranges(data).items()}


def plot_thermo(
    series: Series, data: LogData, attempts: list[dict[str, Any]], path: Path, title: str
) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=THERMO_SIZE_IN, dpi=PNG_DPI, sharex=True)
    spans = attempt_spans(series)
    interrupts = _interrupted(attempts) or {a: "attempt ended" for a, _t0, _t1 in spans[:-1]}
    ends = _attempt_ends(data, series)
    for ax, (name, candidates) in zip(axes.flat, PANELS, strict=True):
        cols = [c for c in candidates if c in series.columns]
        cols = [c for c in ENERGY_COLUMNS if c in series.columns][:2] if name == "energy" else cols[:1]
        if not cols:
            ax.text(
                0.5, 0.5, f"no {name} thermo column\n(add {candidates[0].lower()} to thermo_style)",
                ha="center", va="center", transform=ax.transAxes, color="#888888",
            )  # fmt: skip
            ax.set_title(name)
            continue
        for c in cols:
            ax.plot(series.time, series.values[c], lw=1.0, marker="." if len(series) < 60 else None, label=c)
        _shade(ax, spans, interrupts, ends, label=name == "temperature")
        ax.set_title(name)
        ax.set_ylabel(", ".join(cols))
        if len(cols) > 1:
            ax.legend(fontsize=8, loc="center right")
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel(f"simulated time ({series.time_unit})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return path


def plot_rate(
    rates: list[dict[str, Any]],
    emf: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    unit: str,
    time_label: str,
    path: Path,
    title: str,
) -> Path:
    plt = _plt()
    has_emf = any(r.get("NsPerDay") is not None or r.get("TauPerDay") is not None for r in emf)
    fig, axes = plt.subplots(2 if has_emf else 1, 1, figsize=RATE_SIZE_IN, dpi=PNG_DPI, squeeze=False)
    ax = axes[0][0]
    for a in sorted({r["attempt"] for r in rates}):
        pts = [r for r in rates if r["attempt"] == a and r["time"] is not None]
        ax.plot(
            [p["time"] for p in pts], [p["per_day"] for p in pts], marker="o", ms=3, lw=1,
            color=ATTEMPT_COLORS[(a - 1) % len(ATTEMPT_COLORS)], label=f"attempt {a}",
        )  # fmt: skip
    if not rates:
        ax.text(0.5, 0.5, "no timed run chunks in the log", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"simulated time ({time_label}), from the LAMMPS log's Loop time lines")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    if rates:
        ax.legend(fontsize=8)
    if has_emf:
        ax2 = axes[1][0]
        key = "NsPerDay" if any(r.get("NsPerDay") is not None for r in emf) else "TauPerDay"
        starts = [_epoch(a.get("started_at")) for a in attempts]
        t0 = min([r["timestamp"] for r in emf if r.get("timestamp") is not None] + [t for t in starts if t])
        t_end = max(
            [r["timestamp"] for r in emf if r.get("timestamp")]
            + [_epoch(a.get("stopped_at")) or t0 for a in attempts]
        )
        span = t_end - t0
        scale, wall_unit = (
            (1.0, "seconds") if span < 300 else (60.0, "minutes") if span < 3 * 3600 else (3600.0, "hours")
        )
        for a in sorted({r.get("attempt", 1) for r in emf}):
            pts = [
                r for r in emf if r.get("attempt", 1) == a and r.get(key) is not None and r.get("timestamp")
            ]
            ax2.plot(
                [(p["timestamp"] - t0) / scale for p in pts], [p[key] for p in pts], marker="o", ms=3, lw=1,
                color=ATTEMPT_COLORS[(a - 1) % len(ATTEMPT_COLORS)], label=f"attempt {a}",
            )  # fmt: skip
        for a in attempts:
            start, stop = _epoch(a.get("started_at")), _epoch(a.get("stopped_at"))
            if start and stop:
                ax2.axvspan((start - t0) / scale, (stop - t0) / scale, alpha=0.08, lw=0,
                            color=ATTEMPT_COLORS[(int(a["attempt"]) - 1) % len(ATTEMPT_COLORS)])  # fmt: skip
        gpu = [r for r in emf if r.get("GpuUtilization") is not None and r.get("timestamp")]
        if gpu:
            ax3 = ax2.twinx()
            ax3.plot([(r["timestamp"] - t0) / scale for r in gpu], [r["GpuUtilization"] for r in gpu],
                     color="#999999", lw=0.8, ls=":", label="GPU utilization %")  # fmt: skip
            ax3.set_ylabel("GPU %")
            ax3.set_ylim(0, 105)
        ax2.set_xlabel(f"wall-clock {wall_unit} since the first progress record (runner EMF lines)")
        ax2.set_ylabel(unit)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return path


def plot_checkpoints(
    data: LogData, series: Series, manifests: list[dict[str, Any]], path: Path, title: str
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=CKPT_SIZE_IN, dpi=PNG_DPI)
    step_time = dict(zip(series.steps, series.time, strict=True))
    ranges = _attempt_ranges(data)
    n = max([data.attempts, *ranges], default=1)
    last = max(ranges, default=0)
    for a, (lo, hi) in ranges.items():
        t0, t1 = step_to_time(series, lo), step_to_time(series, hi)
        ax.plot([t0, t1], [a, a], lw=8, alpha=0.25, color=ATTEMPT_COLORS[(a - 1) % len(ATTEMPT_COLORS)])
        if a != last:
            ax.plot([t1], [a], marker="x", ms=10, mew=2, color="#c44e52")
            ax.annotate(f"attempt {a} stopped", xy=(t1, a), xytext=(6, 6), textcoords="offset points",
                        fontsize=8, color="#c44e52")  # fmt: skip
    in_s3 = {int(m["seq"]) for m in manifests}
    for c in data.checkpoints:
        t = step_time.get(int(c.step)) if c.step is not None else None
        if t is None:
            continue  # e.g. a minimize stage's end: no MD time yet
        ax.plot([t], [c.attempt], marker="|", ms=14, mew=2, color="#333333")
        if c.seq in in_s3:
            ax.plot([t], [c.attempt], marker="o", ms=7, mfc="none", mec="#2a9d8f", mew=1.5)
    for r in data.resumes:
        t = step_time.get(int(r.step)) if r.step is not None else None
        if t is not None:
            ax.annotate(
                f"resumed from ckpt {r.seq}", xy=(t, r.attempt), xytext=(t, r.attempt - 0.45),
                arrowprops={"arrowstyle": "->", "color": "#c44e52"}, fontsize=8, color="#c44e52", ha="center",
            )  # fmt: skip
    ax.set_yticks(range(1, n + 1), [f"attempt {i}" for i in range(1, n + 1)])
    ax.set_ylim(n + 0.6, 0.4)
    ax.set_xlabel(f"simulated time ({series.time_unit})")
    ax.plot([], [], marker="|", ls="", color="#333333", ms=10, mew=2, label="checkpoint written")
    ax.plot([], [], marker="o", ls="", mfc="none", mec="#2a9d8f", label="still in S3")
    if len(ranges) > 1:
        ax.plot([], [], marker="x", ls="", color="#c44e52", mew=2, label="attempt stopped (interrupted)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return path


def progress_points(
    emf: list[dict[str, Any]], attempts: list[dict[str, Any]], total_steps: Any
) -> dict[str, Any]:
    """(epoch, y) points of progress against wall-clock time, and what y is.

    From the runner's EMF records (``Progress`` percent, else ``step`` of ``total_steps``)
    when the attempt logs hold them; else from the attempt records: each attempt's
    resumed step at its start (and at its first new step), its last step at its end.
    """
    total = int(total_steps) if isinstance(total_steps, (int, float)) and total_steps > 0 else None
    pts: list[tuple[float, float, int]] = []
    for r in emf:
        if r.get("timestamp") is None:
            continue
        if r.get("Progress") is not None:
            pts.append((r["timestamp"], float(r["Progress"]), int(r.get("attempt", 1))))
        elif total and r.get("step") is not None:
            pts.append((r["timestamp"], 100.0 * float(r["step"]) / total, int(r.get("attempt", 1))))
    if pts:
        return {"points": sorted(pts), "unit": "percent", "source": "runner EMF records"}
    for a in attempts:
        n = int(a.get("attempt") or 0)
        base = (a.get("resumed_from") or {}).get("step", 0) if a.get("source", "runner") == "runner" else None
        stop, last = _epoch(a.get("stopped_at")), a.get("last_step")
        for t, step in (
            (_epoch(a.get("started_at")), base),
            (_epoch(a.get("first_step_at")), base),
            (stop, last),
        ):
            if t is not None and isinstance(step, (int, float)):
                pts.append((t, 100.0 * step / total if total else float(step), n))
    unit = "percent" if total else "steps"
    return {"points": sorted(pts), "unit": unit, "source": "the runner's attempt records"}


def plot_progress(
    prog: Mapping[str, Any], attempts: list[dict[str, Any]], tel: Mapping[str, Any], path: Path, title: str
) -> Path:
    """Progress against wall-clock hours since the first attempt's start; each attempt's
    stretch shaded, interruptions dashed red; the deadline and the line to it when set."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=PROGRESS_SIZE_IN, dpi=PNG_DPI)
    pts = prog.get("points") or []
    starts = [t for t in (_epoch(a.get("started_at")) for a in attempts) if t is not None]
    t0 = min(starts + [p[0] for p in pts]) if starts or pts else None
    deadline = _epoch(tel.get("deadline"))
    if t0 is None:
        ax.text(0.5, 0.5, "no progress records", ha="center", va="center", transform=ax.transAxes)
    else:
        for a in sorted({p[2] for p in pts}):
            mine = [p for p in pts if p[2] == a]
            ax.plot([(p[0] - t0) / 3600 for p in mine], [p[1] for p in mine], marker="o", ms=3, lw=1.2,
                    color=ATTEMPT_COLORS[(a - 1) % len(ATTEMPT_COLORS)], label=f"attempt {a}")  # fmt: skip
        for a in attempts:
            start, stop = _epoch(a.get("started_at")), _epoch(a.get("stopped_at"))
            if start is not None and stop is not None:
                color = ATTEMPT_COLORS[(int(a.get("attempt") or 1) - 1) % len(ATTEMPT_COLORS)]
                ax.axvspan((start - t0) / 3600, (stop - t0) / 3600, alpha=0.08, lw=0, color=color)
        for i, r in enumerate(tel.get("interruption_list") or []):
            t = _epoch(r.get("at"))
            if t is not None:
                ax.axvline((t - t0) / 3600, color="#c44e52", ls="--", lw=1.2,
                           label="spot interruption" if i == 0 else None)  # fmt: skip
        if deadline is not None:
            ax.axvline((deadline - t0) / 3600, color="#000000", lw=1.5, label="deadline")
            if prog.get("unit") == "percent":
                ax.plot([0, (deadline - t0) / 3600], [0, 100], color="#555555", ls=":", lw=1.2,
                        label="start -> deadline (straight line)")  # fmt: skip
        ax.legend(fontsize=8, loc="upper left")
        ax.set_xlabel(f"wall-clock hours since {utc_iso(t0)} ({prog.get('source')})")
    ax.set_ylabel("progress (%)" if prog.get("unit") == "percent" else "MD steps")
    if prog.get("unit") == "percent":
        ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    plt.close(fig)
    return path


def _telemetry_of(inp: ReportInputs) -> dict[str, Any]:
    """:func:`lmpspot.telemetry.sim_telemetry` of the inputs' attempts (no price lookups:
    the costs are the ledger's when given, else unknown)."""
    region = (inp.ledger or {}).get("region") or "us-east-1"
    return sim_telemetry(inp.attempts, region=region, ledger=inp.ledger, price_fn=lambda *_a: None)


def _hm(seconds: Any) -> str:
    return "-" if seconds is None else f"{float(seconds) / 60:.1f} min"


def telemetry_markdown(tel: Mapping[str, Any], progress_png: str | None) -> list[str]:
    """The report's "Interruptions and cost" section."""
    lines = ["## Interruptions and cost", ""]
    if progress_png:
        lines += [f"![progress]({progress_png})", ""]
    if not tel:
        return [*lines, "No attempt records: no interruption telemetry.", ""]
    rec, hours, cost = tel.get("recovery_s") or {}, tel.get("hours") or {}, tel.get("cost_usd") or {}
    per = _fmt(tel.get("steps_lost_per_interruption"))
    usd_ns = tel.get("usd_per_ns")
    table = [
        ("interruptions", str(tel.get("interruptions", 0))),
        ("steps lost", f"{tel.get('steps_lost', 0)} ({per} per interruption)"),
        ("recovery (notice -> first new MD step)", f"mean {_hm(rec.get('mean'))}, max {_hm(rec.get('max'))}"),
        ("waiting for capacity", _hm(tel.get("capacity_wait_s"))),
    ]
    if tel.get("window_wait_s"):
        table.append(("waiting for the night window", _hm(tel.get("window_wait_s"))))
    for cap in ("spot", "on-demand", "local", "unknown"):
        if hours.get(cap):
            usd = cost.get(cap)
            table.append(
                (f"{cap} hours", f"{hours[cap]:.3f} h" + (f", ${usd:.2f}" if usd is not None else ""))
            )
    table.append(("cost per simulated ns", "-" if usd_ns is None else f"${usd_ns:.4g}"))
    if tel.get("deadline"):
        queue = tel.get("policy_queue") or "-"
        table += [
            ("deadline", str(tel["deadline"])),
            ("projected finish", f"{tel.get('projected_finish') or '-'} (queue now: {queue})"),
        ]
    lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in table], ""]
    rows = tel.get("interruption_list") or []
    if rows:
        lines += [
            "| attempt | at | capacity | steps lost | recovery | to next start | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cells = [
                r["attempt"], r.get("at") or "-", r.get("capacity") or "-", _fmt(r.get("steps_lost")),
                _hm(r.get("recovery_s")), _hm(r.get("restart_s")), r.get("reason") or "-",
            ]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------
_epoch = parse_time  # ISO 8601 (Z allowed) -> epoch seconds, None when absent


@dataclass
class ReportInputs:
    """Everything a report is made from (``gather_inputs`` reads it from S3)."""

    sim_id: str
    log_text: str
    attempts: list[dict[str, Any]] = field(default_factory=list)  # ledger-shaped records
    attempt_logs: dict[int, str] = field(default_factory=dict)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None  # lmpspot.ledger.cost_ledger(...) as a dict
    source: str = ""
    telemetry: dict[str, Any] | None = None  # lmpspot.telemetry.sim_telemetry(...); None: from attempts


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e12:
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def build_report(inp: ReportInputs, out_dir: Path) -> dict[str, Any]:
    """Write the PNGs, ``report.md`` and ``report.json`` into ``out_dir``; return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = parse_log(inp.log_text)
    series = thermo_series(data)
    if not len(series):
        raise ValueError(f"{inp.sim_id}: the LAMMPS log has no thermo rows from a run (nothing to plot)")
    rates = log_rates(data, series)
    emf: list[dict[str, Any]] = []
    for n, text in sorted(inp.attempt_logs.items()):
        emf += parse_emf(text, n)
    unit_label = "ns/day" if series.time_unit == "ns" else f"{series.time_unit}/day"
    files = {
        "thermo": plot_thermo(
            series, data, inp.attempts, out_dir / "thermo.png", f"{inp.sim_id}: thermo output"
        ),
        "rate": plot_rate(
            rates,
            emf,
            inp.attempts,
            unit_label,
            series.time_unit,
            out_dir / "rate.png",
            f"{inp.sim_id}: throughput",
        ),
        "checkpoints": plot_checkpoints(
            data, series, inp.manifests, out_dir / "checkpoints.png", f"{inp.sim_id}: checkpoints"
        ),
    }
    tel = inp.telemetry if inp.telemetry is not None else _telemetry_of(inp)
    files["progress"] = plot_progress(
        progress_points(emf, inp.attempts, (inp.status or {}).get("total_steps") or tel.get("total_steps")),
        inp.attempts,
        tel,
        out_dir / "progress.png",
        f"{inp.sim_id}: progress against wall-clock time",
    )
    last = {c: series.values[c][-1] for c in series.columns}
    summary: dict[str, Any] = {
        "sim_id": inp.sim_id,
        "generated_at": utc_iso(),
        "source": inp.source,
        "units": data.units,
        "time_unit": series.time_unit,
        "steps": {"first": series.steps[0], "last": series.steps[-1], "rows": len(series)},
        "simulated_time": {"first": series.time[0], "last": series.time[-1]},
        "attempts_in_log": data.attempts,
        "checkpoints_in_log": len(data.checkpoints),
        "checkpoints_in_s3": sorted(int(m["seq"]) for m in inp.manifests),
        "resumes": [asdict(r) for r in data.resumes],
        "last_row": last,
        "rate": {
            "unit": unit_label,
            "mean_from_log": (sum(r["per_day"] for r in rates) / len(rates)) if rates else None,
            "points_from_log": len(rates),
            "emf_records": len(emf),
        },
        "attempts": inp.attempts,
        "ledger": inp.ledger,
        "telemetry": tel,
        "status": inp.status,
        "files": {k: v.name for k, v in files.items()},
        "warnings": data.warnings,
    }
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(render_markdown(summary))
    return summary


def render_markdown(s: Mapping[str, Any]) -> str:
    lines = [
        f"# Simulation report: {s['sim_id']}",
        "",
        f"Generated {s['generated_at']} from {s.get('source') or 'the job outputs'}.",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| units | {s['units']} (simulated time in {s['time_unit']}) |",
        f"| steps | {s['steps']['first']} .. {s['steps']['last']} ({s['steps']['rows']} thermo rows) |",
        f"| simulated time | {_fmt(s['simulated_time']['first'])} .. {_fmt(s['simulated_time']['last'])} "
        f"{s['time_unit']} |",
        f"| attempts (in the log) | {s['attempts_in_log']} |",
        f"| checkpoints written (in the log) | {s['checkpoints_in_log']} |",
        f"| checkpoints still in S3 | {', '.join(map(str, s['checkpoints_in_s3'])) or '-'} |",
        f"| mean throughput (log) | {_fmt(s['rate']['mean_from_log'])} {s['rate']['unit']} |",
    ]
    st = s.get("status") or {}
    if st:
        lines.append(
            f"| runner status | step {st.get('step')}/{st.get('total_steps')} "
            f"({_fmt(st.get('progress_percent'))} %), updated {st.get('updated_at')} |"
        )
    lines += ["", "Last thermo row: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in s["last_row"].items()), ""]
    lines += [
        "## Thermo output",
        "",
        "Shaded: the stretch of simulated time each attempt contributed (where attempts overlap, "
        "the later attempt's rows are shown). Dashed red: where an interrupted attempt stopped.",
        "",
        f"![thermo]({s['files']['thermo']})",
        "",
        "## Throughput",
        "",
        f"![rate]({s['files']['rate']})",
        "",
        "## Checkpoints",
        "",
        f"![checkpoints]({s['files']['checkpoints']})",
        "",
    ]
    lines += telemetry_markdown(s.get("telemetry") or {}, s["files"].get("progress"))
    if s["resumes"]:
        lines += ["Resumes: " + "; ".join(f"attempt {r['attempt']} from checkpoint {r['seq']} "
                                          f"(step {r['step']})" for r in s["resumes"]), ""]  # fmt: skip
    lines += ["## Attempts", ""]
    ledger = s.get("ledger") or {}
    rows = ledger.get("attempts") or []
    if rows:
        lines += [
            "| attempt | started | stopped | hours | instance | capacity | USD/h | cost USD | ended |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['attempt']} | {r.get('started_at') or '-'} | {r.get('stopped_at') or 'running'} | "
                f"{_fmt(r.get('hours'), 3)} | {r.get('instance_type') or '-'} | {r.get('capacity') or '-'} | "
                f"{_fmt(r.get('usd_per_hour'))} | {_fmt(r.get('cost_usd'))} | {r.get('ended') or '-'} |"
            )
        lines += [
            "",
            f"Cost so far: **{ledger.get('total_label', '-')}**. {ledger.get('note', '')}".rstrip(),
            "",
        ]
        srcs = sorted({r.get("price_source") for r in rows if r.get("price_source")})
        if srcs:
            lines += ["Prices: " + "; ".join(srcs), ""]
    elif s.get("attempts"):
        for a in s["attempts"]:
            lines.append(f"- attempt {a.get('attempt')}: {attempt_end_label(a)}")
        lines.append("")
    else:
        lines += ["No attempt records found.", ""]
    if s.get("warnings"):
        lines += ["## Warnings", "", *[f"- {w}" for w in s["warnings"]], ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------
def _get_text(s3: Any, bucket: str, key: str) -> str | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
    except Exception as exc:  # NoSuchKey or a 404 without the modelled error
        if "NoSuchKey" in str(exc) or "404" in str(exc) or "Not Found" in str(exc):
            return None
        raise


def list_manifests(s3: Any, bucket: str, checkpoint_prefix: str, sim_id: str) -> list[dict[str, Any]]:
    """The manifests of the checkpoints of ``sim_id`` still in S3, by seq."""
    out = []
    base = f"{checkpoint_prefix}{sim_id}/"
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=base + "ckpt-"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                text = _get_text(s3, bucket, obj["Key"])
                if text:
                    try:
                        out.append(json.loads(text))
                    except ValueError:
                        continue
    return sorted(out, key=lambda m: int(m.get("seq", 0)))


def upload_report(s3: Any, bucket: str, prefix: str, out_dir: Path, files: Iterable[str]) -> list[str]:
    """Put the report's files under ``s3://bucket/<prefix>``; return the keys."""
    types = {".png": "image/png", ".md": "text/markdown", ".json": "application/json"}
    keys = []
    for name in files:
        p = out_dir / name
        key = prefix + name
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=p.read_bytes(),
            ContentType=types.get(p.suffix, "application/octet-stream"),
            ChecksumAlgorithm="SHA256",
        )
        keys.append(key)
    return keys


def gather_inputs(
    sim_id: str,
    *,
    s3: Any,
    bucket: str,
    results_prefix: str = "results/",
    checkpoint_prefix: str = "checkpoints/",
    job: Any = None,
    logs_client: Any = None,
    log_group: str = "/aws/batch/job",
) -> ReportInputs:
    """Read what the report needs from S3 (and CloudWatch Logs for Batch attempts)."""
    base = f"{results_prefix}{sim_id}/"
    text = _get_text(s3, bucket, base + "log.lammps")
    if text is None:
        raise FileNotFoundError(f"s3://{bucket}/{base}log.lammps: no LAMMPS log (has the job started?)")
    attempts = list(job.attempts) if job is not None else []
    logs: dict[int, str] = {}
    for a in attempts:
        n = int(a.get("attempt", 0))
        url = a.get("log")
        if isinstance(url, str) and url.startswith(f"s3://{bucket}/"):
            body = _get_text(s3, bucket, url[len(f"s3://{bucket}/") :])
            if body:
                logs[n] = body
        elif a.get("log_stream") and logs_client is not None:
            logs[n] = _cloudwatch_text(logs_client, log_group, str(a["log_stream"]))
    status = None
    st = _get_text(s3, bucket, base + "status.json")
    if st:
        with contextlib.suppress(ValueError):
            status = json.loads(st)
    return ReportInputs(
        sim_id=sim_id,
        log_text=text,
        attempts=attempts,
        attempt_logs=logs,
        manifests=list_manifests(s3, bucket, checkpoint_prefix, sim_id),
        status=status,
        ledger=job.ledger if job is not None else None,
        source=f"s3://{bucket}/{base}",
        telemetry=job.telemetry if job is not None and job.telemetry else None,
    )


def _cloudwatch_text(logs_client: Any, group: str, stream: str, max_pages: int = 50) -> str:
    """An attempt's container output from CloudWatch Logs (best effort; '' when gone)."""
    lines: list[str] = []
    kw: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    try:
        for _ in range(max_pages):
            page = logs_client.get_log_events(**kw)
            lines += [e.get("message", "") for e in page.get("events", [])]
            token = page.get("nextForwardToken")
            if not page.get("events") or token == kw.get("nextToken"):
                break
            kw["nextToken"] = token
    except Exception:  # log stream expired or not readable: report without it
        return "\n".join(lines)
    return "\n".join(lines)


def cmd_report(args: Any) -> int:
    """``lmpspot report SIM_ID --bucket B``: build, write locally, upload (see module doc)."""
    from lmpspot import status as st  # noqa: PLC0415

    c = st.clients(args)
    cfg = st.Settings(
        bucket=args.bucket,
        region=c["region"] or "us-east-1",
        queues=list(args.queue)
        or [q["jobQueueName"] for q in c["batch"].describe_job_queues().get("jobQueues", [])],
        sim_ids=[args.sim_id],
        results_prefix=args.results_prefix,
        checkpoint_prefix=args.checkpoint_prefix,
        project=args.project,
        local=st.is_local_endpoint(c["batch"]),
    )
    jobs = st.gather(
        cfg,
        s3=c["s3"],
        batch=c["batch"],
        ecs=c["ecs"],
        ec2=c["ec2"],
        price_fn=st.price_fn_for(args.prices, args.endpoint_url),
    )
    job = jobs[0] if jobs else None
    import boto3  # noqa: PLC0415

    logs_client = None
    if job is not None and job.source == "batch":
        kw = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
        logs_client = boto3.session.Session(region_name=cfg.region).client("logs", **kw)
    try:
        inp = gather_inputs(
            args.sim_id,
            s3=c["s3"],
            bucket=args.bucket,
            results_prefix=args.results_prefix,
            checkpoint_prefix=args.checkpoint_prefix,
            job=job,
            logs_client=logs_client,
        )
        out = Path(args.out or Path(".state") / "reports" / args.sim_id)
        summary = build_report(inp, out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"lmpspot report: {exc}", file=sys.stderr)
        return 2
    names = [*summary["files"].values(), "report.md", "report.json"]
    prefix = f"{args.results_prefix}{args.sim_id}/{REPORT_DIR}/"
    keys = [] if args.no_upload else upload_report(c["s3"], args.bucket, prefix, out, names)
    doc = {
        "sim_id": args.sim_id,
        "dir": str(out.resolve()),
        "files": names,
        "uploaded": [f"s3://{args.bucket}/{k}" for k in keys],
    }
    print(json.dumps(doc, indent=2))
    return 0


def register(sub: Any) -> None:
    from lmpspot import status as st  # noqa: PLC0415

    p = sub.add_parser("report", help="a job's report: thermo/throughput/checkpoint plots, attempts, cost")
    p.add_argument("sim_id", help="the simulation id (checkpoint namespace, results/<sim_id>/)")
    st.add_common_arguments(p)
    p.add_argument("--out", help="local directory (default .state/reports/<sim_id>)")
    p.add_argument("--no-upload", action="store_true", help="do not put the report in S3")
    p.set_defaults(func=cmd_report)


def main(argv: list[str] | None = None) -> int:
    """``python -m lmpspot.report SIM_ID --bucket B ...`` (the same as ``lmpspot report``)."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m lmpspot.report")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
