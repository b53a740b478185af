"""playbooks/plan.yml end to end: offline (dated table) and online (against the local AWS).

The local inventory ships EXAMPLE throughput (labelled so); prices come from the shipped
table offline, and from the local AWS online -- where every spot price is moto's made-up
0.00001 USD and must come back flagged SYNTHETIC in the JSON and the Markdown.
"""

from __future__ import annotations

import json

import pytest

from lmpspot.prices import SYNTHETIC_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PLAY = "playbooks/plan.yml"


def test_offline_plan_idempotent_and_check_mode(playbook, tmp_path):
    out = tmp_path / "plans"
    ev = {"plan_output_dir": str(out), "plan_regions": ["us-east-1"]}
    first = playbook(PLAY, None, extra_vars=ev)
    assert first.rc == 0 and first.failed == 0, first
    assert first.changed == 3, first  # directory, JSON, Markdown
    plan = json.loads((out / "plan.json").read_text())
    assert plan["price_mode"] == "table" and plan["synthetic"] is False
    md = (out / "plan.md").read_text()
    assert SYNTHETIC_LABEL not in md and "EXAMPLE, not measured" in md
    # The seed design next to the packed layout: same type, 8x the on-demand cost per job.
    (cmp,) = plan["seed_vs_packed"]
    assert cmp["instance_type"] == "p4d.24xlarge" and cmp["seed_idle_gpus"] == 7
    assert cmp["ratio_on_demand"] == pytest.approx(8.0)
    ranked = [o for o in plan["options"] if o["rank"]]
    assert ranked and [o["rank"] for o in ranked] == list(range(1, len(ranked) + 1))
    for o in ranked:  # every number shown names its source and date
        for p in (o["spot_price"], o["on_demand_price"]):
            if p["usd_per_hour"] is not None:
                assert p["source"].startswith("https://") and p["as_of"], p
    assert "seed vs packed p4d.24xlarge us-east-1" in first.stdout

    again = playbook(PLAY, None, extra_vars=ev)
    assert again.rc == 0 and again.changed == 0, again

    # --check predicts the report changes for a new length and leaves the files alone.
    check = playbook(PLAY, None, "--check", extra_vars=dict(ev, plan_ns=250))
    assert check.rc == 0 and check.changed == 2, check
    assert json.loads((out / "plan.json").read_text())["inputs"]["ns"] == plan["inputs"]["ns"]


def test_online_plan_against_local_aws_is_flagged_synthetic(playbook, aws, tmp_path):
    out = tmp_path / "plans"
    ev = {
        "plan_output_dir": str(out),
        "plan_price_mode": "aws",
        "plan_regions": ["us-east-1"],
        "plan_instance_types": ["p4d.24xlarge", "g5.xlarge"],
    }
    res = playbook(PLAY, aws, extra_vars=ev)
    assert res.rc == 0 and res.failed == 0, res
    plan = json.loads((out / "plan.json").read_text())
    assert plan["price_mode"] == "aws" and plan["synthetic"] is True
    spots = [o["spot_price"] for o in plan["options"] + plan["unusable"] if "spot_price" in o]
    assert spots and all(p["synthetic"] and p["usd_per_hour"] == pytest.approx(0.00001) for p in spots)
    assert all(o["synthetic"] for o in plan["options"])
    md = (out / "plan.md").read_text()
    assert md.count(SYNTHETIC_LABEL) >= 2 and "SYNTHETIC |" in md
    assert f"*** {SYNTHETIC_LABEL} ***" in res.stdout


def test_bad_setting_fails_naming_it(playbook, tmp_path):
    res = playbook(
        PLAY,
        None,
        extra_vars={"plan_output_dir": str(tmp_path / "p"), "plan_ns_per_day": {}, "plan_measured": {}},
    )
    assert res.rc != 0 and "no throughput: set plan_ns_per_day" in res.stdout, res
    assert not (tmp_path / "p").exists()
