"""lmpspot.report: the LAMMPS log parser (multi-attempt dedupe), rates, EMF records, plots."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from lmpspot.report import (
    ReportInputs,
    build_report,
    log_rates,
    parse_emf,
    parse_log,
    thermo_series,
)

HEAD = "   Step          Temp          PotEng         TotEng         Press         Density    "

# Attempt 1: minimize (steps 0..29), reset_timestep, NVT run in chunks (duplicated chunk
# boundary rows), checkpoint seq 1 at 200, then it runs on to 300 and is killed (no
# "Total wall time").  Attempt 2: the runner's read_restart of ckpt 1, resumes at 200 with
# different numbers (a statistically exact restart), finishes at 400.
LOG = f"""\
units           lj
read_data       data.polymer
thermo_style    custom step temp pe etotal press density
minimize        1.0e-6 1.0e-8 1000 10000
{HEAD}
         0   0              20.5           20.5           2.08           0.3246
        29   0              19.1           19.1           0.002          0.3246
Loop time of 0.003 on 1 procs for 29 steps with 1000 atoms
write_restart /w/checkpoints/.staging-0000000000-abc/restart.bin
reset_timestep  0
timestep        0.01
run 100 upto start 0 stop 300 pre yes post no
{HEAD}
         0   1              19.2           20.7           0.33           0.3246
       100   0.9            19.6           20.9           0.20           0.3246
Loop time of 0.05 on 1 procs for 100 steps with 1000 atoms

run 200 upto start 0 stop 300 pre no post no
{HEAD}
       100   0.9            19.6           20.9           0.20           0.3246
WARNING: a warning inside a thermo block
       200   1.0            19.7           21.0           0.10           0.3246
Loop time of 0.05 on 1 procs for 100 steps with 1000 atoms

write_restart /w/checkpoints/.staging-0000000001-xyz/restart.bin
run 300 upto start 0 stop 300 pre no post no
{HEAD}
       200   1.0            19.7           21.0           0.10           0.3246
       250   1.1            19.8           21.1           0.11           0.3246
       300   1.2            19.9           21.2           0.12           0.3246
units           lj
read_data       data.polymer
read_restart /w/checkpoints/ckpt-0000000001/restart.bin
Reading restart file ...
timestep        0.01
run 300 upto start 0 stop 300 pre yes post no
{HEAD}
       200   1.0            19.7           21.0           0.10           0.3246
       300   1.05           19.85          21.15          0.115          0.3246
Loop time of 0.05 on 1 procs for 100 steps with 1000 atoms
timestep        0.02
run 400 upto pre yes post yes
{HEAD}
       300   1.05           19.85          21.15          0.115          0.3246
       400   1.06           19.9           21.3           0.2            0.5
Loop time of 0.1 on 1 procs for 100 steps with 1000 atoms
write_restart /w/checkpoints/.staging-0000000003-q/restart.bin
Total wall time: 0:00:01
"""


def test_attempts_resumes_and_checkpoints():
    d = parse_log(LOG)
    assert d.units == "lj"
    assert d.attempts == 2
    assert [(b.attempt, b.kind) for b in d.blocks] == [
        (1, "minimize"),
        (1, "run"),
        (1, "run"),
        (1, "run"),
        (2, "run"),
        (2, "run"),
    ]
    assert [(r.attempt, r.seq, r.step) for r in d.resumes] == [(2, 1, 200)]
    assert [(c.attempt, c.seq, c.step) for c in d.checkpoints] == [(1, 0, 29), (1, 1, 200), (2, 3, 400)]
    assert len(d.blocks[2].rows) == 2  # the WARNING line did not end the block


def test_dedupe_keeps_the_later_attempt_and_drops_superseded_rows():
    s = thermo_series(parse_log(LOG))
    # Minimize rows are not MD time; 250 (attempt 1 ran past its checkpoint, attempt 2
    # re-ran that stretch without printing 250) is superseded; 300 is attempt 2's.
    assert s.steps == [0, 100, 200, 300, 400]
    assert s.attempt == [1, 1, 2, 2, 2]
    assert s.values["Temp"][3] == 1.05  # not attempt 1's 1.2
    assert s.values["Density"][-1] == 0.5
    # time accumulates step x timestep in force: 0.01 up to 300, 0.02 after
    assert s.time == pytest.approx([0.0, 1.0, 2.0, 3.0, 5.0])
    assert s.time_unit == "tau"


def test_new_attempt_after_total_wall_time_and_time_column():
    text = (
        "units real\ntimestep 2.0\nrun 10\n   Step   Time   Temp\n  0  0.0  300\n  10  20.0  301\n"
        "Loop time of 1.0 on 1 procs for 10 steps with 10 atoms\nTotal wall time: 0:00:01\n"
        "units real\nrun 20 upto\n   Step   Time   Temp\n  10  20.0  301\n  20  40.0  302\n"
        "Loop time of 2.0 on 1 procs for 10 steps with 10 atoms\n"
    )
    d = parse_log(text)
    assert d.attempts == 2 and d.resumes == []
    s = thermo_series(d)
    assert s.steps == [0, 10, 20] and s.attempt == [1, 2, 2]
    assert s.time_unit == "ns" and s.time == pytest.approx([0.0, 20e-6, 40e-6])  # fs -> ns
    rates = log_rates(d, s, min_fraction=0.0)
    # 10 steps x 2 fs / 1 s -> 10 * 2e-6 ns * 86400 per day; in attempt 2 `units real`
    # reset the timestep to real's default, 1 fs (as LAMMPS does), and no timestep followed.
    assert [r["per_day"] for r in rates] == pytest.approx([10 * 2e-6 * 86400, 10 * 1e-6 * 86400 / 2])


def test_rates_merge_short_chunks_within_an_attempt():
    d = parse_log(LOG)
    s = thermo_series(d)
    each = log_rates(d, s, min_fraction=0.0)
    assert [r["attempt"] for r in each] == [1, 1, 2, 2]
    merged = log_rates(d, s, min_fraction=0.5)  # 0.25 s total: merge until 0.125 s
    assert [(r["attempt"], r["step"]) for r in merged] == [(1, 200), (2, 400)]
    # attempt 1: 200 steps in 0.1 s at dt 0.01 -> 200/0.1*0.01*86400 tau/day
    assert merged[0]["per_day"] == pytest.approx(200 / 0.1 * 0.01 * 86400)


def test_parse_emf_takes_the_json_after_a_prefix():
    rec = {
        "_aws": {"Timestamp": 1700000000000, "CloudWatchMetrics": []},
        "JobId": "j",
        "step": 5,
        "NsPerDay": 3.0,
    }
    text = f"[abc a1] lmpspot: hello\n[abc a1] {json.dumps(rec)}\n{{not json\n"
    (r,) = parse_emf(text, attempt=2)
    assert r["timestamp"] == 1700000000.0 and r["NsPerDay"] == 3.0 and r["attempt"] == 2 and "_aws" not in r


def _png_size(p: Path) -> tuple[int, int]:
    head = p.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_build_report_without_density_says_how_to_add_it(tmp_path: Path):
    text = LOG.replace("Density", "Volume")
    inp = ReportInputs(
        "sim-x", text, attempts=[{"attempt": 1, "exit_code": 75}, {"attempt": 2, "exit_code": 0}]
    )
    s = build_report(inp, tmp_path)
    assert _png_size(tmp_path / "thermo.png") == (1100, 850)
    assert _png_size(tmp_path / "rate.png") == (1100, 600)  # no EMF records: one panel
    assert _png_size(tmp_path / "checkpoints.png") == (1100, 450)
    assert s["attempts_in_log"] == 2 and s["resumes"][0]["step"] == 200
    md = (tmp_path / "report.md").read_text()
    assert "](thermo.png)" in md and "attempt 1: spot notice / SIGTERM (checkpointed)" in md


@pytest.mark.parametrize("deadline", [None, "2026-12-03T12:00:00Z"])
def test_build_report_with_one_interruption_shows_the_telemetry(tmp_path: Path, deadline):
    """Attempt 1 is reclaimed (notice 10:20, 100 steps past checkpoint 1 lost); attempt 2
    resumes at 200 and runs its first new step at 10:26: recovery 6 min."""
    policy = {"queue": "spot", "projected_finish": "2026-12-03T11:00:00Z"} if deadline else None
    attempts = [
        {"attempt": 1, "started_at": "2026-12-03T10:00:00Z", "stopped_at": "2026-12-03T10:21:00Z",
         "exit_code": 75, "status_reason": "Host EC2 (instance i-1) terminated.", "capacity": "spot",
         "notice_at": "2026-12-03T10:20:00Z", "steps_lost": 100, "last_step": 300, "deadline": deadline,
         "resumed_from": None, "source": "runner"},
        {"attempt": 2, "started_at": "2026-12-03T10:25:00Z", "stopped_at": "2026-12-03T10:40:00Z",
         "exit_code": 0, "status_reason": "Essential container in task exited", "capacity": "spot",
         "first_step_at": "2026-12-03T10:26:00Z", "resumed_from": {"seq": 1, "stage": 0, "step": 200},
         "last_step": 400, "source": "runner", "deadline": deadline, "policy": policy},
    ]  # fmt: skip
    inp = ReportInputs("sim-i", LOG, attempts=attempts, status={"total_steps": 400, "step": 400})
    s = build_report(inp, tmp_path)
    assert _png_size(tmp_path / "progress.png") == (1100, 500)
    tel = s["telemetry"]
    assert tel["interruptions"] == 1 and tel["steps_lost"] == 100
    assert tel["interruption_list"][0]["recovery_s"] == 360 and tel["capacity_wait_s"] == 240
    assert tel["deadline"] == deadline
    md = (tmp_path / "report.md").read_text()
    assert "## Interruptions and cost" in md and "![progress](progress.png)" in md
    assert "| interruptions | 1 |" in md and "| steps lost | 100 (100 per interruption) |" in md
    assert "| recovery (notice -> first new MD step) | mean 6.0 min, max 6.0 min |" in md
    assert "| waiting for capacity | 4.0 min |" in md and "| spot hours | 0.600 h |" in md
    assert ("| projected finish | 2026-12-03T11:00:00Z (queue now: spot) |" in md) is bool(deadline)
    assert s["files"]["progress"] == "progress.png"


def test_progress_points_from_emf_or_from_the_attempt_records():
    from lmpspot.report import progress_points

    emf = [{"timestamp": 10.0, "Progress": 50.0, "attempt": 1}, {"timestamp": 5.0, "step": 10, "attempt": 1}]
    got = progress_points(emf, [], 100)
    assert got["unit"] == "percent" and got["points"] == [(5.0, 10.0, 1), (10.0, 50.0, 1)]
    atts = [{"attempt": 1, "started_at": "1970-01-01T00:00:00Z", "stopped_at": "1970-01-01T00:01:00Z",
             "last_step": 30, "resumed_from": None}]  # fmt: skip
    got = progress_points([], atts, None)
    assert got["unit"] == "steps" and got["points"] == [(0.0, 0.0, 1), (60.0, 30.0, 1)]


def test_build_report_refuses_a_log_without_runs(tmp_path: Path):
    with pytest.raises(ValueError, match="no thermo rows"):
        build_report(ReportInputs("s", "units lj\nminimize 1 1 1 1\n"), tmp_path)


@pytest.mark.parametrize("gpu", [None, 55.0])
def test_runner_emf_round_trip_gpu_utilization_only_when_sampled(gpu):
    """Progress' EMF lines, read back by the report: GpuUtilization is omitted (not 0)
    when nvidia-smi gave nothing."""
    import io

    from lmpspot.progress import Progress

    t = [0.0]
    emf = io.StringIO()
    p = Progress(
        1000,
        "sim",
        stream=None,
        emf=True,
        emf_stream=emf,
        timestep=0.01,
        units="lj",
        interval=1,
        gpu_sampler=lambda: gpu,
        clock=lambda: t[0],
    )
    p.update(0)
    t[0] = 10.0
    p.update(500)
    recs = parse_emf(emf.getvalue(), attempt=1)
    assert [r["step"] for r in recs] == [0, 500]
    assert recs[-1]["TauPerDay"] == pytest.approx(50 * 0.01 * 86400)
    names = {
        m["Name"]
        for m in json.loads(emf.getvalue().splitlines()[-1])["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    if gpu is None:
        assert "GpuUtilization" not in recs[-1] and "GpuUtilization" not in names
    else:
        assert recs[-1]["GpuUtilization"] == gpu and "GpuUtilization" in names
