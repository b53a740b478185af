"""Spot traces: when Spot instances are interrupted and when Spot capacity is gone.

A trace is what :mod:`lmpspot.spotsim` replays through a policy and what the local
executor replays through a real job.  Its JSON file (docs/DEADLINE.md, "Trace format")::

    {"seed": 7,
     "spot_interruptions_s": [5400.0, 20100.5],
     "spot_outages_s": [[20100.5, 22900.0]]}

* ``spot_interruptions_s``: seconds after the simulation's start at which the Spot
  instance running then (if any) gets its interruption notice.
* ``spot_outages_s``: ``[start, end)`` intervals during which the Spot queue has no
  capacity: a Spot job submitted or retried then waits (RUNNABLE) until ``end``, or until
  the queue's capacity fallback (``compute_runnable_timeout_s``) moves it On-Demand.
  The synthetic generators begin every outage with an interruption (the reclaim that
  starts a capacity crunch); a hand-written trace need not.
* ``seed``: the generator's seed (``null`` for a hand-written trace).  On-Demand is
  always available and never interrupted.

Generators, all seeded and deterministic:

* :func:`poisson_trace`: interruptions as a Poisson process with a rate per hour of
  Spot time, outages as a Poisson process with exponential durations.
* :func:`band_trace`: the same, with the rate taken from an AWS Spot Instance Advisor
  "frequency of interruption" band.  The Advisor (https://aws.amazon.com/ec2/spot/instance-advisor/)
  shows per instance type and region one of the bands ``<5%``, ``5-10%``, ``10-15%``,
  ``15-20%``, ``>20%``: "the rate at which Spot has reclaimed capacity during the
  trailing month" (its data file's description, as quoted by
  https://pkg.go.dev/github.com/grailbio/base/cloud/spotadvisor; also
  https://sparecores.com/article/spot-instance-terminate-rates-per-az).  No per-type
  numbers are built in: which band a GPU type (p3, g5, p4d ...) is in changes month to
  month and region to region, so the band is an input to choose from the Advisor.  A
  band becomes a per-hour hazard ``-ln(1 - p) / exposure_h``, with ``p`` the band's upper
  edge (pessimistic; ``>20%`` has none: 30% is assumed) and ``exposure_h`` the hours over
  which that share of instances is interrupted: a month (730 h) reads the Advisor
  literally; shorter exposures (instances that live a day) give the higher hazards a
  long simulation may meet.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOUR = 3600.0
MONTH_H = 730.0
# The Advisor's bands, and the monthly share of instances assumed for each (upper edge).
BANDS = {"<5%": 0.05, "5-10%": 0.10, "10-15%": 0.15, "15-20%": 0.20, ">20%": 0.30}
TRACE_KEYS = ("seed", "spot_interruptions_s", "spot_outages_s")


class TraceError(ValueError):
    """A trace file or generator input that cannot be used."""


@dataclass(frozen=True)
class Trace:
    """Spot interruption notices (s) and capacity outages ([start, end) s), sorted."""

    spot_interruptions_s: tuple[float, ...] = ()
    spot_outages_s: tuple[tuple[float, float], ...] = ()
    seed: int | None = None
    _outage_ends: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        ints = tuple(sorted(float(t) for t in self.spot_interruptions_s))
        outs = _merge(self.spot_outages_s)
        object.__setattr__(self, "spot_interruptions_s", ints)
        object.__setattr__(self, "spot_outages_s", outs)
        object.__setattr__(self, "_outage_ends", tuple(b for _, b in outs))

    def next_interruption(self, after: float, before: float) -> float | None:
        """The first notice in ``(after, before]``, or None."""
        i = bisect.bisect_right(self.spot_interruptions_s, after)
        if i < len(self.spot_interruptions_s) and self.spot_interruptions_s[i] <= before:
            return self.spot_interruptions_s[i]
        return None

    def spot_available_at(self, t: float) -> float:
        """The first time >= ``t`` at which Spot has capacity (``t`` outside outages)."""
        i = bisect.bisect_right(self._outage_ends, t)
        if i < len(self.spot_outages_s) and self.spot_outages_s[i][0] <= t:
            return self.spot_outages_s[i][1]
        return t

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "spot_interruptions_s": [round(t, 3) for t in self.spot_interruptions_s],
            "spot_outages_s": [[round(a, 3), round(b, 3)] for a, b in self.spot_outages_s],
        }


def _merge(outages: Any) -> tuple[tuple[float, float], ...]:
    """Outages sorted, overlapping or touching ones joined; each must have start < end."""
    spans = sorted((float(a), float(b)) for a, b in outages)
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if not a < b:
            raise TraceError(f"outage [{a}, {b}) does not end after it starts")
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def from_json(data: dict[str, Any]) -> Trace:
    """A trace from its JSON object (the three keys; see the module's docstring)."""
    if not isinstance(data, dict) or set(data) != set(TRACE_KEYS):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise TraceError(f"a trace is an object with exactly the keys {list(TRACE_KEYS)}, got {got}")
    seed, ints, outs = data["seed"], data["spot_interruptions_s"], data["spot_outages_s"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TraceError(f"seed must be an integer or null, got {seed!r}")
    if not isinstance(ints, list) or not all(_number(t) and t >= 0 for t in ints):
        raise TraceError("spot_interruptions_s must be a list of seconds >= 0")
    if not isinstance(outs, list) or not all(
        isinstance(o, list) and len(o) == 2 and all(_number(x) and x >= 0 for x in o) for o in outs
    ):
        raise TraceError("spot_outages_s must be a list of [start, end] pairs of seconds >= 0")
    return Trace(tuple(ints), tuple((a, b) for a, b in outs), seed)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load(path: str | Path) -> Trace:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}: not JSON ({e})") from None
    return from_json(data)


def dump(trace: Trace, path: str | Path) -> None:
    Path(path).write_text(json.dumps(trace.as_json()) + "\n", encoding="utf-8")


def band_hazard_per_hour(band: str, exposure_h: float = MONTH_H) -> float:
    """Interruptions per Spot hour for an Advisor band (see the module's docstring)."""
    if band not in BANDS:
        raise TraceError(f"interruption band {band!r} is not one of {list(BANDS)}")
    if exposure_h <= 0:
        raise TraceError("exposure_h must be > 0")
    return -math.log(1.0 - BANDS[band]) / exposure_h


def poisson_trace(
    seed: int,
    horizon_s: float,
    interruptions_per_hour: float,
    *,
    outages_per_hour: float = 0.0,
    outage_mean_s: float = 1800.0,
) -> Trace:
    """Poisson interruptions; Poisson outages (each starting with an interruption) of
    exponential durations with mean ``outage_mean_s``; all within ``[0, horizon_s)``."""
    if min(horizon_s, interruptions_per_hour, outages_per_hour) < 0 or outage_mean_s <= 0:
        raise TraceError("horizon, rates must be >= 0 and outage_mean_s > 0")
    rng = random.Random(seed)  # noqa: S311 -- a seeded, reproducible trace, not a secret
    ints = _poisson(rng, interruptions_per_hour / HOUR, horizon_s)
    outs = []
    for a in _poisson(rng, outages_per_hour / HOUR, horizon_s):
        outs.append((a, a + rng.expovariate(1.0 / outage_mean_s)))
    ints = sorted(ints + [a for a, _ in outs])
    return Trace(tuple(ints), tuple(outs), seed)


def band_trace(
    seed: int,
    horizon_s: float,
    band: str,
    *,
    exposure_h: float = MONTH_H,
    outages_per_hour: float = 0.0,
    outage_mean_s: float = 1800.0,
) -> Trace:
    """A :func:`poisson_trace` at the hazard of an Advisor band."""
    rate = band_hazard_per_hour(band, exposure_h)
    return poisson_trace(
        seed, horizon_s, rate, outages_per_hour=outages_per_hour, outage_mean_s=outage_mean_s
    )


def _poisson(rng: random.Random, per_s: float, horizon_s: float) -> list[float]:
    out: list[float] = []
    if per_s <= 0:
        return out
    t = rng.expovariate(per_s)
    while t < horizon_s:
        out.append(t)
        t += rng.expovariate(per_s)
    return out
