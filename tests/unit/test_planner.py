"""lmpspot.planner and the lmpspot.aws.cost_plan filters: the cost arithmetic.

Known answers, computed by hand on real instance shapes (from the shipped table, which
tests/unit/test_prices.py checks against DescribeInstanceTypes):

Case A -- p4d.24xlarge (8 x A100), 1 GPU per job, 8 jobs of 100 ns at 20 ns/day:
  compute = 100 / 20 * 24 = 120 h.
  overhead per interruption = 600 s / 2 + 300 s = 600 s = 1/6 h; rate 0.05/h
  -> rate * overhead = 1/120; spot wall = 120 / (1 - 1/120) = 14400/119 = 121.00840 h.
  Packed: 8 jobs per instance, 1 instance, 1/8 instance per job.
    spot (operator price 8.0 USD/h):       121.00840 / 8 * 8.0       = 121.00840 USD/job
    on-demand (table, 21.957642 USD/h):    120 / 8 * 21.957642       = 329.36463 USD/job
    expected with on-demand share 0.25:    0.75 * 121.00840 + 0.25 * 329.36463 = 173.0975 USD/job
    expected wall = 0.75 * 121.00840 + 0.25 * 120 = 120.75630 h
  Seed (one job alone, 8 instances for 8 jobs, 1 instance per job): every cost x 8:
    spot 968.0672, on-demand 2634.9170, expected 1384.7801 USD/job.

Case B -- g5.12xlarge (4 x A10G), 2 GPUs per job, 3 jobs of 10 ns at 8 ns/day, no
interruptions: compute = 10 / 8 * 24 = 30 h; 2 jobs per instance, ceil(3/2) = 2 instances,
2/3 instance per job; on-demand 5.0 USD/h (operator price) -> 30 * 2/3 * 5 = 100 USD/job.

Case C -- g6.12xlarge (4 x L4), 3 GPUs per job: 1 job per instance, 1 GPU idle.
"""

from __future__ import annotations

import json
import math

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.cost import cost_plan, cost_plan_lines, cost_plan_markdown

from lmpspot import planner
from lmpspot.prices import SYNTHETIC_LABEL, Price

CASE_A = {
    "atoms": 256000,
    "ns": 100,
    "jobs": 8,
    "gpus_per_job": 1,
    "ns_per_day": {"A100": 20},
    "interruptions_per_hour": 0.05,
    "checkpoint_interval_s": 600,
    "restart_s": 300,
    "on_demand_share": 0.25,
    "instance_types": ["p4d.24xlarge"],
    "regions": ["us-east-1"],
    "price_overrides": [
        {
            "instance_type": "p4d.24xlarge",
            "region": "us-east-1",
            "capacity": "spot",
            "usd_per_hour": 8.0,
            "source": "test",
        }
    ],
}


def test_case_a_packed_and_seed():
    result = planner.plan(CASE_A)
    packed, seed = result["options"]
    assert (packed["layout"], seed["layout"]) == ("packed", "seed: one job alone")
    assert (packed["rank"], seed["rank"]) == (1, 2)
    assert packed["jobs_per_instance"] == 8 and packed["idle_gpus"] == 0 and packed["instances"] == 1
    assert seed["jobs_per_instance"] == 1 and seed["idle_gpus"] == 7 and seed["instances"] == 8
    assert packed["wall_hours"]["compute"] == pytest.approx(120)
    assert packed["wall_hours"]["spot"] == pytest.approx(121.00840, rel=1e-6)
    assert packed["wall_hours"]["expected"] == pytest.approx(120.75630, rel=1e-6)
    assert packed["cost_per_job"]["spot"] == pytest.approx(121.00840, rel=1e-6)
    assert packed["cost_per_job"]["on_demand"] == pytest.approx(329.36463, rel=1e-6)
    assert packed["cost_per_job"]["expected"] == pytest.approx(173.0975, rel=1e-6)
    assert seed["cost_per_job"]["spot"] == pytest.approx(968.0672, rel=1e-6)
    assert seed["cost_per_job"]["on_demand"] == pytest.approx(2634.9170, rel=1e-6)
    assert seed["cost_per_job"]["expected"] == pytest.approx(1384.7801, rel=1e-6)
    assert packed["campaign_cost_expected"] == pytest.approx(8 * 173.0975, rel=1e-6)
    (cmp,) = result["seed_vs_packed"]
    assert cmp["ratio_expected"] == pytest.approx(8.0) and cmp["seed_idle_gpus"] == 7
    # Where each price came from is kept with the row.
    assert packed["spot_price"]["source"] == "operator-supplied: test"
    assert packed["on_demand_price"]["source"].startswith("https://") and result["synthetic"] is False


def test_case_b_multi_gpu_jobs_and_a_partly_filled_instance():
    settings = {
        "atoms": 1000,
        "ns": 10,
        "jobs": 3,
        "gpus_per_job": 2,
        "ns_per_day": {"A10G": 8},
        "instance_types": ["g5.12xlarge"],
        "regions": ["us-east-1"],
        "seed_instance_type": "none",
        "price_overrides": [
            {
                "instance_type": "g5.12xlarge",
                "region": "us-east-1",
                "capacity": "on-demand",
                "usd_per_hour": 5.0,
            }
        ],
    }
    (row,) = planner.plan(settings)["options"]
    assert row["jobs_per_instance"] == 2 and row["instances"] == 2
    assert row["wall_hours"]["spot"] == pytest.approx(30) and row["wall_hours"]["expected"] == pytest.approx(
        30
    )
    assert row["cost_per_job"]["on_demand"] == pytest.approx(100)
    # The table has no g5.12xlarge spot price: no spot or expected cost, ranked by on-demand.
    assert row["cost_per_job"]["spot"] is None and row["cost_per_job"]["expected"] is None
    assert row["rank"] == 1 and row["rank_basis"].startswith("on-demand")


def test_case_c_idle_gpus_and_types_too_small():
    settings = {
        "atoms": 1000,
        "ns": 1,
        "gpus_per_job": 3,
        "ns_per_day": {"L4": 1, "A10G": 1},
        "instance_types": ["g6.12xlarge", "g5.xlarge"],
        "regions": ["us-east-1"],
    }
    result = planner.plan(settings)
    g6 = next(r for r in result["options"] if r["instance_type"] == "g6.12xlarge")
    assert g6["jobs_per_instance"] == 1 and g6["idle_gpus"] == 1
    g5 = next(r for r in result["unusable"] if r["instance_type"] == "g5.xlarge")
    assert "1 GPU(s) < plan_gpus_per_job=3" in g5["notes"]
    # The seed runs one 3-GPU job alone on a p4d.24xlarge: 5 of its 8 GPUs idle.
    seed = next(r for r in result["options"] + result["unusable"] if r["seed"])
    assert seed["jobs_per_instance"] == 1 and seed["idle_gpus"] == 5


def test_cheaper_expected_cost_ranks_first_and_synthetic_is_carried():
    def price_fn(itype, region, capacity):
        usd = {"p4d.24xlarge": 10.0, "p5.48xlarge": 12.0}[itype]
        return Price(
            usd,
            source="local",
            as_of="2006-01-02",
            synthetic=capacity == "spot",
            instance_type=itype,
            region=region,
            capacity=capacity,
        )

    settings = dict(
        CASE_A, instance_types=["p5.48xlarge", "p4d.24xlarge"], ns_per_day={"A100": 20, "H100": 40}
    )
    settings.pop("price_overrides")
    result = planner.plan(settings, price_fn=price_fn)
    order = [(r["instance_type"], r["layout"]) for r in result["options"]]
    # p5 halves the hours at 1.2x the price: cheaper per job than p4d; the seed is last.
    assert order == [
        ("p5.48xlarge", "packed"),
        ("p4d.24xlarge", "packed"),
        ("p4d.24xlarge", "seed: one job alone"),
    ]
    assert result["synthetic"] is True and all(r["synthetic"] for r in result["options"])
    md = planner.to_markdown(result)
    assert SYNTHETIC_LABEL in md and "10 SYNTHETIC" in md
    assert planner.to_text(result)[0] == f"*** {SYNTHETIC_LABEL} ***"


def test_measured_throughput_from_status_json_and_emf(tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"sim_rate_per_day": 12.5, "sim_rate_unit": "ns/day", "step": 10}))
    emf = tmp_path / "emf.log"
    emf.write_text('noise\n{"NsPerDay": 3.0}\n{"NsPerDay": 4.0, "JobId": "j"}\n')
    assert planner.measured_ns_per_day(status) == 12.5
    assert planner.measured_ns_per_day(emf) == 4.0
    # measured at 128000 atoms, planned at 256000: half the ns/day
    tp = planner.throughput_table(
        {"atoms": 256000, "measured": {"gpu_model": "A100", "atoms": 128000, "status_file": str(status)}}
    )
    assert tp["A100"]["ns_per_day"] == pytest.approx(6.25) and "measured" in tp["A100"]["source"]
    lj = tmp_path / "lj.json"
    lj.write_text(json.dumps({"sim_rate_per_day": 5.0, "sim_rate_unit": "tau/day"}))
    with pytest.raises(planner.PlanError, match="no ns/day rate"):
        planner.measured_ns_per_day(lj)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interruptions_per_hour": 6.0}, "would never finish"),
        ({"on_demand_share": 1.5}, "plan_on_demand_share must be between 0 and 1"),
        ({"ns_per_day": {}}, "no throughput: set plan_ns_per_day"),
        ({"ns_per_day": {"A100": -1}}, r"plan_ns_per_day\['A100'\] must be a positive number"),
        ({"gpus_per_job": 0}, "plan_gpus_per_job must be a positive integer"),
        ({"ns": "long"}, "plan_ns must be a number"),
        ({"regions": []}, "plan_regions must be a non-empty list"),
        ({"instance_types": "p4d.24xlarge"}, "plan_instance_types must be a non-empty list"),
    ],
)
def test_bad_settings_name_the_setting(change, message):
    with pytest.raises(planner.PlanError, match=message):
        planner.plan(dict(CASE_A, **change))


def test_filters_use_the_price_module_output():
    prices = [
        {
            "instance_type": "p4d.24xlarge",
            "region": "us-east-1",
            "capacity": "spot",
            "usd_per_hour": 8.0,
            "source": "s",
            "as_of": "2026-11-29",
            "synthetic": False,
        },
        {
            "instance_type": "p4d.24xlarge",
            "region": "us-east-1",
            "capacity": "on-demand",
            "usd_per_hour": 21.957642,
            "source": "o",
            "as_of": "2026-11-09",
            "synthetic": False,
        },
    ]
    settings = {k: v for k, v in CASE_A.items() if k != "price_overrides"}
    result = cost_plan(settings, prices)
    assert result["options"][0]["cost_per_job"]["expected"] == pytest.approx(173.0975, rel=1e-6)
    assert "| 1 | p4d.24xlarge | us-east-1 | packed |" in cost_plan_markdown(result)
    lines = cost_plan_lines(result, 1)
    assert lines[1].startswith("#1 p4d.24xlarge us-east-1 [packed, 8/inst]") and "seed vs packed" in lines[-1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cost_plan("x", []), "must be a mapping of planner settings"),
        (lambda: cost_plan(CASE_A, "x"), "needs the prices list"),
        (lambda: cost_plan(CASE_A, [{"region": "us-east-1"}]), "each price needs instance_type"),
        (lambda: cost_plan(dict(CASE_A, on_demand_share=2), []), "plan_on_demand_share"),
        (lambda: cost_plan_markdown({}), "needs the result of lmpspot.aws.cost_plan"),
        (lambda: cost_plan_lines({"options": []}, 0), "limit must be a positive integer"),
    ],
)
def test_filter_bad_inputs(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def test_command_line(tmp_path, capsys):
    md = tmp_path / "plan.md"
    js = tmp_path / "plan.json"
    argv = [
        "--atoms",
        "256000",
        "--ns",
        "100",
        "--jobs",
        "8",
        "--ns-per-day",
        "A100=20",
        "--regions",
        "us-east-1",
    ]
    argv += ["--types", "p4d.24xlarge", "--markdown", str(md), "--json", str(js)]
    assert planner.main(argv) == 0
    out = capsys.readouterr().out
    # Case A without interruptions' price: on-demand 120 h / 8 x 21.957642 = 329.36 USD/job.
    assert "#1 p4d.24xlarge us-east-1 [packed, 8/inst]" in out and "on-demand 329.36" in out
    assert "seed vs packed p4d.24xlarge us-east-1: 2,634.92 vs 329.36 USD/job (on_demand), x8.0" in out
    assert json.loads(js.read_text())["options"][0]["cost_per_job"]["on_demand"] == pytest.approx(329.36463)
    assert md.read_text().startswith("# lmpspot cost plan")
    assert planner.main(["--atoms", "1", "--ns", "1", "--ns-per-day", "A100"]) == 2
    assert "MODEL=NS_PER_DAY" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spot_usd", "od_usd", "share", "want"),
    [
        # all on spot: the spot cost is the expected one, with or without an on-demand price
        (2.0, None, 0.0, {"spot": 20.0, "on_demand": None, "expected": 20.0}),
        # all on-demand: a missing spot price does not matter
        (None, 4.0, 1.0, {"spot": None, "on_demand": 36.0, "expected": 36.0}),
        # a mix needs both prices: 7.5 expected spot hours * 2 + 2.25 on-demand hours * 4
        (2.0, 4.0, 0.25, {"spot": 20.0, "on_demand": 36.0, "expected": 15.0 + 9.0}),
        (2.0, None, 0.25, {"spot": 20.0, "on_demand": None, "expected": None}),
    ],
)
def test_cost_per_job_expected_needs_the_prices_the_share_uses(spot_usd, od_usd, share, want):
    ih = {"spot": 10.0, "on_demand": 9.0, "expected_spot": 7.5, "expected_on_demand": 9.0 * share}
    spot = Price(spot_usd, source="t", as_of="2026-01-01")
    on_demand = Price(od_usd, source="t", as_of="2026-01-01")
    got = planner._cost_per_job(ih, spot, on_demand, share)
    assert got == pytest.approx(want)


# --------------------------------------------------------------------------- deadline policy

DEADLINE_A = {
    **CASE_A,
    "on_demand_share": 0.0,
    "deadline_hours": 160,
    "interruption_band": ">20%",
    "band_exposure_h": 24,
    "outages_per_hour": 0.05,
    "traces": 40,
}


def test_policy_comparison_side_by_side():
    result = planner.plan(DEADLINE_A)
    c = result["policy_comparison"]
    assert (c["instance_type"], c["layout"], c["compute_h"]) == ("p4d.24xlarge", "packed", 120.0)
    assert c["interruptions_per_hour"] == pytest.approx(-math.log(0.7) / 24)
    od, spot, dl = (c["policies"][p] for p in ("on-demand-only", "spot-only", "deadline"))
    # On-Demand only: 120 h + one 300 s restart, 1/8 of 21.957642 USD/h per job.
    assert od["mean_cost"] == pytest.approx((120 + 300 / 3600) * 21.957642 / 8)
    assert od["p_miss"] == 0 and dl["p_miss"] == 0
    assert spot["mean_cost"] < dl["mean_cost"] < od["mean_cost"]
    text = "\n".join(planner.to_text(result))
    assert (
        "deadline 160 h for 120.0 h of compute on p4d.24xlarge us-east-1 (packed), 40 seeded traces" in text
    )
    assert "  on-demand only: 329.59 USD/job mean, P(miss deadline) 0.0%, finish 120.1 h" in text
    md = planner.to_markdown(result)
    assert "| policy | mean $/job | P(miss deadline) | mean finish h | mean moves |" in md
    assert "| on-demand only | 329.59 | 0.0% | 120.1 | 0.0 |" in md
    assert planner.plan(DEADLINE_A)["policy_comparison"] == c  # seeded: the same numbers
    assert planner.plan(CASE_A)["policy_comparison"] is None  # no deadline: no comparison


def test_policy_comparison_needs_both_prices():
    settings = {**DEADLINE_A, "price_overrides": []}  # the table has no Spot price
    result = planner.plan(settings)
    assert result["policy_comparison"] is None
    assert planner.NO_COMPARISON in planner.to_text(result)
    assert planner.NO_COMPARISON in planner.to_markdown(result)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deadline_hours": -1}, "plan_deadline_hours"),
        ({"interruption_band": "25%"}, "plan_interruption_band"),
        ({"traces": 0}, "plan_traces"),
        ({"outages_per_hour": -0.1}, "plan_outages_per_hour"),
    ],
)
def test_policy_comparison_bad_settings(change, message):
    with pytest.raises(planner.PlanError, match=message):
        planner.plan({**DEADLINE_A, **change})


def test_command_line_deadline(tmp_path, capsys):
    md = tmp_path / "plan.md"
    argv = ["--atoms", "256000", "--ns", "100", "--jobs", "8", "--ns-per-day", "A100=20"]
    argv += ["--regions", "us-east-1", "--types", "p4d.24xlarge", "--markdown", str(md)]
    argv += ["--deadline-hours", "160", "--band", "10-15%", "--outages-per-hour", "0.02", "--traces", "5"]
    assert planner.main(argv) == 0
    # The shipped table has no Spot price for p4d.24xlarge: the comparison says why it is absent.
    assert planner.NO_COMPARISON in capsys.readouterr().out
    assert planner.NO_COMPARISON in md.read_text()
    assert planner.main([*argv[:-2], "--traces", "0"]) == 2
    assert "plan_traces" in capsys.readouterr().err
