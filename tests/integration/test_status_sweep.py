"""``lmpspot status --json`` over a sweep of 50 simulations in S3, against the local AWS.

The bucket is seeded by the product's writers (tests/sweep_seed.py: attempt records,
checkpoints and their pointer, status.json); there is no Batch job, so every simulation
is listed from S3.  The parallel path (one listing of the checkpoint prefix, reads on
threads) must give every simulation with the same fields as ``--workers 1`` (one
simulation at a time, each listing its own attempt records).
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from sweep_seed import expected, seed

from lmpspot.cli import main

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-sweep"
COUNT = 50


def status_json(aws, monkeypatch, *extra: str) -> list[dict]:
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["status", "--bucket", BUCKET, "--json", *extra])
    assert rc == 0
    return json.loads(out.getvalue())


def test_status_lists_every_simulation_of_a_sweep(aws, monkeypatch, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    sims = seed(s3, BUCKET, COUNT, tmp_path)

    jobs = status_json(aws, monkeypatch)
    assert [j["sim_id"] for j in jobs] == sims
    for i, j in enumerate(jobs):
        exp = expected(i)
        assert j["source"] == "s3"
        assert j["state"] == "NO-JOB"
        for k in ("attempt", "interruptions", "step", "total_steps", "checkpoint_seq", "checkpoint_step"):
            assert j[k] == exp[k], (j["sim_id"], k)
        assert (j["capacity"], j["instance_type"]) == (exp["capacity"], exp["instance_type"])
        assert [a["capacity"] for a in j["attempts"]] == ["spot"] * (exp["attempt"] - 1) + ["on-demand"]
        assert [a["exit_code"] for a in j["attempts"][:-1]] == [75] * (exp["attempt"] - 1)
        assert (j["attempts"][-1]["stopped_at"] is None) == exp["running"]
        assert j["percent"] == pytest.approx(100.0 * exp["step"] / exp["total_steps"], abs=1e-3)
        assert j["rate_unit"] == "tau/day"
        assert j["checkpoint_age_seconds"] is not None
        assert len(j["ledger"]["attempts"]) == exp["attempt"]

    sequential = status_json(aws, monkeypatch, "--workers", "1")
    # what a running attempt accrues between the two reads (its hours, and so its cost)
    volatile = ("checkpoint_age_seconds", "cost_usd", "cost_label", "ledger", "telemetry")
    accruing = ("hours", "total_cost_usd", "usd_per_ns", "cost_usd")

    def steady(rows: list[dict]) -> list[dict]:
        return [
            {k: v for k, v in j.items() if k not in volatile}
            | {"telemetry": {k: v for k, v in (j.get("telemetry") or {}).items() if k not in accruing}}
            for j in rows
        ]

    assert steady(sequential) == steady(jobs)
    for s, p in zip(sequential, jobs, strict=True):
        assert set(s["telemetry"]) == set(p["telemetry"])
        assert set(s["telemetry"]["hours"]) == set(p["telemetry"]["hours"])
