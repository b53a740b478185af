"""lmpspot.spotsim and lmpspot.spottrace: hand-computed lives, the trace format, and the
policy's properties over many seeded traces (the numbers in docs/DEADLINE.md come from
``test_property_over_advisor_bands``; ``pytest -s`` prints its table)."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from lmpspot import spottrace
from lmpspot.spotsim import POLICIES, Config, compare, simulate
from lmpspot.spottrace import Trace, TraceError

H = 3600.0
# One hour of work, checkpoints every 10 min, 5 min restarts, Spot at 0.35.
CFG = Config(work_s=3600, deadline_s=4 * H)


def test_no_events_spot_and_on_demand():
    for policy, price in (("spot-only", 0.35), ("on-demand-only", 1.0), ("deadline", 0.35)):
        r = simulate(CFG, Trace(), policy)
        assert r.finish_s == 3900 and r.met and r.attempts == 1 and r.moves == 0
        assert r.cost == pytest.approx(3900 / H * price)


@pytest.mark.parametrize(("notice", "finish", "lost"), [(True, 4200, 0), (False, 4300, 100)])
def test_interruption_with_and_without_the_notice_checkpoint(notice, finish, lost):
    # Running from 300 s; checkpoint at 900 s; notice at 1000 s; restart until 1300 s.
    cfg = Config(work_s=3600, deadline_s=4 * H, notice_checkpoint=notice)
    r = simulate(cfg, Trace((1000.0,)), "spot-only")
    assert (r.finish_s, r.lost_s, r.interruptions, r.attempts) == (finish, lost, 1, 2)
    assert r.spot_h == pytest.approx(finish / H) and r.on_demand_h == 0


def test_on_demand_only_ignores_the_trace():
    r = simulate(CFG, Trace((1000.0, 2000.0), ((0.0, 9000.0),)), "on-demand-only")
    assert r.finish_s == 3900 and r.interruptions == 0 and r.capacity_wait_s == 0


def test_outage_wait_and_the_deadline_policy_staying_on_spot():
    # Notice at 1000 s (700 s saved), no capacity until 2000 s, restart, 2900 s to go.
    trace = Trace((1000.0,), ((1000.0, 2000.0),))
    for policy in ("spot-only", "deadline"):
        r = simulate(CFG, trace, policy)
        assert r.finish_s == 5200 and r.capacity_wait_s == 1000 and r.fallbacks == 0
        assert r.spot_h == pytest.approx(4200 / H) and r.moves == 0


def test_capacity_fallback_moves_a_long_wait_on_demand():
    trace = Trace((1000.0,), ((1000.0, 13000.0),))
    spot = simulate(CFG, trace, "spot-only")
    assert spot.finish_s == 13000 + 300 + 2900 and spot.fallbacks == 0 and not spot.met
    r = simulate(CFG, trace, "deadline")
    # Waits 1800 s, then the On-Demand queue: restart 2800-3100 s; measured changeover
    # 2100 s.  At the 4900 s checkpoint (2500 s done) it is 5100 s ahead of the line
    # (>= 2 x 2100) with 8400 s of slack: back to Spot -- into the same outage, so another
    # 1800 s wait and fallback; restart 6700-7000 s, the last 1100 s On-Demand.
    assert (r.fallbacks, r.moves, r.capacity_wait_s, r.finish_s) == (2, 1, 3600, 8100) and r.met
    assert r.spot_h == pytest.approx(1000 / H) and r.on_demand_h == pytest.approx(3500 / H)


def test_tight_deadline_goes_on_demand_from_the_start():
    cfg = Config(work_s=3600, deadline_s=2 * H)  # slack 1 h = 2 x 15 min + 30 min: pinned
    r = simulate(cfg, Trace((1000.0,)), "deadline")
    assert r.finish_s == 3900 and r.spot_h == 0 and r.moves == 0 and r.met


def test_spot_lost_behind_the_line_catches_up_on_demand():
    # 10 h of work by 12 h: two early interruptions with waits put the run behind the line.
    cfg = Config(work_s=10 * H, deadline_s=12 * H)
    trace = Trace((1000.0, 4000.0), ((1000.0, 2500.0), (4000.0, 5500.0)))
    r = simulate(cfg, trace, "deadline")
    assert r.moves >= 1 and r.on_demand_h > 0 and r.met
    assert not simulate(cfg, trace, "spot-only").met or r.cost >= simulate(cfg, trace, "spot-only").cost


def test_deterministic():
    trace = spottrace.poisson_trace(3, 40 * H, 0.3, outages_per_hour=0.05)
    cfg = Config(work_s=12 * H, deadline_s=18 * H)
    assert simulate(cfg, trace, "deadline") == simulate(cfg, trace, "deadline")
    assert trace == spottrace.poisson_trace(3, 40 * H, 0.3, outages_per_hour=0.05)


def test_bad_inputs():
    with pytest.raises(ValueError, match="policy"):
        simulate(CFG, Trace(), "cheapest")
    with pytest.raises(ValueError, match="work_s"):
        Config(work_s=0, deadline_s=1)


# --------------------------------------------------------------------------- traces


def test_trace_json_round_trip(tmp_path):
    t = spottrace.band_trace(11, 48 * H, "15-20%", exposure_h=24, outages_per_hour=0.05)
    path = tmp_path / "trace.json"
    spottrace.dump(t, path)
    data = json.loads(path.read_text())
    assert sorted(data) == ["seed", "spot_interruptions_s", "spot_outages_s"] and data["seed"] == 11
    assert spottrace.load(path).as_json() == t.as_json()
    # Every generated outage starts with an interruption.
    assert all(a in t.spot_interruptions_s for a, _ in t.spot_outages_s)


def test_trace_lookups_and_merged_outages():
    t = Trace((50.0, 10.0), ((100.0, 200.0), (150.0, 300.0), (400.0, 500.0)))
    assert t.spot_interruptions_s == (10.0, 50.0)
    assert t.spot_outages_s == ((100.0, 300.0), (400.0, 500.0))
    assert [t.spot_available_at(x) for x in (99.0, 100.0, 299.0, 300.0, 450.0)] == [99, 300, 300, 300, 500]
    assert t.next_interruption(10.0, 50.0) == 50.0 and t.next_interruption(0.0, 9.0) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seed": 1, "spot_interruptions_s": []}, "exactly the keys"),
        ({"seed": 1, "spot_interruptions_s": [], "spot_outages_s": [], "x": 1}, "exactly the keys"),
        ({"seed": "a", "spot_interruptions_s": [], "spot_outages_s": []}, "seed"),
        ({"seed": None, "spot_interruptions_s": [-1], "spot_outages_s": []}, "spot_interruptions_s"),
        ({"seed": None, "spot_interruptions_s": [], "spot_outages_s": [[1]]}, "spot_outages_s"),
        ({"seed": None, "spot_interruptions_s": [], "spot_outages_s": [[5, 5]]}, "does not end"),
        ([], "exactly the keys"),
    ],
)
def test_bad_traces(data, message):
    with pytest.raises(TraceError, match=message):
        spottrace.from_json(data)


def test_band_hazards_and_poisson_rate():
    assert spottrace.band_hazard_per_hour("<5%") == pytest.approx(-math.log(0.95) / 730)
    assert spottrace.band_hazard_per_hour(">20%", exposure_h=24) == pytest.approx(-math.log(0.7) / 24)
    with pytest.raises(TraceError, match="band"):
        spottrace.band_hazard_per_hour("25%")
    n = len(spottrace.poisson_trace(5, 10000 * H, 0.2).spot_interruptions_s)
    assert 1900 < n < 2100


# --------------------------------------------------------------------------- properties

EXPOSURES = (730.0, 24.0, 4.0)  # the Advisor read literally (a month), a day, 4 hours
OUTAGES = ((0.0, 1800.0), (0.02, 1800.0), (0.1, 3600.0))  # per hour, mean duration (s)


def _cases(n: int, seed: int):
    """``n`` (band, outages per hour, Config, Trace): 4-48 h of work, deadlines 1.2x-3x of it."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible cases
    bands = list(spottrace.BANDS)
    for i in range(n):
        band, (rate, mean) = bands[i % 5], OUTAGES[(i // 5) % 3]
        exposure = EXPOSURES[(i // 15) % 3]
        work = rng.uniform(4, 48) * H
        cfg = Config(work_s=work, deadline_s=work * rng.uniform(1.2, 3.0))
        trace = spottrace.band_trace(
            seed * 1000 + i,
            2 * cfg.deadline_s,
            band,
            exposure_h=exposure,
            outages_per_hour=rate,
            outage_mean_s=mean,
        )
        yield band, rate, cfg, trace


def _check_run(cfg: Config, results: dict) -> None:
    od, dl = results["on-demand-only"], results["deadline"]
    # On-Demand only makes it when the deadline leaves the work and one changeover.
    if cfg.deadline_s > cfg.work_s + cfg.default_changeover_s:
        assert od.met and dl.met, (cfg, dl)
    # Never dearer than On-Demand only by more than the restarts the moves and
    # interruptions cost (each at most one restart On-Demand).
    overhead = (dl.moves + dl.interruptions) * cfg.restart_s / H * cfg.on_demand_price
    assert dl.cost <= od.cost + overhead + 1e-9, (cfg, dl, od)


def test_property_over_advisor_bands():
    rows: dict[tuple[str, float], list[dict]] = {}
    for band, outages, cfg, trace in _cases(300, seed=17):
        results = {p: simulate(cfg, trace, p) for p in POLICIES}
        _check_run(cfg, results)
        rows.setdefault((band, outages), []).append(results)
    all_runs = [r for runs in rows.values() for r in runs]
    ratio = statistics.fmean(r["deadline"].cost / r["on-demand-only"].cost for r in all_runs)
    assert ratio < 0.6  # well below On-Demand only on average
    print("\n| band | outages/h | runs | deadline/OD cost | spot-only/OD cost | spot-only misses | moves |")
    for (band, outages), runs in sorted(rows.items()):

        def mean(f, runs=runs):
            return statistics.fmean(f(r) for r in runs)

        print(
            f"| {band} | {outages:g} | {len(runs)} "
            f"| {mean(lambda r: r['deadline'].cost / r['on-demand-only'].cost):.3f} "
            f"| {mean(lambda r: r['spot-only'].cost / r['on-demand-only'].cost):.3f} "
            f"| {mean(lambda r: not r['spot-only'].met):.1%} | {mean(lambda r: r['deadline'].moves):.2f} |"
        )
    spot_misses = statistics.fmean(not r["spot-only"].met for r in all_runs)
    print(f"all: deadline/OD {ratio:.3f}, spot-only misses {spot_misses:.1%}")


@pytest.mark.parametrize("notice", [True, False])
def test_property_tight_deadlines_and_high_rates(notice):
    """The stress that found the capacity-wait hole: up to 1 interruption per hour, long
    outages, deadlines from the work + one changeover to 1.3x the work."""
    rng = random.Random(29)  # noqa: S311 -- reproducible cases
    misses, ratios = [], []
    for i in range(300):
        work = rng.uniform(2, 24) * H
        dl_s = rng.uniform(work + 900, 1.3 * work)
        cfg = Config(work_s=work, deadline_s=dl_s, notice_checkpoint=notice)
        trace = spottrace.poisson_trace(
            i,
            3 * dl_s,
            rng.uniform(0, 1),
            outages_per_hour=rng.choice([0, 0.05, 0.2]),
            outage_mean_s=rng.choice([900, 1800, 3600, 7200]),
        )
        results = {p: simulate(cfg, trace, p) for p in POLICIES}
        _check_run(cfg, results)
        misses.append(not results["spot-only"].met)
        ratios.append(results["deadline"].cost / results["on-demand-only"].cost)
    print(
        f"\ntight deadlines (notice checkpoint {notice}): deadline/OD cost {statistics.fmean(ratios):.3f}, "
        f"spot-only misses {statistics.fmean(misses):.1%}"
    )


def test_compare_summaries():
    traces = [spottrace.poisson_trace(s, 60 * H, 0.2, outages_per_hour=0.05) for s in range(20)]
    out = compare(Config(work_s=10 * H, deadline_s=15 * H), traces)
    assert set(out) == set(POLICIES)
    assert out["on-demand-only"]["p_miss"] == 0 and out["deadline"]["p_miss"] == 0
    assert out["on-demand-only"]["mean_finish_h"] == pytest.approx(10 + 300 / H)
    assert out["deadline"]["mean_cost"] < out["on-demand-only"]["mean_cost"]
