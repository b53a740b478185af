"""The runner under S3 outages and concurrent runners: real LAMMPS, real moto S3.

* S3 unreachable when an attempt starts on a fresh work directory: no MD step is run and
  the attempt exits 76; with S3 back the next attempt resumes at the last checkpoint and
  the log equals plain ``lmp -in``.
* Two runners for one simulation id (different Batch jobs) started at different moments
  of the first one's run: exactly one does the work (the other exits 3 without an MD
  step), the CPU of both stays within 1.3x of one run, the log equals plain ``lmp -in``.
* End to end under injected S3 faults (one seeded-random fault kind per operation point,
  through :mod:`s3faults` in a ``sitecustomize`` of the runner's process): the log
  equals plain ``lmp -in`` and every attempt record is written.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lmp_helpers import lammps_env, lj_fcc, thermo_rows

from lmpspot.attempts import PROGRESS_FIELDS, read_attempts, read_local_attempts

pytestmark = pytest.mark.integration
VENV_BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
# Long enough for several checkpoints at --interval 0.5 on a fast core (~4,000 steps/s here).
NSTEPS = 20000
SCRIPT = f"""\
units           lj
atom_style      atomic
{lj_fcc(5, "2.0", 4711)}\
neighbor        0.3 bin
atom_modify     sort 500 0.0
thermo          100
thermo_style    custom step temp pe ke etotal press
thermo_modify   format float %.17g
fix             1 all nve
run             {NSTEPS}
"""
BUCKET = "lmpspot-guard"


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("plain")
    (d / "in.lj").write_text(SCRIPT)
    t0 = time.process_time()
    p = subprocess.run(
        [str(VENV_BIN / "lmp"), "-in", "in.lj", "-log", "log.lammps", "-screen", "none"],
        cwd=d, env=lammps_env(), check=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0 and time.process_time() >= t0
    return thermo_rows(d / "log.lammps")


def same_as_plain(log: Path, plain: dict) -> None:
    got = thermo_rows(log)
    assert NSTEPS in got, sorted(got)[-3:]
    for step, rows in got.items():
        if step in plain:
            for row in rows:
                assert row in plain[step], f"step {step}: {row} not in {plain[step]}"
    assert set(plain) <= set(got)


class Run:
    """A ``lmpspot run`` subprocess (stderr to a file) with its CPU time at exit."""

    def __init__(self, src: Path, wd: Path, endpoint: str, env: dict, *extra: str) -> None:
        self.wd = wd
        self.err = wd.parent / f"{wd.name}.stderr"
        cmd = [
            sys.executable, "-m", "lmpspot.cli", "run", str(src), "--job-id", "sim-1", "--workdir", str(wd),
            "--bucket", BUCKET, "--endpoint-url", endpoint, "--allow-short-interval", "--interval", "0.5",
            "--imds", "off", "--emf", "off", "--progress-every", "1", *extra,
        ]  # fmt: skip
        self.fh = open(self.err, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self.fh)
        self.cpu = 0.0
        self.rc: int | None = None

    def wait_for(self, pattern: str, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.err.read_text()):
                return True
            if self.proc.poll() is not None:
                return bool(re.search(pattern, self.err.read_text()))
            time.sleep(0.05)
        return False

    def wait(self, timeout: float = 300) -> int:
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = self.rc = os.waitstatus_to_exitcode(status)
                self.cpu = usage.ru_utime + usage.ru_stime
                self.fh.close()
                return self.rc
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"timeout; stderr:\n{self.text[-3000:]}")
            time.sleep(0.05)

    @property
    def text(self) -> str:
        return self.err.read_text()


def env_for(aws, job: str, **extra: str) -> dict:
    return lammps_env({**aws.env, "AWS_BATCH_JOB_ID": job, "LMPSPOT_LEASE_TTL": "6", **extra})


@pytest.fixture
def setup(aws, tmp_path):
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    src = tmp_path / "in.lj"
    src.write_text(SCRIPT)
    return aws, src


def no_md(run: Run) -> None:
    log = run.wd / "log.lammps"
    assert not log.exists() or not thermo_rows(log), "an MD step was run"
    assert "starting" not in run.text and "resuming at step" not in run.text


def test_s3_down_at_start_exits_76_then_resumes(setup, tmp_path, plain):
    aws, src = setup
    a1 = Run(src, tmp_path / "a1", aws.endpoint_url, env_for(aws, "job-1"), "--stop-after-checkpoints", "3")
    assert a1.wait() == 75, a1.text
    dead = "https://127.0.0.1:9"  # nothing listens: connection refused
    a2 = Run(src, tmp_path / "a2", dead, env_for(aws, "job-1"), "--store-wait", "3")
    assert a2.wait() == 76, a2.text
    no_md(a2)
    assert "exit 76" in a2.text and "no MD step was run" in a2.text
    a3 = Run(src, tmp_path / "a3", aws.endpoint_url, env_for(aws, "job-1"))
    assert a3.wait() == 0, a3.text
    m = re.search(r"resuming at step (\d+)", a3.text)
    assert m and int(m.group(1)) > 0, a3.text
    same_as_plain(tmp_path / "a3" / "log.lammps", plain)
    recs = read_attempts(aws.client("s3"), BUCKET, "checkpoints/", "sim-1")
    assert [r["exit_code"] for r in recs] == [75, 0]  # S3 never heard of the attempt it could not reach
    assert [r["exit_code"] for r in read_local_attempts(tmp_path / "a2" / ".attempts")] == [76]
    assert recs[1]["resumed_from"]["step"] == int(m.group(1)) and recs[0]["steps_lost"] == 0
    # Each record keeps its runner's last progress report (what lmpspot status shows).
    st = json.loads((tmp_path / "a3" / "status.json").read_text())
    assert recs[1]["progress"] == {k: st.get(k) for k in PROGRESS_FIELDS}
    assert recs[1]["progress"]["step"] == st["total_steps"] and recs[0]["progress"] is not None
    # The last record carries the first (as listed) and latest.json as the runner left it:
    # a reader that lists them needs only the last record.
    s3 = aws.client("s3")
    raw = s3.get_object(Bucket=BUCKET, Key=f"checkpoints/sim-1/attempts/{recs[1]['_name']}")["Body"].read()
    last = json.loads(raw)
    assert [(e["name"], e["etag"]) for e in last["earlier"]] == [(recs[0]["_name"], recs[0]["_etag"])]
    ptr = s3.head_object(Bucket=BUCKET, Key="checkpoints/sim-1/latest.json")
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key="checkpoints/sim-1/latest.json")["Body"].read())
    assert last["pointer"]["etag"] == ptr["ETag"]
    assert (last["pointer"]["seq"], last["pointer"]["step"]) == (pointer["seq"], pointer["manifest"]["step"])
    asked: list[str] = []

    class Counting:
        def __getattr__(self, name):
            return getattr(s3, name)

        def get_object(self, **kw):
            asked.append(kw["Key"])
            return s3.get_object(**kw)

    assert read_attempts(Counting(), BUCKET, "checkpoints/", "sim-1") == recs
    assert asked == [f"checkpoints/sim-1/attempts/{recs[1]['_name']}"]


@pytest.mark.parametrize(
    "moment",
    [
        ("before the first checkpoint", r"lease taken"),
        ("mid-stage", r"checkpoint 1 at step"),
        ("during an upload", r"checkpoint 3 at step \d+"),
    ],
    ids=lambda m: m[0].replace(" ", "-"),
)
def test_two_runners_one_simulation(setup, tmp_path, plain, moment):
    aws, src = setup
    a = Run(src, tmp_path / "a", aws.endpoint_url, env_for(aws, "job-a"))
    assert a.wait_for(moment[1]), a.text
    b = Run(src, tmp_path / "b", aws.endpoint_url, env_for(aws, "job-b"))
    assert b.wait() == 3, b.text
    assert a.wait() == 0, a.text
    no_md(b)
    assert "exit 3" in b.text
    same_as_plain(tmp_path / "a" / "log.lammps", plain)
    assert a.cpu + b.cpu <= 1.3 * a.cpu, (a.cpu, b.cpu)
    recs = read_attempts(aws.client("s3"), BUCKET, "checkpoints/", "sim-1")
    assert sorted(r["exit_code"] for r in recs) == [0, 3]


POINT_KINDS = ["refused", "http500", "http503", "forbidden", "slowdown", "timeout", "truncated", "badsum"]


@pytest.mark.parametrize(
    "point",
    ["resume-listing", "pointer-read", "manifest-read", "download", "upload", "pointer-commit", "prune"],
)
def test_runner_under_faults(setup, tmp_path, plain, point):
    """Attempt 1 stops after checkpoints with faults injected; attempt 2 (fresh node, same
    faults) resumes from S3; the log equals plain ``lmp -in``."""
    aws, src = setup
    kind = random.Random(f"{point}-20261203").choice(POINT_KINDS)  # noqa: S311 - seeded
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import boto3, s3faults\n"
        "_orig = boto3.client\n"
        "def client(*a, **k):\n"
        "    c = _orig(*a, **k)\n"
        "    if (a[:1] or [k.get('service_name')])[0] == 's3':\n"
        "        s3faults.S3Faults(c, verify=os.environ['AWS_CA_BUNDLE']).arm(\n"
        "            os.environ['FAULT_POINT'], os.environ['FAULT_KIND'], int(os.environ['FAULT_TIMES']))\n"
        "    return c\n"
        "boto3.client = client\n"
    )
    pp = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])
    env = env_for(aws, "job-f", FAULT_POINT=point, FAULT_KIND=kind, FAULT_TIMES="3", PYTHONPATH=pp)
    a1 = Run(
        src, tmp_path / "a1", aws.endpoint_url, env, "--stop-after-checkpoints", "2", "--store-wait", "60"
    )
    assert a1.wait() == 75, a1.text
    a2 = Run(src, tmp_path / "a2", aws.endpoint_url, env, "--store-wait", "60")
    assert a2.wait() == 0, a2.text
    assert re.search(r"resuming at step [1-9]", a2.text), a2.text
    same_as_plain(tmp_path / "a2" / "log.lammps", plain)
