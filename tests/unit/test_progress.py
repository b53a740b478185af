"""Progress: human line, atomic status JSON, CloudWatch EMF records, rates and ETA."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from lmpspot.progress import Progress, format_duration, sample_gpu_utilization


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path, **kw) -> tuple[Progress, io.StringIO, io.StringIO, Clock]:
    human, emf, clock = io.StringIO(), io.StringIO(), Clock()
    kw.setdefault("gpu_sampler", lambda: 87.0)
    p = Progress(
        10000,
        "job-1",
        stream=human,
        emf=True,
        emf_stream=emf,
        clock=clock,
        status_path=tmp_path / "status" / "status.json",
        interval=30,
        **kw,
    )
    return p, human, emf, clock


def test_rates_eta_and_throttling(tmp_path: Path):
    p, human, emf, clock = make(tmp_path, timestep=2.0, units="real")
    assert p.update(0)  # first call always reports
    clock.t += 10
    assert not p.update(1000)  # within the interval: silent
    clock.t += 30
    p.checkpoint_done(step=4000, seconds=1.25)
    clock.t += 5  # 45 s after start, 4000 steps done
    assert p.update(4000, sim_time=8000.0)
    assert p.steps_per_s == pytest.approx(4000 / 45)
    # real units: fs timestep; ns/day = steps/s * 2 fs * 86400 / 1e6
    rate, unit = p.sim_rate_per_day()
    assert unit == "ns/day" and rate == pytest.approx(4000 / 45 * 2 * 86400 / 1e6)
    assert p.eta_seconds() == pytest.approx(6000 / (4000 / 45))
    line = human.getvalue().strip().splitlines()[-1]
    assert "step 4000/10000" in line and "40.0%" in line and "ns/day" in line
    assert "ETA 1m07s" in line and "ckpt 5s ago" in line and "GPU 87%" in line
    assert p.update(4100, force=True)  # force bypasses the interval


def test_status_file_and_emf(tmp_path: Path):
    p, _human, emf, clock = make(tmp_path, timestep=0.005, units="lj", interruptions=2)
    p.update(0)
    clock.t += 40
    p.checkpoint_done(step=2000, seconds=3.5)
    clock.t += 20
    p.update(5000)
    status = json.loads((tmp_path / "status" / "status.json").read_text())
    assert status["step"] == 5000 and status["progress_percent"] == 50.0
    assert status["sim_rate_unit"] == "tau/day"
    assert status["checkpoint_age_seconds"] == 20 and status["checkpoint_seconds"] == 3.5
    assert status["interruptions"] == 2 and status["job_id"] == "job-1"
    leftovers = [f for f in os.listdir(tmp_path / "status") if f != "status.json"]
    assert leftovers == []  # temp files of the atomic write are gone
    records = [json.loads(line) for line in emf.getvalue().splitlines()]
    assert len(records) == 2
    rec = records[-1]
    per_sim, fleet = rec["_aws"]["CloudWatchMetrics"]
    # Per simulation only what the stale-checkpoint alarm needs; the rest at fleet level.
    assert per_sim["Namespace"] == fleet["Namespace"] == "lmpspot"
    assert per_sim["Dimensions"] == [["SimId"]] and [m["Name"] for m in per_sim["Metrics"]] == [
        "CheckpointAge"
    ]
    assert fleet["Dimensions"] == [[]]
    names = {m["Name"] for m in fleet["Metrics"]}
    assert {"TauPerDay", "CheckpointSeconds", "GpuUtilization"} <= names
    assert not names & {"Progress", "Interruptions", "CheckpointAge"}  # no event pending: no event metric
    for n in names | {"CheckpointAge"}:  # every declared metric has a value in the record (EMF rule)
        assert isinstance(rec[n], (int, float))
    assert rec["SimId"] == rec["JobId"] == "job-1" and rec["Progress"] == 50.0  # properties
    assert isinstance(rec["_aws"]["Timestamp"], int)
    # first record: no checkpoint yet, no rate -> those metrics are simply absent
    (first,) = records[0]["_aws"]["CloudWatchMetrics"]
    assert first["Dimensions"] == [[]] and not {m["Name"] for m in first["Metrics"]} & {
        "CheckpointAge",
        "TauPerDay",
    }


def test_events_go_into_the_next_emf_record_once(tmp_path: Path):
    p, _human, emf, clock = make(tmp_path, timestep=0.005, units="lj")
    p.update(0)
    p.add_events({"Interruptions": 1, "StepsLost": 120, "RecoverySeconds": 95.5, "CapacityWaitSeconds": None})
    clock.t += 60
    p.update(100)
    clock.t += 60
    p.update(200)
    first, with_events, after = (json.loads(line) for line in emf.getvalue().splitlines())
    fleet = with_events["_aws"]["CloudWatchMetrics"][-1]
    assert fleet["Dimensions"] == [[]]
    units = {m["Name"]: m.get("Unit") for m in fleet["Metrics"]}
    assert (units["Interruptions"], units["StepsLost"], units["RecoverySeconds"]) == (
        "Count",
        "Count",
        "Seconds",
    )
    assert "CapacityWaitSeconds" not in units  # None: not measured, not sent
    assert (with_events["Interruptions"], with_events["StepsLost"], with_events["RecoverySeconds"]) == (
        1,
        120,
        95.5,
    )
    assert "Interruptions" not in after and "Interruptions" not in first
    with pytest.raises(ValueError, match="unknown event metric"):
        p.add_events({"Progress": 1})


def test_emf_can_be_disabled_and_units(tmp_path: Path):
    human = io.StringIO()
    p = Progress(
        100, "j", stream=human, emf=False, timestep=1.0, units="metal", gpu_sampler=None, clock=Clock()
    )
    p.update(0)
    assert not any(line.startswith("{") for line in human.getvalue().splitlines())
    p.steps_per_s = 10.0
    assert p.sim_rate_per_day() == (pytest.approx(10 * 86400 * 1e-3), "ns/day")
    p.units = None
    assert p.sim_rate_per_day()[0] is None


def test_format_duration():
    assert format_duration(None) == "?"
    assert format_duration(7) == "7s"
    assert format_duration(245) == "4m05s"
    assert format_duration(2 * 3600 + 180) == "2h03m"
    assert format_duration(86400 + 2 * 3600 + 180) == "1d02h03m"


def test_gpu_sampler_uses_nvidia_smi(tmp_path: Path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 40\necho 60\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sample_gpu_utilization() == 50.0
    fake.write_text("#!/bin/sh\nexit 9\n")
    assert sample_gpu_utilization() is None
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert sample_gpu_utilization() is None
