"""Cost planner: wall time and cost per job for each instance type and region.

The model (all times in hours):

* ``compute_h = ns / ns_per_day * 24`` -- the job's uninterrupted run time on one slot
  (``gpus_per_job`` GPUs of the instance's GPU model).
* Each spot interruption costs ``overhead_h = checkpoint_interval / 2 + restart`` (the
  work lost since the last checkpoint on average, plus getting a new instance running).
  With ``rate`` interruptions per hour of wall time, the spot wall time ``T`` satisfies
  ``T = compute_h + rate * T * overhead_h``, so ``T = compute_h / (1 - rate * overhead_h)``
  (needs ``rate * overhead_h < 1``: otherwise the job never finishes).
* A share ``f`` of the work runs on on-demand capacity (Batch's fallback queue), which is
  not interrupted: ``wall_h = (1 - f) * T + f * compute_h``.
* Packing: ``slots = gpus // gpus_per_job`` jobs share one instance.  For ``jobs`` jobs,
  ``instances = ceil(jobs / slots)``; the campaign pays ``instances`` instance-hours per
  hour of wall time, and cost per job = campaign cost / jobs.  The seed design runs one job
  alone on a p4d.24xlarge (``slots = 1``, 7 GPUs idle) and is shown next to the packed one.

Prices come from :mod:`lmpspot.prices`; every price carries its source, date and a
``synthetic`` flag that the outputs repeat.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lmpspot.deadline import DEFAULT_CAPACITY_WAIT_S
from lmpspot.prices import SYNTHETIC_LABEL, Price, load_table, price_per_hour
from lmpspot.spotsim import Config, compare
from lmpspot.spottrace import BANDS, MONTH_H, TraceError, band_hazard_per_hour, poisson_trace

SEED_INSTANCE_TYPE = "p4d.24xlarge"


class PlanError(ValueError):
    """A planner input is invalid; the message names the setting and the fix."""


# --------------------------------------------------------------------------- inputs


def _positive(settings: dict, key: str, *, allow_zero: bool = False) -> float:
    value = settings.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"plan_{key} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise PlanError(f"plan_{key} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def measured_ns_per_day(path: str | Path) -> float:
    """ns/day from a runner ``status.json`` or a file of EMF lines (the last NsPerDay)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        status = json.loads(text)
    except json.JSONDecodeError:
        status = None
    if isinstance(status, dict):
        if status.get("sim_rate_unit") != "ns/day" or not status.get("sim_rate_per_day"):
            raise PlanError(
                f"{path}: status has no ns/day rate (sim_rate_unit={status.get('sim_rate_unit')!r}); "
                "only runs in real units (not lj) give ns/day"
            )
        return float(status["sim_rate_per_day"])
    rate = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and rec.get("NsPerDay"):
            rate = float(rec["NsPerDay"])
    if rate is None:
        raise PlanError(f"{path}: neither a status.json nor EMF lines with NsPerDay")
    return rate


def throughput_table(settings: dict) -> dict[str, dict[str, Any]]:
    """ns/day per job on each GPU model at ``settings['atoms']``, with where it came from.

    Configured values (``ns_per_day``: {model: ns/day at ``ns_per_day_atoms`` atoms})
    and a measured run (``measured``: {gpu_model, atoms, ns_per_day | status_file}) are
    scaled to the planned size assuming time per step grows linearly with atoms.
    """
    atoms = _positive(settings, "atoms")
    out: dict[str, dict[str, Any]] = {}
    configured = settings.get("ns_per_day") or {}
    if not isinstance(configured, dict):
        raise PlanError("plan_ns_per_day must map GPU models (A100, H100, A10G, L4, L40S, ...) to ns/day")
    ref_atoms = float(settings.get("ns_per_day_atoms") or atoms)
    if ref_atoms <= 0:
        raise PlanError("plan_ns_per_day_atoms must be > 0")
    for model, rate in configured.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise PlanError(f"plan_ns_per_day[{model!r}] must be a positive number of ns/day, got {rate!r}")
        out[str(model)] = {
            "ns_per_day": float(rate) * ref_atoms / atoms,
            "source": f"{settings.get('ns_per_day_source') or 'configured'} "
            f"(plan_ns_per_day at {ref_atoms:g} atoms)",
        }
    measured = settings.get("measured") or {}
    if measured:
        if not isinstance(measured, dict) or not measured.get("gpu_model"):
            raise PlanError("plan_measured needs gpu_model and ns_per_day or status_file")
        if measured.get("status_file"):
            rate = measured_ns_per_day(measured["status_file"])
            src = f"measured ({measured['status_file']})"
        else:
            rate = measured.get("ns_per_day")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
                raise PlanError("plan_measured.ns_per_day must be a positive number (or give status_file)")
            src = "measured (plan_measured.ns_per_day)"
        m_atoms = float(measured.get("atoms") or atoms)
        out[str(measured["gpu_model"])] = {"ns_per_day": float(rate) * m_atoms / atoms, "source": src}
    return out


def normalise(settings: dict) -> dict[str, Any]:
    """Validated planner settings with defaults filled in."""
    s = dict(settings)
    s.setdefault("jobs", 1)
    s.setdefault("gpus_per_job", 1)
    s.setdefault("interruptions_per_hour", 0.0)
    s.setdefault("checkpoint_interval_s", 600)
    s.setdefault("restart_s", 300)
    s.setdefault("on_demand_share", 0.0)
    for key in ("atoms", "ns"):
        _positive(s, key)
    for key in ("interruptions_per_hour", "checkpoint_interval_s", "restart_s", "on_demand_share"):
        _positive(s, key, allow_zero=True)
    if not 0 <= s["on_demand_share"] <= 1:
        raise PlanError(f"plan_on_demand_share must be between 0 and 1, got {s['on_demand_share']!r}")
    for key in ("jobs", "gpus_per_job"):
        if isinstance(s[key], bool) or not isinstance(s[key], int) or s[key] < 1:
            raise PlanError(f"plan_{key} must be a positive integer, got {s[key]!r}")
    types = s.get("instance_types")
    regions = s.get("regions")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise PlanError("plan_instance_types must be a non-empty list of instance type names")
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
        raise PlanError("plan_regions must be a non-empty list of region codes")
    overhead_h = (s["checkpoint_interval_s"] / 2 + s["restart_s"]) / 3600
    if s["interruptions_per_hour"] * overhead_h >= 1:
        raise PlanError(
            f"plan_interruptions_per_hour={s['interruptions_per_hour']} x overhead {overhead_h:.3f} h >= 1: "
            "the job would never finish; shorten plan_checkpoint_interval_s or plan_restart_s"
        )
    s["overhead_h"] = overhead_h
    s["throughput"] = throughput_table(s)
    if not s["throughput"]:
        raise PlanError(
            "no throughput: set plan_ns_per_day (ns/day per GPU model for this system) or plan_measured "
            "(a run's status.json / EMF file and its GPU model)"
        )
    return s


# --------------------------------------------------------------------------- arithmetic


def job_hours(compute_h: float, rate: float, overhead_h: float, on_demand_share: float) -> dict[str, float]:
    """Wall hours of one job: all spot, all on-demand, and the expected mix."""
    spot = compute_h / (1 - rate * overhead_h)
    return {
        "compute": compute_h,
        "spot": spot,
        "on_demand": compute_h,
        "expected": (1 - on_demand_share) * spot + on_demand_share * compute_h,
        "expected_interruptions": rate * spot * (1 - on_demand_share),
    }


def option(
    shape: dict[str, Any],
    instance_type: str,
    region: str,
    settings: dict[str, Any],
    spot: Price,
    on_demand: Price,
    *,
    packed: bool = True,
) -> dict[str, Any]:
    """One row of the plan: wall time, instance-hours and cost per job for one layout."""
    gpus, per_job = shape["gpus"], settings["gpus_per_job"]
    row: dict[str, Any] = {
        "instance_type": instance_type,
        "region": region,
        "gpu_model": shape["gpu_model"],
        "gpus": gpus,
        "layout": "packed" if packed else "seed: one job alone",
        "seed": not packed,
        "notes": [],
    }
    if gpus < per_job:
        row["notes"].append(f"{gpus} GPU(s) < plan_gpus_per_job={per_job}")
        row["usable"] = False
        return row
    slots = gpus // per_job if packed else 1
    jobs = settings["jobs"]
    instances = math.ceil(jobs / slots)
    row.update(
        jobs_per_instance=slots,
        idle_gpus=gpus - slots * per_job,
        instances=instances,
        spot_price=spot.as_dict(),
        on_demand_price=on_demand.as_dict(),
        synthetic=spot.synthetic or on_demand.synthetic,
    )
    tp = settings["throughput"].get(shape["gpu_model"])
    if tp is None:
        row["notes"].append(f"no ns/day for {shape['gpu_model']}: add it to plan_ns_per_day")
        row["usable"] = False
        return row
    compute_h = settings["ns"] / tp["ns_per_day"] * 24
    hours = job_hours(
        compute_h, settings["interruptions_per_hour"], settings["overhead_h"], settings["on_demand_share"]
    )
    f = settings["on_demand_share"]
    # Instance-hours charged to one job: the campaign's instance-hours over its jobs.
    share = instances / jobs
    ih = {
        "spot": hours["spot"] * share,
        "on_demand": hours["on_demand"] * share,
        "expected_spot": (1 - f) * hours["spot"] * share,
        "expected_on_demand": f * hours["on_demand"] * share,
    }
    cost = _cost_per_job(ih, spot, on_demand, f)
    for cap, price in (("spot", spot), ("on-demand", on_demand)):
        if price.usd_per_hour is None:
            row["notes"].append(f"no {cap} price: {price.note or price.source}")
    row.update(
        usable=True,
        ns_per_day=tp["ns_per_day"],
        ns_per_day_source=tp["source"],
        wall_hours=hours,
        instance_hours_per_job=ih,
        cost_per_job=cost,
        campaign_cost_expected=None if cost["expected"] is None else cost["expected"] * jobs,
    )
    return row


def _cost_per_job(ih: dict[str, float], spot: Price, on_demand: Price, f: float) -> dict[str, float | None]:
    """USD per job on spot, on On-Demand, and expected with On-Demand share ``f`` (None: no price)."""
    cost: dict[str, float | None] = {"spot": None, "on_demand": None, "expected": None}
    if spot.usd_per_hour is not None:
        cost["spot"] = ih["spot"] * spot.usd_per_hour
    if on_demand.usd_per_hour is not None:
        cost["on_demand"] = ih["on_demand"] * on_demand.usd_per_hour
    if f == 0 and cost["spot"] is not None:
        cost["expected"] = cost["spot"]
    elif f == 1 and cost["on_demand"] is not None:
        cost["expected"] = cost["on_demand"]
    elif cost["spot"] is not None and cost["on_demand"] is not None:
        cost["expected"] = (
            ih["expected_spot"] * spot.usd_per_hour + ih["expected_on_demand"] * on_demand.usd_per_hour
        )
    return cost


def _rank_key(row: dict[str, Any]) -> tuple:
    cost = row.get("cost_per_job") or {}
    for key in ("expected", "on_demand", "spot"):
        if cost.get(key) is not None:
            return (0 if key == "expected" else 1, cost[key], row["wall_hours"]["expected"])
    return (2, 0.0, 0.0)


PriceFn = Callable[[str, str, str], Price]


def plan(
    settings: dict[str, Any], price_fn: PriceFn | None = None, table: dict | None = None
) -> dict[str, Any]:
    """The ranked plan for ``settings`` (see :func:`normalise`), with the seed design."""
    s = normalise(settings)
    tbl = table or load_table()
    mode = s.get("price_mode", "table")
    if price_fn is None:

        def price_fn(t: str, r: str, c: str) -> Price:
            return price_per_hour(t, r, c, mode=mode, table=tbl)

    shapes = {**tbl["shapes"], **(s.get("shapes") or {})}
    get_price = _cached_prices(price_fn, s.get("price_overrides") or [])

    def row_for(itype: str, region: str, *, packed: bool = True) -> dict[str, Any]:
        spot, on_demand = get_price(itype, region, "spot"), get_price(itype, region, "on-demand")
        return option(shapes[itype], itype, region, s, spot, on_demand, packed=packed)

    rows, skipped = [], []
    for region in s["regions"]:
        for itype in s["instance_types"]:
            if itype not in shapes:
                skipped.append(
                    {"instance_type": itype, "region": region, "reason": "no shape in the price table"}
                )
                continue
            rows.append(row_for(itype, region))
    seed_rows = []
    seed_type = s.get("seed_instance_type", SEED_INSTANCE_TYPE)
    if seed_type in shapes:
        seed_rows = [row_for(seed_type, region, packed=False) for region in s["regions"]]
    usable = _ranked(r for r in rows + seed_rows if r.get("usable"))
    unusable = [r for r in rows + seed_rows if not r.get("usable")]
    inputs = {k: v for k, v in s.items() if k not in ("throughput", "shapes")}
    comparison = policy_comparison(s, usable) if s.get("deadline_hours") is not None else None
    return {
        "inputs": inputs,
        "policy_comparison": comparison,
        "throughput": s["throughput"],
        "price_mode": mode,
        "synthetic": any(r.get("synthetic") for r in rows + seed_rows),
        "options": usable,
        "unusable": unusable,
        "skipped": skipped,
        "seed_vs_packed": _seed_vs_packed(rows, seed_rows, seed_type),
        "price_table": {"as_of": tbl.get("as_of"), "sources": tbl.get("sources")},
    }


def _cached_prices(price_fn: PriceFn, overrides: list[dict[str, Any]]) -> PriceFn:
    """``price_fn`` asked once per (type, region, capacity); operator-supplied prices first."""
    by_key = {(o["instance_type"], o["region"], o["capacity"]): o for o in overrides}
    cache: dict[tuple[str, str, str], Price] = {}

    def get_price(t: str, r: str, c: str) -> Price:
        key = (t, r, c)
        if key not in cache:
            if key in by_key:
                o = by_key[key]
                cache[key] = Price(
                    float(o["usd_per_hour"]),
                    source=f"operator-supplied: {o.get('source') or 'plan_price_overrides'}",
                    as_of=str(o.get("as_of") or ""),
                    instance_type=t,
                    region=r,
                    capacity=c,
                )
            else:
                cache[key] = price_fn(t, r, c)
        return cache[key]

    return get_price


def _ranked(usable_rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The usable rows cheapest first, each with its rank and what the rank is based on."""
    usable = sorted(usable_rows, key=_rank_key)
    for i, row in enumerate(usable, 1):
        group = _rank_key(row)[0]
        row["rank"] = i if group < 2 else None
        row["rank_basis"] = ("expected cost", "on-demand cost (no spot price)", "no price")[group]
    return usable


def _seed_vs_packed(
    rows: list[dict[str, Any]], seed_rows: list[dict[str, Any]], seed_type: str
) -> list[dict[str, Any]]:
    """Per region: the seed layout (one job per instance) against the same type packed."""
    comparison = []
    for seed in seed_rows:
        packed = next(
            (
                r
                for r in rows
                if r["instance_type"] == seed_type and r["region"] == seed["region"] and r.get("usable")
            ),
            None,
        )
        if seed.get("usable") and packed:
            comparison.append(_compare(seed, packed))
    return comparison


def _compare(seed: dict, packed: dict) -> dict[str, Any]:
    out = {
        "region": seed["region"],
        "instance_type": seed["instance_type"],
        "seed_jobs_per_instance": seed["jobs_per_instance"],
        "seed_idle_gpus": seed["idle_gpus"],
        "packed_jobs_per_instance": packed["jobs_per_instance"],
        "packed_idle_gpus": packed["idle_gpus"],
        "wall_hours_expected": packed["wall_hours"]["expected"],
    }
    for key in ("spot", "on_demand", "expected"):
        a, b = seed["cost_per_job"][key], packed["cost_per_job"][key]
        out[f"seed_cost_{key}"] = a
        out[f"packed_cost_{key}"] = b
        out[f"ratio_{key}"] = None if a is None or not b else a / b
    return out


# --------------------------------------------------------------------------- deadline policy


def _comparison_settings(s: dict[str, Any]) -> dict[str, Any]:
    """The checked inputs of the policy comparison (``plan_deadline_hours`` and the rest)."""
    out = {
        "deadline_hours": _positive(s, "deadline_hours"),
        "outages_per_hour": _positive(
            {"outages_per_hour": s.get("outages_per_hour", 0.0)}, "outages_per_hour", allow_zero=True
        ),
        "outage_mean_s": _positive({"outage_mean_s": s.get("outage_mean_s", 1800.0)}, "outage_mean_s"),
        "capacity_fallback_s": _positive(
            {"capacity_fallback_s": s.get("capacity_fallback_s", DEFAULT_CAPACITY_WAIT_S)},
            "capacity_fallback_s",
        ),
        "band": s.get("interruption_band"),
        "band_exposure_h": _positive(
            {"band_exposure_h": s.get("band_exposure_h", MONTH_H)}, "band_exposure_h"
        ),
        "seed": s.get("seed", 0),
    }
    traces = s.get("traces", 200)
    if isinstance(traces, bool) or not isinstance(traces, int) or not 1 <= traces <= 10000:
        raise PlanError(f"plan_traces must be an integer from 1 to 10000, got {traces!r}")
    out["traces"] = traces
    if out["band"] is None:
        out["interruptions_per_hour"] = s["interruptions_per_hour"]
    else:
        try:
            out["interruptions_per_hour"] = band_hazard_per_hour(out["band"], out["band_exposure_h"])
        except TraceError as e:
            raise PlanError(f"plan_interruption_band: {e}") from None
    return out


def policy_comparison(s: dict[str, Any], options: list[dict[str, Any]]) -> dict[str, Any] | None:
    """ "spot only", "on-demand only" and "deadline policy" for the cheapest option with both
    prices, over ``traces`` seeded traces (lmpspot.spotsim; docs/DEADLINE.md)."""
    c = _comparison_settings(s)
    row = next(
        (r for r in options if r["spot_price"]["usd_per_hour"] and r["on_demand_price"]["usd_per_hour"]), None
    )
    if row is None:
        return None
    share = row["instances"] / s["jobs"]  # instance-hours charged to one job per hour
    cfg = Config(
        work_s=row["wall_hours"]["compute"] * 3600,
        deadline_s=c["deadline_hours"] * 3600,
        checkpoint_interval_s=s["checkpoint_interval_s"],
        restart_s=s["restart_s"],
        spot_price=row["spot_price"]["usd_per_hour"] * share,
        on_demand_price=row["on_demand_price"]["usd_per_hour"] * share,
        capacity_fallback_s=c["capacity_fallback_s"],
    )
    horizon = 3 * (cfg.deadline_s + cfg.work_s)
    traces = [
        poisson_trace(
            c["seed"] + i,
            horizon,
            c["interruptions_per_hour"],
            outages_per_hour=c["outages_per_hour"],
            outage_mean_s=c["outage_mean_s"],
        )
        for i in range(c["traces"])
    ]
    return {
        **c,
        "instance_type": row["instance_type"],
        "region": row["region"],
        "layout": row["layout"],
        "compute_h": row["wall_hours"]["compute"],
        "policies": compare(cfg, traces),
    }


NO_COMPARISON = "no policy comparison: no ranked option has both a Spot and an On-Demand price"
POLICY_LABELS = {"spot-only": "spot only", "on-demand-only": "on-demand only", "deadline": "deadline policy"}


def _comparison_head(c: dict[str, Any]) -> str:
    what = f"Advisor band {c['band']}" if c["band"] else "plan_interruptions_per_hour"
    return (
        f"deadline {c['deadline_hours']:g} h for {c['compute_h']:.1f} h of compute on {c['instance_type']} "
        f"{c['region']} ({c['layout']}), {c['traces']} seeded traces: "
        f"{c['interruptions_per_hour']:.3g} interruptions/h ({what}), {c['outages_per_hour']:g} Spot "
        f"outages/h of {c['outage_mean_s'] / 60:.0f} min on average"
    )


def _comparison_rows(c: dict[str, Any]) -> list[tuple[str, ...]]:
    """Per policy: label, mean USD/job, P(miss), mean finish h, mean moves."""
    return [
        (
            POLICY_LABELS[p],
            _usd(v["mean_cost"]),
            f"{v['p_miss']:.1%}",
            f"{v['mean_finish_h']:.1f}",
            f"{v['mean_moves']:.1f}",
        )
        for p, v in c["policies"].items()
    ]


# --------------------------------------------------------------------------- rendering


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def _price_cell(p: dict) -> str:
    if p.get("usd_per_hour") is None:
        return "n/a"
    return f"{p['usd_per_hour']:.4g}" + (" SYNTHETIC" if p.get("synthetic") else "")


def to_markdown(result: dict[str, Any]) -> str:
    """The plan as Markdown: the ranked table, the seed comparison and every price's source."""
    inp = result["inputs"]
    lines = [
        "# lmpspot cost plan",
        "",
    ]
    if result["synthetic"]:
        lines += [
            f"**{SYNTHETIC_LABEL}: some prices below were read from the local AWS; they are not real.**",
            "",
        ]
    lines += [
        f"{inp['jobs']} job(s) of {inp['atoms']:g} atoms, {inp['ns']:g} ns each, "
        f"{inp['gpus_per_job']} GPU(s) per job; {inp['interruptions_per_hour']:g} interruptions/h, "
        f"{inp['overhead_h'] * 60:.1f} min lost per interruption "
        f"(checkpoint every {inp['checkpoint_interval_s']:g} s / 2 + {inp['restart_s']:g} s restart); "
        f"on-demand share {inp['on_demand_share']:g}; prices: {result['price_mode']}.",
        "",
        "Ranked by expected cost per job; options without a spot price follow, ranked by on-demand cost.",
        "",
        "| rank | instance type | region | layout | jobs/inst | idle GPUs | ns/day | wall h | spot $/h | "
        "OD $/h | $/job spot | $/job OD | $/job expected |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["options"]:
        c = r["cost_per_job"]
        lines.append(
            f"| {r['rank'] or '-'} | {r['instance_type']} | {r['region']} | {r['layout']} | "
            f"{r['jobs_per_instance']} | {r['idle_gpus']} | {r['ns_per_day']:.3g} | "
            f"{r['wall_hours']['expected']:.1f} | "
            f"{_price_cell(r['spot_price'])} | {_price_cell(r['on_demand_price'])} | {_usd(c['spot'])} | "
            f"{_usd(c['on_demand'])} | {_usd(c['expected'])} |"
        )
    if result["seed_vs_packed"]:
        lines += ["", "## Seed design (one job alone) vs packed", ""]
        lines += [
            "| region | type | seed jobs/inst (idle GPUs) | packed jobs/inst | $/job seed | $/job packed "
            "| x |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for c in result["seed_vs_packed"]:
            key = "expected" if c["seed_cost_expected"] is not None else "on_demand"
            ratio = c[f"ratio_{key}"]
            lines.append(
                f"| {c['region']} | {c['instance_type']} | {c['seed_jobs_per_instance']} "
                f"({c['seed_idle_gpus']}) | {c['packed_jobs_per_instance']} | "
                f"{_usd(c[f'seed_cost_{key}'])} ({key}) | "
                f"{_usd(c[f'packed_cost_{key}'])} | {'n/a' if ratio is None else f'{ratio:.1f}'} |"
            )
    if result["unusable"] or result["skipped"]:
        lines += ["", "## Not ranked", ""]
        for r in result["unusable"]:
            lines.append(f"- {r['instance_type']} {r['region']} ({r['layout']}): {'; '.join(r['notes'])}")
        for r in result["skipped"]:
            lines.append(f"- {r['instance_type']} {r['region']}: {r['reason']}")
    if result["inputs"].get("deadline_hours") is not None and not result.get("policy_comparison"):
        lines += ["", NO_COMPARISON]
    if result.get("policy_comparison"):
        c = result["policy_comparison"]
        lines += ["", "## Spot only, On-Demand only, deadline policy", "", _comparison_head(c) + ".", ""]
        lines += [
            "| policy | mean $/job | P(miss deadline) | mean finish h | mean moves |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(r)} |" for r in _comparison_rows(c)]
    lines += ["", "## Price sources", ""]
    seen = set()
    for r in result["options"]:
        for p in (r["spot_price"], r["on_demand_price"]):
            key = (p["instance_type"], p["region"], p["capacity"])
            if key in seen:
                continue
            seen.add(key)
            value = "n/a" if p["usd_per_hour"] is None else f"{p['usd_per_hour']:g} USD/h"
            why = f" -- {p['note']}" if p.get("note") else ""
            lines.append(f"- {key[0]} {key[1]} {key[2]}: {value}; {p['label']}{why}")
    lines += [
        "",
        "Throughput: "
        + "; ".join(
            f"{m}: {t['ns_per_day']:.3g} ns/day ({t['source']})" for m, t in result["throughput"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def to_text(result: dict[str, Any], limit: int | None = None) -> list[str]:
    """Short ranked lines for a terminal (the play prints these)."""
    out = []
    if result["synthetic"]:
        out.append(f"*** {SYNTHETIC_LABEL} ***")
    out.append(
        "throughput: "
        + "; ".join(
            f"{m} {t['ns_per_day']:.3g} ns/day ({t['source']})" for m, t in result["throughput"].items()
        )
    )
    for r in result["options"][:limit]:
        c = r["cost_per_job"]
        flag = " SYNTHETIC" if r.get("synthetic") else ""
        out.append(
            f"#{r['rank'] or '-'} {r['instance_type']} {r['region']} "
            f"[{r['layout']}, {r['jobs_per_instance']}/inst]: "
            f"wall {r['wall_hours']['expected']:.1f} h, $/job expected {_usd(c['expected'])} "
            f"(spot {_usd(c['spot'])}, on-demand {_usd(c['on_demand'])}){flag}"
        )
    if result["inputs"].get("deadline_hours") is not None and not result.get("policy_comparison"):
        out.append(NO_COMPARISON)
    if result.get("policy_comparison"):
        c = result["policy_comparison"]
        out.append(_comparison_head(c))
        out += [
            f"  {r[0]}: {r[1]} USD/job mean, P(miss deadline) {r[2]}, finish {r[3]} h, moves {r[4]}"
            for r in _comparison_rows(c)
        ]
    for c in result["seed_vs_packed"]:
        key = "expected" if c["seed_cost_expected"] is not None else "on_demand"
        ratio = c[f"ratio_{key}"]
        out.append(
            f"seed vs packed {c['instance_type']} {c['region']}: {_usd(c[f'seed_cost_{key}'])} vs "
            f"{_usd(c[f'packed_cost_{key}'])} USD/job ({key}), x{'n/a' if ratio is None else f'{ratio:.1f}'}"
        )
    return out


# --------------------------------------------------------------------------- command line


def _model_rates(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        model, sep, value = item.partition("=")
        try:
            out[model] = float(value)
        except ValueError:
            sep = ""
        if not sep or not model:
            raise PlanError(f"--ns-per-day takes MODEL=NS_PER_DAY (e.g. A100=20), got {item!r}")
    return out


def add_arguments(p) -> None:
    """The ``lmpspot plan`` options (argparse)."""
    p.add_argument("--atoms", type=float, required=True, help="atoms in the system")
    p.add_argument("--ns", type=float, required=True, help="nanoseconds to simulate per job")
    p.add_argument("--jobs", type=int, default=1, help="jobs in the campaign (default %(default)s)")
    p.add_argument("--gpus-per-job", type=int, default=1, help="GPUs per job (default %(default)s)")
    p.add_argument("--ns-per-day", nargs="*", default=[], metavar="MODEL=NS", help="e.g. A100=20 L4=6")
    p.add_argument("--ns-per-day-atoms", type=float, help="system size of the --ns-per-day values")
    p.add_argument("--measured-status", help="a run's status.json or EMF log (ns/day)")
    p.add_argument("--measured-gpu", help="GPU model of the measured run (A100, H100, ...)")
    p.add_argument("--measured-atoms", type=float, help="atoms of the measured run")
    p.add_argument("--interruptions-per-hour", type=float, default=0.05)
    p.add_argument("--checkpoint-interval", type=float, default=600.0, help="seconds (default %(default)s)")
    p.add_argument("--restart", type=float, default=300.0, help="seconds to restart (default %(default)s)")
    p.add_argument("--on-demand-share", type=float, default=0.0)
    p.add_argument(
        "--types", nargs="+", default=["p4d.24xlarge", "p5.48xlarge", "g5.xlarge", "g6.xlarge", "g6e.xlarge"]
    )
    p.add_argument("--regions", nargs="+", default=["us-east-1", "us-west-2"])
    p.add_argument(
        "--prices", choices=["table", "aws"], default="table", help="price source (default %(default)s)"
    )
    p.add_argument(
        "--deadline-hours", type=float, help="compare spot only, on-demand only and the deadline policy"
    )
    p.add_argument("--band", choices=list(BANDS), help="Spot Instance Advisor interruption band (the rate)")
    p.add_argument("--band-exposure-h", type=float, default=MONTH_H, help="hours the band's share is over")
    p.add_argument("--outages-per-hour", type=float, default=0.0, help="Spot capacity outages per hour")
    p.add_argument(
        "--outage-mean-min", type=float, default=30.0, help="mean outage (default %(default)s min)"
    )
    p.add_argument("--traces", type=int, default=200, help="seeded traces to simulate (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the first trace's seed (default %(default)s)")
    p.add_argument("--json", dest="json_out", help="write the plan as JSON here")
    p.add_argument("--markdown", dest="md_out", help="write the plan as Markdown here")
    p.add_argument("--limit", type=int, default=12, help="options to print (default %(default)s)")


def run_cli(args) -> int:
    """``lmpspot plan``: print the ranking; 2 with the reason on bad input."""
    import sys  # noqa: PLC0415

    settings: dict[str, Any] = {
        "atoms": args.atoms,
        "ns": args.ns,
        "jobs": args.jobs,
        "gpus_per_job": args.gpus_per_job,
        "interruptions_per_hour": args.interruptions_per_hour,
        "checkpoint_interval_s": args.checkpoint_interval,
        "restart_s": args.restart,
        "on_demand_share": args.on_demand_share,
        "instance_types": args.types,
        "regions": args.regions,
        "price_mode": args.prices,
    }
    if args.deadline_hours is not None:
        settings.update(
            deadline_hours=args.deadline_hours,
            interruption_band=args.band,
            band_exposure_h=args.band_exposure_h,
            outages_per_hour=args.outages_per_hour,
            outage_mean_s=args.outage_mean_min * 60,
            traces=args.traces,
            seed=args.seed,
        )
    try:
        settings["ns_per_day"] = _model_rates(args.ns_per_day)
        if args.ns_per_day_atoms:
            settings["ns_per_day_atoms"] = args.ns_per_day_atoms
        if args.measured_status:
            settings["measured"] = {
                "gpu_model": args.measured_gpu,
                "atoms": args.measured_atoms,
                "status_file": args.measured_status,
            }
        result = plan(settings)
    except (PlanError, OSError) as e:
        print(f"lmpspot plan: {e}", file=sys.stderr)
        return 2
    for line in to_text(result, args.limit):
        print(line)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.md_out:
        Path(args.md_out).write_text(to_markdown(result), encoding="utf-8")
    return 0


def register(sub) -> None:
    """Add ``lmpspot plan`` to the lmpspot command line's subparsers."""
    p = sub.add_parser("plan", help="rank instance types and regions by cost per simulation job")
    add_arguments(p)
    p.set_defaults(func=run_cli)


def main(argv: list[str] | None = None) -> int:
    """``python -m lmpspot.planner ...``: the same as ``lmpspot plan ...``."""
    import argparse  # noqa: PLC0415

    p = argparse.ArgumentParser(
        prog="lmpspot plan", description="rank instance types and regions by cost per job"
    )
    add_arguments(p)
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
