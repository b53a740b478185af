"""The runner's CloudWatch EMF lines against the Embedded Metric Format specification,
and the monitoring role's dashboard and alarm against the metrics the runner emits.

CloudWatch turns a log line into metrics only when it follows the specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
a malformed line is kept as a plain log line, silently.  The local AWS extracts no EMF,
so the specification's schema and its member rules are checked here.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from lmpspot import progress
from lmpspot.progress import Progress

ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring"

UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
    "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
    "Count/Second", "None",
]  # fmt: skip

# The specification's structure (its "JSON Schema" section), written out.
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 255,
                                "pattern": r"^[^:].*$",
                            },
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                    "maxItems": 30,
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def emf_problems(record: dict) -> list[str]:
    """Schema errors plus the specification's member rules (target members of the root)."""
    problems = [e.message for e in jsonschema.Draft7Validator(EMF_SCHEMA).iter_errors(record)]
    if problems:
        return problems
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for dim in {d for dset in directive["Dimensions"] for d in dset}:
            if not isinstance(record.get(dim), str) or not 0 < len(record[dim]) <= 1024:
                problems.append(f"dimension {dim} needs a string member of 1-1024 characters")
        for metric in directive["Metrics"]:
            value = record.get(metric["Name"])
            values = value if isinstance(value, list) else [value]
            if (
                not values
                or len(values) > 100
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            ):
                problems.append(f"metric {metric['Name']} needs a number (or up to 100 numbers) member")
    return problems


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


def records(units: str | None, timestep: float | None, *, checkpoint: bool, gpu: float | None) -> list[dict]:
    out, clock = io.StringIO(), Clock()
    p = Progress(
        2_000_000, "sim-polymer-01", stream=None, emf=True, emf_stream=out, clock=clock,
        timestep=timestep, units=units, interval=60, gpu_sampler=lambda: gpu,
    )  # fmt: skip
    p.update(0, force=True)
    clock.t += 60
    if checkpoint:
        p.checkpoint_done(6000, 4.5)
        p.add_events(
            {"Interruptions": 1, "StepsLost": 300, "RecoverySeconds": 80.0, "CapacityWaitSeconds": 20.0}
        )
    clock.t += 60
    p.update(12_000)
    return [json.loads(line) for line in out.getvalue().splitlines()]


CASES = {
    "real units, GPU, checkpointed": ("real", 2.0, True, 93.0),
    "lj units, no GPU": ("lj", 0.005, True, None),
    "before the first checkpoint": ("metal", 0.001, False, 50.0),
    "unknown units": (None, None, False, None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_runner_emf_lines_follow_the_specification(case):
    recs = records(*CASES[case][:2], checkpoint=CASES[case][2], gpu=CASES[case][3])
    assert len(recs) == 2
    for rec in recs:
        assert emf_problems(rec) == []
        assert abs(rec["_aws"]["Timestamp"] - time.time() * 1000) < 60_000  # milliseconds, now
        directives = rec["_aws"]["CloudWatchMetrics"]
        assert {d["Namespace"] for d in directives} <= {progress.NAMESPACE}  # [] when nothing is measured
        for d in directives:  # per simulation: only CheckpointAge; everything else fleet-level
            per_sim = d["Dimensions"] == [["SimId"]]
            assert per_sim or d["Dimensions"] == [[]]
            assert per_sim == ({m["Name"] for m in d["Metrics"]} == {"CheckpointAge"})
        assert rec["SimId"] == "sim-polymer-01"


def metric_names(rec: dict) -> set[str]:
    return {m["Name"] for d in rec["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_emitted_metrics_per_case():
    names = {c: metric_names(records(*v[:2], checkpoint=v[2], gpu=v[3])[-1]) for c, v in CASES.items()}
    expected = {"NsPerDay", "StepsPerSecond", "CheckpointAge", "CheckpointSeconds", "GpuUtilization",
                "Interruptions", "StepsLost", "RecoverySeconds", "CapacityWaitSeconds"}  # fmt: skip
    assert expected <= names["real units, GPU, checkpointed"]
    assert "Progress" not in set().union(*names.values())  # a property, not a metric (docs/COSTS.md)
    assert "TauPerDay" in names["lj units, no GPU"] and "GpuUtilization" not in names["lj units, no GPU"]
    assert "CheckpointAge" not in names["before the first checkpoint"]


def directive(dims: list, metrics: list, **members) -> dict:
    aws = {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "x", "Dimensions": dims, "Metrics": metrics}]}
    return {"_aws": aws, **members}


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"_aws": {"CloudWatchMetrics": []}}, "Timestamp"),
        (directive([], [{"Name": "A", "Unit": "Percents"}], A=1), "Percents"),
        (directive([["JobId"]], [{"Name": "A"}], A=1), "dimension JobId"),
        (directive([], [{"Name": "A"}], A="fast"), "metric A"),
    ],
    ids=["no-timestamp", "bad-unit", "dimension-missing", "metric-not-a-number"],
)
def test_the_checker_rejects_malformed_records(record, why):
    problems = emf_problems(record)
    assert any(why in p for p in problems), problems


def test_role_uses_the_runner_namespace_dimension_and_metrics():
    """The dashboard's queries and the stale-checkpoint alarm name metrics the runner emits."""
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert role_vars["monitoring__emf_namespace"] == progress.NAMESPACE
    assert role_vars["monitoring__emf_dimension"] == progress.SIM_DIMENSION == "SimId"
    emitted = set()
    for v in CASES.values():
        for rec in records(*v[:2], checkpoint=v[2], gpu=v[3]):
            emitted |= metric_names(rec)
    dashboard = (ROLE / "templates" / "dashboard.json.j2").read_text()
    used = set(re.findall(r"'(?:MAX|AVG|SUM|MIN)\((\w+)\)'", dashboard))
    assert used == {"NsPerDay", "TauPerDay", "CheckpointAge", "CheckpointSeconds", "GpuUtilization",
                    "Interruptions", "StepsLost", "RecoverySeconds", "CapacityWaitSeconds"}  # fmt: skip
    assert used <= emitted
    assert re.findall(r"MAX\((\w+)\)", role_vars["monitoring__checkpoint_query"]) == ["CheckpointAge"]
    # the alarm's query selects the per-simulation series (the only metric with SimId)
    assert "{{ monitoring__emf_dimension }}" in role_vars["monitoring__checkpoint_query"]
    assert {"CheckpointAge"} == progress.PER_SIM_METRICS
