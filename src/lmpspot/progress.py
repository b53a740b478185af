"""Progress reporting: a human line, a status JSON file, CloudWatch EMF metric lines.

``Progress.update`` is cheap to call often (e.g. every few hundred MD steps); it prints
at most every ``interval`` seconds.  Each report:

* a human line on ``stream``: step, percent, steps/s, ns/day (tau/day in LJ units),
  ETA, age of the last checkpoint;
* the status JSON file (if ``status_path``), replaced atomically;
* one CloudWatch Embedded Metric Format JSON line (if ``emf``), namespace ``lmpspot``.
  Every metric+dimension set is a billed custom metric (docs/COSTS.md), so the dimension
  sets are chosen: per simulation (dimension ``SimId``) only ``CheckpointAge``, which
  the stale-checkpoint alarm needs; everything else at fleet level (no dimension):
  NsPerDay (or TauPerDay), StepsPerSecond, CheckpointSeconds, GpuUtilization, and the
  one-shot telemetry events (:meth:`Progress.add_events`: Interruptions, StepsLost,
  RecoverySeconds, CapacityWaitSeconds).  ``Progress`` (percent) stays in the line as a
  property (Logs Insights reads it per simulation; no metric).  No AWS API is called:
  awslogs / the CloudWatch agent pick the lines up from the log stream.  A metric
  without a value is omitted, not zero: GpuUtilization is there only where
  ``nvidia-smi`` answers.  Names, units and meanings: docs/MONITORING_METRICS.md.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from lmpspot.checkpoint import atomic_write_bytes
from lmpspot.timefmt import utc_iso

NAMESPACE = "lmpspot"
SIM_DIMENSION = "SimId"
# (metric, unit) per simulation (dimension SimId): only what an alarm needs.
PER_SIM_METRICS = {"CheckpointAge"}
# One-shot fleet metrics (no dimension), reported once by the attempt that measured them.
EVENT_UNITS = {
    "Interruptions": "Count",
    "StepsLost": "Count",
    "RecoverySeconds": "Seconds",
    "CapacityWaitSeconds": "Seconds",
}

# LAMMPS time unit of each `units` style, in nanoseconds (lj has no physical time).
TIME_UNIT_NS: dict[str, float] = {
    "real": 1e-6,  # fs
    "metal": 1e-3,  # ps
    "si": 1e9,  # s
    "cgs": 1e9,  # s
    "electron": 1e-6,  # fs
    "micro": 1e3,  # microseconds
    "nano": 1.0,  # ns
}


def sample_gpu_utilization(timeout: float = 5.0) -> float | None:
    """Mean GPU utilization (%) over visible GPUs via nvidia-smi; None when unavailable."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    vals = []
    for line in out.stdout.splitlines():
        try:
            vals.append(float(line.strip()))
        except ValueError:
            continue
    return sum(vals) / len(vals) if vals else None


def format_duration(seconds: float | None) -> str:
    """``1d02h03m``, ``2h03m``, ``4m05s``, ``7s``; ``?`` for None."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "?"
    s = int(max(0, seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d{h:02d}h{m:02d}m"
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


class Progress:
    """Track and report the progress of one job (see module doc)."""

    def __init__(
        self,
        total_steps: int,
        job_id: str,
        stream: TextIO | None = sys.stderr,
        emf: bool = True,
        *,
        timestep: float | None = None,
        units: str | None = None,
        status_path: Path | str | None = None,
        interval: float = 30.0,
        start_step: int = 0,
        interruptions: int = 0,
        emf_stream: TextIO | None = None,
        gpu_sampler: Callable[[], float | None] | None = sample_gpu_utilization,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_steps = max(0, int(total_steps))
        self.job_id = job_id
        self.stream = stream
        self.emf = emf
        self.emf_stream = emf_stream if emf_stream is not None else stream
        self.timestep = timestep
        self.units = units
        self.status_path = Path(status_path) if status_path else None
        self.interval = interval
        self.interruptions = interruptions
        self.gpu_sampler = gpu_sampler
        self.clock = clock
        self._t0 = clock()
        self._start_step = start_step
        self._last_report_t: float | None = None
        self._last_report_step = start_step
        self._rate_ref = (self._t0, start_step, None)  # (t, step, sim_time)
        self.step = start_step
        self.sim_time: float | None = None
        self.steps_per_s: float | None = None
        self.last_checkpoint_t: float | None = None
        self.last_checkpoint_step: int | None = None
        self.last_checkpoint_seconds: float | None = None
        self.gpu_utilization: float | None = None
        self.last_status: dict[str, Any] = {}
        self._events: dict[str, float] = {}  # for the next EMF record only

    # -- inputs ------------------------------------------------------------------------
    def checkpoint_done(self, step: int, seconds: float) -> None:
        """Record a checkpoint taken at ``step`` that took ``seconds`` to write."""
        self.last_checkpoint_t = self.clock()
        self.last_checkpoint_step = step
        self.last_checkpoint_seconds = seconds

    def interrupted(self) -> None:
        """Count one spot interruption (the status file's ``interruptions``)."""
        self.interruptions += 1

    def add_events(self, events: dict[str, float] | None) -> None:
        """One-shot fleet metrics (:data:`EVENT_UNITS`) for the next EMF record, e.g. the
        interruption that ended the previous attempt and how long it took to recover."""
        for name, value in (events or {}).items():
            if name not in EVENT_UNITS:
                raise ValueError(f"unknown event metric {name!r} (one of {sorted(EVENT_UNITS)})")
            if value is not None:
                self._events[name] = self._events.get(name, 0.0) + float(value)

    # -- derived -----------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        if self.total_steps <= 0:
            return 1.0
        return min(1.0, max(0.0, self.step / self.total_steps))

    def sim_rate_per_day(self) -> tuple[float | None, str]:
        """(simulated time per wall day, unit): ns/day for physical units, tau/day for lj."""
        if self.steps_per_s is None or self.timestep is None:
            return None, "ns/day"
        per_day = self.steps_per_s * self.timestep * 86400.0
        if self.units in TIME_UNIT_NS:
            return per_day * TIME_UNIT_NS[self.units], "ns/day"
        if self.units == "lj":
            return per_day, "tau/day"
        return None, "ns/day"

    def eta_seconds(self) -> float | None:
        if not self.steps_per_s or self.steps_per_s <= 0:
            return None
        return max(0, self.total_steps - self.step) / self.steps_per_s

    def checkpoint_age(self) -> float | None:
        if self.last_checkpoint_t is None:
            return None
        return self.clock() - self.last_checkpoint_t

    # -- reporting ---------------------------------------------------------------------
    def update(
        self,
        step: int,
        sim_time: float | None = None,
        *,
        force: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Record the current step; report if ``interval`` passed (or ``force``).

        Returns True when a report was emitted.
        """
        now = self.clock()
        self.step = int(step)
        if sim_time is not None:
            self.sim_time = float(sim_time)
        due = self._last_report_t is None or now - self._last_report_t >= self.interval
        if not (due or force):
            return False
        t_ref, step_ref, _ = self._rate_ref
        if now > t_ref and self.step > step_ref:
            self.steps_per_s = (self.step - step_ref) / (now - t_ref)
        self._rate_ref = (now, self.step, self.sim_time)
        self._last_report_t = now
        self._last_report_step = self.step
        if self.gpu_sampler is not None:
            try:
                self.gpu_utilization = self.gpu_sampler()
            except Exception:
                self.gpu_utilization = None
        self._report(extra or {})
        return True

    def _report(self, extra: dict[str, Any]) -> None:
        rate, rate_unit = self.sim_rate_per_day()
        eta = self.eta_seconds()
        age = self.checkpoint_age()
        status = {
            "job_id": self.job_id,
            "updated_at": utc_iso(digits=6),
            "step": self.step,
            "total_steps": self.total_steps,
            "progress_percent": round(100.0 * self.fraction, 3),
            "sim_time": self.sim_time,
            "steps_per_s": self.steps_per_s,
            "sim_rate_per_day": rate,
            "sim_rate_unit": rate_unit,
            "eta_seconds": eta,
            "elapsed_seconds": self.clock() - self._t0,
            "last_checkpoint_step": self.last_checkpoint_step,
            "checkpoint_age_seconds": age,
            "checkpoint_seconds": self.last_checkpoint_seconds,
            "gpu_utilization": self.gpu_utilization,
            "interruptions": self.interruptions,
            **extra,
        }
        self.last_status = status
        if self.stream is not None:
            parts = [
                f"[{self.job_id}] step {self.step}/{self.total_steps}",
                f"{100.0 * self.fraction:5.1f}%",
                f"{self.steps_per_s:.1f} steps/s" if self.steps_per_s else "? steps/s",
            ]
            if rate is not None:
                parts.append(f"{rate:.3g} {rate_unit}")
            parts.append(f"ETA {format_duration(eta)}")
            parts.append(f"ckpt {format_duration(age)} ago" if age is not None else "no checkpoint yet")
            if self.gpu_utilization is not None:
                parts.append(f"GPU {self.gpu_utilization:.0f}%")
            print(" | ".join(parts), file=self.stream, flush=True)
        if self.status_path is not None:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.status_path, (json.dumps(status, indent=2) + "\n").encode(), fsync=False)
        if self.emf and self.emf_stream is not None:
            print(self.emf_line(status), file=self.emf_stream, flush=True)

    def emf_line(self, status: dict[str, Any] | None = None) -> str:
        """One CloudWatch Embedded Metric Format record (a single JSON line): the per-sim
        metrics under dimension ``SimId``, the rest without dimension (fleet level).
        The pending events (:meth:`add_events`) go into this record and are cleared."""
        status = status or self.last_status
        rate, rate_unit = self.sim_rate_per_day()
        values: list[tuple[str, float | None, str]] = [
            ("NsPerDay" if rate_unit == "ns/day" else "TauPerDay", rate, "None"),
            ("StepsPerSecond", self.steps_per_s, "Count/Second"),
            ("CheckpointAge", self.checkpoint_age(), "Seconds"),
            ("CheckpointSeconds", self.last_checkpoint_seconds, "Seconds"),
            ("GpuUtilization", self.gpu_utilization, "Percent"),
        ]
        values += [(n, v, EVENT_UNITS[n]) for n, v in sorted(self._events.items())]
        self._events = {}
        present = [(n, v, u) for n, v, u in values if v is not None]
        directives = []
        for dims, names in (
            ([SIM_DIMENSION], [(n, u) for n, _v, u in present if n in PER_SIM_METRICS]),
            ([], [(n, u) for n, _v, u in present if n not in PER_SIM_METRICS]),
        ):
            if names:
                directives.append(
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [dims],
                        "Metrics": [{"Name": n, "Unit": u} for n, u in names],
                    }
                )
        record: dict[str, Any] = {
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives},
            SIM_DIMENSION: self.job_id,
            "JobId": self.job_id,  # the same value; kept for older queries (a property, no metric)
            "step": status.get("step", self.step),
            "Progress": 100.0 * self.fraction,  # a property: Logs Insights reads it per simulation
        }
        for n, v, _u in present:
            record[n] = v
        return json.dumps(record, separators=(",", ":"))
