"""lmpspot.ledger (cost arithmetic) and lmpspot.status (Batch attempts, local job record, table)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lmpspot.ledger import attempt_ended, cost_ledger, is_interruption, parse_time
from lmpspot.status import JobStatus, batch_attempts, local_attempts, render_table, sim_id_of
from lmpspot.telemetry import sim_telemetry


@dataclass(frozen=True)
class StubPrice:
    """Shaped like lmpspot.prices.Price (the fields the ledger reads)."""

    usd_per_hour: float | None
    source: str = "stub table"
    as_of: str = "2026-01-01"
    synthetic: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.source} (as of {self.as_of})"


STUB = {("g5.xlarge", "spot"): 0.40, ("g5.xlarge", "on-demand"): 1.006, ("p4d.24xlarge", "spot"): 9.8}


def stub_prices(calls: list | None = None):
    def fn(itype: str, region: str, capacity: str) -> StubPrice:
        if calls is not None:
            calls.append((itype, region, capacity))
        return StubPrice(STUB.get((itype, capacity)))

    return fn


def att(n, start, stop, itype="g5.xlarge", cap="spot", **kw):
    return {
        "attempt": n,
        "started_at": start,
        "stopped_at": stop,
        "instance_type": itype,
        "capacity": cap,
        **kw,
    }


def test_cost_is_hours_times_price_summed_over_attempts():
    calls: list = []
    attempts = [
        att(
            1,
            "2026-01-01T00:00:00Z",
            "2026-01-01T02:30:00Z",
            status_reason="Host EC2 (instance i-1) terminated.",
        ),
        att(2, "2026-01-01T02:40:00Z", "2026-01-01T03:10:00Z", cap="on-demand", exit_code=0),
    ]
    led = cost_ledger(attempts, "us-east-2", price_fn=stub_prices(calls))
    a1, a2 = led["attempts"]
    assert a1["hours"] == pytest.approx(2.5) and a1["cost_usd"] == pytest.approx(2.5 * 0.40)
    assert a2["hours"] == pytest.approx(0.5) and a2["cost_usd"] == pytest.approx(0.5 * 1.006)
    assert led["total_usd"] == pytest.approx(1.0 + 0.503)
    assert led["total_label"] == "$1.50" and led["hours"] == pytest.approx(3.0)
    assert (a1["ended"], a2["ended"]) == ("spot reclaim", "finished (exit 0)")
    assert a1["price_source"] == "stub table (as of 2026-01-01)"
    assert calls == [("g5.xlarge", "us-east-2", "spot"), ("g5.xlarge", "us-east-2", "on-demand")]


def test_running_attempt_counts_until_now_and_prices_are_looked_up_once():
    calls: list = []
    now = parse_time("2026-01-01T01:00:00Z")
    attempts = [
        att(1, "2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z", exit_code=75),
        att(2, "2026-01-01T00:30:00Z", None),
    ]
    led = cost_ledger(attempts, "us-east-2", price_fn=stub_prices(calls), now=now)
    assert [a["hours"] for a in led["attempts"]] == pytest.approx([0.25, 0.5])
    assert led["total_usd"] == pytest.approx(0.75 * 0.40)
    assert led["attempts"][1]["stopped_at"] is None and led["attempts"][1]["ended"] == "running"
    assert len(calls) == 1


def test_unknown_type_or_missing_price_makes_the_total_partial():
    attempts = [
        att(1, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
        att(2, "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", itype=None),  # EC2 forgot it
        att(
            3, "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", itype="p4d.24xlarge", cap="on-demand"
        ),  # no price
    ]
    led = cost_ledger(attempts, "us-east-2", price_fn=stub_prices())
    assert led["total_usd"] == pytest.approx(0.40)
    assert led["unpriced"] == 2 and led["total_label"] == "$0.40 + 2 unpriced attempt(s)"
    assert led["attempts"][1]["price_source"] == "instance type or capacity unknown"
    assert led["attempts"][2]["price_source"].startswith("no price")


def test_synthetic_prices_are_labelled():
    def fn(itype, region, capacity):
        return StubPrice(0.00001, source="local AWS spot history", synthetic=True)

    led = cost_ledger([att(1, 0, 3_600_000)], "us-east-2", price_fn=fn)  # epoch ms
    assert led["synthetic"] and led["total_label"].endswith("SYNTHETIC") and "synthetic" in led["note"]


def test_local_mode_prices_nothing_and_says_why():
    doc = {
        "executor": "local",
        "attempts": [
            {
                "attempt": 1,
                "started_at": "2026-01-01T00:00:00Z",
                "stopped_at": "2026-01-01T00:01:00Z",
                "exit_code": 75,
                "status_reason": "Essential container in task exited",
                "instance": "local",
            },
        ],
    }
    attempts = local_attempts(doc)
    assert (attempts[0]["instance_type"], attempts[0]["capacity"]) == ("local", "local")

    def never(*_a):
        raise AssertionError("local attempts must not be priced")

    led = cost_ledger(attempts, "us-east-2", price_fn=never)
    assert led["total_usd"] is None and led["total_label"] == "n/a (local)"
    assert "no EC2 instance" in led["attempts"][0]["price_source"]


def test_real_price_table_prices_a_g5_attempt():
    """The default price function is lmpspot.prices' dated offline table."""
    from lmpspot.prices import price_per_hour

    p = price_per_hour("g5.xlarge", "us-east-1", "on-demand")
    led = cost_ledger([att(1, "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z", cap="on-demand")], "us-east-1")
    if p.usd_per_hour is None:
        assert led["total_label"] == "unknown"
    else:
        assert led["total_usd"] == pytest.approx(2 * p.usd_per_hour)
        assert led["attempts"][0]["price_source"] == p.label


@pytest.mark.parametrize(
    ("rec", "interrupted", "ended"),
    [
        (
            {"status_reason": "Host EC2 (instance i-0abc) terminated.", "exit_code": None},
            True,
            "spot reclaim",
        ),
        (
            {"status_reason": "Essential container in task exited", "exit_code": 75},
            True,
            "checkpointed on a notice/SIGTERM (exit 75)",
        ),
        ({"status_reason": "Essential container in task exited", "exit_code": 0}, False, "finished (exit 0)"),
        (
            {"status_reason": "Job attempt duration exceeded timeout", "exit_code": 1},
            False,
            "exit 1 (Job attempt duration exceeded timeout)",
        ),
        (
            {"status_reason": "OutOfMemoryError: Container killed", "exit_code": None},
            False,
            "OutOfMemoryError: Container killed",
        ),
    ],
)
def test_interruptions_and_how_attempts_ended(rec, interrupted, ended):
    rec = {**rec, "stopped_at": "2026-01-01T00:00:00Z"}
    assert is_interruption(rec) is interrupted
    assert attempt_ended(rec) == ended


def test_batch_attempts_include_the_running_one():
    job = {
        "status": "RUNNING",
        "startedAt": 1767229200000,
        "container": {"containerInstanceArn": "arn:ci/2", "logStreamName": "jd/default/2"},
        "attempts": [
            {
                "startedAt": 1767225600000,
                "stoppedAt": 1767227400000,
                "statusReason": "Host EC2 (instance i-1) terminated.",
                "container": {"containerInstanceArn": "arn:ci/1", "logStreamName": "jd/default/1"},
            },
        ],
    }
    a1, a2 = batch_attempts(job)
    assert (a1["attempt"], a1["started_at"], a1["stopped_at"]) == (
        1,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:30:00Z",
    )
    assert a1["container_instance_arn"] == "arn:ci/1" and is_interruption(a1)
    assert (a2["attempt"], a2["started_at"], a2["stopped_at"]) == (2, "2026-01-01T01:00:00Z", None)
    assert a2["container_instance_arn"] == "arn:ci/2"
    job["status"] = "SUCCEEDED"
    assert len(batch_attempts(job)) == 1


def test_sim_id_from_parameters_tag_or_name():
    assert sim_id_of({"parameters": {"sim_id": "a"}, "tags": {"SimId": "b"}, "jobName": "p-c"}) == "a"
    assert sim_id_of({"tags": {"SimId": "b"}, "jobName": "p-c"}) == "b"
    assert sim_id_of({"jobName": "p-c"}, project="p") == "c"


def test_table_has_one_aligned_row_per_job():
    jobs = [
        JobStatus(
            "melt-1",
            state="RUNNING",
            attempt=2,
            interruptions=1,
            step=5000,
            total_steps=10000,
            percent=50.0,
            rate=12.34,
            rate_unit="ns/day",
            eta_seconds=3700,
            checkpoint_age_seconds=65,
            capacity="spot",
            instance_type="g5.xlarge",
            cost_label="$1.50",
        ),
        JobStatus("melt-2", state="SUCCEEDED", attempt=1, cost_label="n/a (local)"),
    ]
    lines = render_table(jobs).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["SIM", "ID", "STATE"]
    assert lines[1].split() == [
        "melt-1",
        "RUNNING",
        "2",
        "1",
        "5000/10000",
        "50.0%",
        "12.3",
        "ns/day",
        "1h01m",
        "1m05s",
        "spot",
        "g5.xlarge",
        "$1.50",
        "-",
        "-",
        "-",
        "-",
    ]
    assert lines[1].index("RUNNING") == lines[2].index("SUCCEEDED")  # aligned
    assert render_table([]) == "no jobs"


def test_table_shows_telemetry_deadline_columns_and_the_fleet_line():
    tel = sim_telemetry(
        [
            att(1, "2026-12-03T10:00:00Z", "2026-12-03T10:30:00Z", exit_code=75, steps_lost=500,
                status_reason="Host EC2 (instance i-1) terminated.", notice_at="2026-12-03T10:28:00Z"),
            att(2, "2026-12-03T10:40:00Z", None, cap="on-demand", first_step_at="2026-12-03T10:41:00Z",
                deadline="2026-12-04T06:00:00Z",
                policy={"queue": "on-demand", "projected_finish": "2026-12-04T05:00:00Z"}),
        ],
        region="us-east-2", price_fn=stub_prices(), ns_per_step=1e-5, done_steps=10000,
        now=parse_time("2026-12-03T11:40:00Z"),
    )  # fmt: skip
    js = JobStatus(
        "melt-1", state="RUNNING", attempt=2, interruptions=1, telemetry=tel, policy_queue="on-demand"
    )
    js.deadline, js.projected_finish = tel["deadline"], tel["projected_finish"]
    header, row, _blank, fleet = render_table([js]).splitlines()
    assert header.split()[-9:] == [
        "COST",
        "LOST",
        "RECOV",
        "WAIT",
        "$/NS",
        "DEADLINE",
        "FINISH",
        "(PROJ)",
        "QUEUE",
    ]
    # lost 500 steps, recovered in 13 min, waited 10 min, $0.2 + $1.006 for 0.1 ns
    assert row.split()[-9:] == [
        "500",
        "13m00s",
        "10m00s",
        "$12.1",
        "12-04",
        "06:00",
        "12-04",
        "05:00",
        "on-demand",
    ]
    assert fleet.startswith("fleet: 1 sims | 1 interruptions | 500 steps lost | recovery mean 13m00s")
    assert "spot 0.50 h $0.20" in fleet and "on-demand 1.00 h $1.01" in fleet
    # without a deadline anywhere, no deadline columns
    js.deadline = None
    assert "DEADLINE" not in render_table([js])
