"""lmpspot.hostagent against real collaborators: the spot handler with the IMDSv2 stand-in
(lmpspot_local.imds_stub) and real signalled processes; the checkpoint sync pass and
`checkpoints sync` against the local AWS (moto server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lmpspot import host_spot, host_sync, running
from lmpspot.checkpoint import LocalStore
from lmpspot.s3store import S3Store
from lmpspot_local.imds_stub import ImdsStub

pytestmark = pytest.mark.integration

SIM = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from lmpspot.running import register
    job, wd, rd = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    wd.mkdir(parents=True, exist_ok=True)
    stop = []
    def on(sig, _f):
        with (wd / "signals").open("a") as fh:
            fh.write(signal.Signals(sig).name + "\\n")
        if sig == signal.SIGTERM:
            stop.append(1)
    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGTERM, on)
    with register(job, wd, wd / "ckpt", run_dir=rd):
        (wd / "ready").touch()
        while not stop:
            time.sleep(0.05)
    sys.exit(75)
    """
)


def start_sim(tmp_path: Path, run_dir: Path, job: str) -> tuple[subprocess.Popen, Path]:
    wd = tmp_path / job
    proc = subprocess.Popen([sys.executable, "-c", SIM, job, str(wd), str(run_dir)])
    deadline = time.monotonic() + 20
    while not (wd / "ready").exists():
        assert time.monotonic() < deadline, "simulation did not register"
        time.sleep(0.05)
    return proc, wd


def signals(wd: Path) -> list[str]:
    f = wd / "signals"
    return f.read_text().split() if f.exists() else []


def wait(pred, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def handler(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    logs: list[str] = []
    with ImdsStub() as stub:
        stop = threading.Event()
        box: dict = {}

        def run():
            box["h"] = host_spot.run_spot_handler(run_dir, stub.url, 0.1, log=logs.append, stop_event=stop)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        yield stub, run_dir, logs
        stop.set()
        t.join(5)
        assert not t.is_alive()


def test_rebalance_then_interruption(handler, tmp_path):
    stub, run_dir, logs = handler
    (a, wa), (b, wb) = start_sim(tmp_path, run_dir, "job-a"), start_sim(tmp_path, run_dir, "job-b")
    try:
        time.sleep(0.5)
        assert signals(wa) == signals(wb) == []  # no notice, no signal

        stub.recommend_rebalance()
        assert wait(lambda: signals(wa) == ["SIGUSR1"] and signals(wb) == ["SIGUSR1"])
        time.sleep(0.5)  # a rebalance is acted on once
        assert signals(wa) == ["SIGUSR1"] and a.poll() is None and b.poll() is None

        stub.schedule_interruption(120)
        assert a.wait(10) == 75 and b.wait(10) == 75
        assert signals(wa) == signals(wb) == ["SIGUSR1", "SIGTERM"]
        assert running.list_running(run_dir) == []  # they unregistered on exit

        # a simulation registering after the notice is stopped too (the instance is going)
        c, wc = start_sim(tmp_path, run_dir, "job-late")
        assert c.wait(10) == 75 and signals(wc) == ["SIGTERM"]
        assert any("sent SIGTERM to job job-late" in m for m in logs)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()


def test_imds_errors_are_soft(handler, tmp_path):
    stub, run_dir, logs = handler
    stub.fail_with(500)
    proc, wd = start_sim(tmp_path, run_dir, "job-x")
    try:
        assert wait(lambda: any("IMDS poll failed" in m for m in logs))
        stub.fail_with(0)
        stub.schedule_interruption(120)
        assert proc.wait(10) == 75
        assert any("IMDS reachable again" in m for m in logs)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_entries_naming_someone_elses_process_are_not_signalled(handler, tmp_path):
    stub, run_dir, logs = handler
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        entry = {
            "pid": victim.pid,
            "job_id": "forged",
            "workdir": "/",
            "checkpoint_dir": "/",
            "started_at": "x",
        }
        path = running.write_entry(run_dir, entry)
        os.chown(path, 12345, 12345)  # written by another user, names a process it does not own
        stub.schedule_interruption(120)
        assert wait(lambda: any("not signalling job forged" in m for m in logs))
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_the_daemon_runs_as_a_module_and_stops_on_sigterm(tmp_path):
    run_dir = tmp_path / "run"
    with ImdsStub() as stub:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        d = subprocess.Popen(
            [sys.executable, "-m", "lmpspot.hostagent", "spot-handler", "--run-dir", str(run_dir),
             "--imds-endpoint", stub.url, "--interval", "0.2"],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        proc, wd = start_sim(tmp_path, run_dir, "job-m")
        try:
            stub.schedule_interruption(120)
            assert proc.wait(15) == 75
        finally:
            d.send_signal(signal.SIGTERM)
            out, _ = d.communicate(timeout=10)
            if proc.poll() is None:
                proc.kill()
        assert d.returncode == 0
        assert "sent SIGTERM to job job-m" in out and "spot handler stopped" in out


# -- checkpoint sync -----------------------------------------------------------------------
BUCKET = "hostagent-sync"


def make_ckpts(root: Path, job: str, seqs) -> LocalStore:
    store = LocalStore(root)
    for seq in seqs:
        stage = store.staging(seq)
        (stage / "restart.bin").write_bytes(bytes([seq % 256]) * 2048)
        store.commit(stage, job_id=job, step=10 * seq, stage_name="run")
    return store


def cli(aws, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, **aws.env}
    return subprocess.run(
        [sys.executable, "-m", "lmpspot.checkpoint_cli", "checkpoints", "sync", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_checkpoints_sync_cli(aws, tmp_path):
    s3c = aws.client("s3")
    s3c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    local = tmp_path / "ckpt"
    make_ckpts(local, "job-s", range(4))
    args = ["--local", str(local), "--bucket", BUCKET, "--job", "job-s", "--retention", "2",
            "--endpoint-url", aws.endpoint_url, "--json"]  # fmt: skip

    first = cli(aws, *args)
    assert first.returncode == 0, first.stderr
    s3 = S3Store(s3c, BUCKET, "checkpoints/", "job-s")
    assert s3.list_seqs() == [3, 2] and s3.latest_seq() == 3
    assert all(s3.verify(q) for q in (2, 3))
    assert sorted(p.name for p, _m in LocalStore(local).list()) == ["ckpt-0000000002", "ckpt-0000000003"]

    second = cli(aws, *args)
    assert second.returncode == 0 and '"uploaded": []' in second.stdout, second.stdout

    # S3 unreachable: exit 1, and nothing newer than S3's newest verified one is pruned locally
    make_ckpts(local, "job-s", [4, 5, 6])
    down = cli(aws, *[a if a != aws.endpoint_url else "http://127.0.0.1:9" for a in args[:-1]],
               "--timeout", "3")  # fmt: skip
    assert down.returncode == 1
    assert [m.seq for _p, m in LocalStore(local).list()] == [6, 5, 4, 3, 2]
    assert s3.latest_seq() == 3

    bad = cli(aws, "--local", str(local), "--bucket", BUCKET, "--job", "job-s", "--retention", "0")
    assert bad.returncode != 0


def test_checkpoint_sync_pass_for_registered_and_rooted_jobs(aws, tmp_path):
    s3c = aws.client("s3")
    s3c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    run_dir = tmp_path / "run"
    make_ckpts(tmp_path / "reg" / "ckpt", "job-reg", range(2))
    make_ckpts(tmp_path / "root" / "job-root", "job-root", range(3))
    logs: list[str] = []
    with running.register("job-reg", tmp_path / "reg", tmp_path / "reg" / "ckpt", run_dir=run_dir):
        res = host_sync.run_checkpoint_sync(
            BUCKET, 1, run_dir=run_dir, root=tmp_path / "root", client=s3c, log=logs.append
        )
    assert set(res) == {"job-reg", "job-root"} and all(r["ok"] for r in res.values())
    assert S3Store(s3c, BUCKET, "checkpoints/", "job-reg").list_seqs() == [1]
    assert S3Store(s3c, BUCKET, "checkpoints/", "job-root").latest_seq() == 2
    assert [p.name for p in (tmp_path / "root" / "job-root").iterdir() if p.name.startswith("ckpt-")] == [
        "ckpt-0000000002"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("LMPSPOT_SYNC_BUCKET=ok-bucket\nLMPSPOT_SYNC_RETENTION=3\n", None),
        ("LMPSPOT_SYNC_BUCKET=Bad_Bucket\nLMPSPOT_SYNC_RETENTION=3\n", "LMPSPOT_SYNC_BUCKET"),
        ("LMPSPOT_SYNC_BUCKET=ok-bucket\nLMPSPOT_SYNC_RETENTION=0\n", "LMPSPOT_SYNC_RETENTION"),
        ("LMPSPOT_SYNC_BUCKET=ok-bucket\nLMPSPOT_SYNC_RETENTION=2\nLMPSPOT_SYNC_PREFIX=/abs/\n", "PREFIX"),
        ("LMPSPOT_SYNC_BUCKET=ok-bucket\nLMPSPOT_SYNC_RETENTION=2\nLMPSPOT_S3_ENDPOINT_URL=ftp://x\n", "URL"),
        ("LMPSPOT_SYNC_BUCKET=ok-bucket\nLMPSPOT_SYNC_RETENTION=2\nSURPRISE=1\n", "unknown"),
        ("not a line\n", "KEY=value"),
    ],
)
def test_check_sync_env(tmp_path, text, problem):
    f = tmp_path / "sync.env"
    f.write_text(text)
    res = subprocess.run(
        [sys.executable, "-m", "lmpspot.hostagent", "check-sync-env", str(f)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if problem is None:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == 1 and problem in res.stderr
