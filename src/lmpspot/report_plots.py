"""The report's PNGs (matplotlib, loaded only when a report is drawn): thermo output and
throughput against simulated time, the checkpoint timeline, progress against wall-clock time.
Each attempt's stretch is shaded in its colour and every interruption marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmpspot.lammps_log import LogData, Series
from lmpspot.ledger import parse_time
from lmpspot.timefmt import utc_iso

PNG_DPI = 100
THERMO_SIZE_IN = (11.0, 8.5)  # -> 1100 x 850 px
RATE_SIZE_IN = (11.0, 6.0)  # -> 1100 x 600 px
CKPT_SIZE_IN = (11.0, 4.5)  # -> 1100 x 450 px
PROGRESS_SIZE_IN = (11.0, 5.0)  # -> 1100 x 500 px

# What each thermo panel shows: (title, candidate columns in order of preference).
PANELS: list[tuple[str, list[str]]] = [
    ("temperature", ["Temp", "c_thermo_temp"]),
    ("energy", ["TotEng", "PotEng", "E_pair", "KinEng"]),
    ("pressure", ["Press", "c_thermo_press"]),
    ("density", ["Density"]),
]
ENERGY_COLUMNS = ("TotEng", "PotEng", "KinEng", "E_pair")

_epoch = parse_time  # ISO 8601 (Z allowed) -> epoch seconds, None when absent

ATTEMPT_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974"]


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write the PNG, free the figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=PNG_DPI)
    _plt().close(fig)
    return path


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
    return _save(fig, path)


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
        _plot_wall_rate(axes[1][0], emf, attempts, unit)
    fig.suptitle(title)
    return _save(fig, path)


def _plot_wall_rate(ax2, emf: list[dict[str, Any]], attempts: list[dict[str, Any]], unit: str) -> None:
    """The rate plot's second panel: the runner's EMF rates (and GPU utilization) against wall-clock
    time since the first record, each attempt's stretch shaded."""
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
        pts = [r for r in emf if r.get("attempt", 1) == a and r.get(key) is not None and r.get("timestamp")]
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
    return _save(fig, path)


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
    return _save(fig, path)
