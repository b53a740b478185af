"""CheckpointSyncer against a real moto S3: background upload, outage + backoff, retention."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from lmpspot.checkpoint import LocalStore, ckpt_dir_name
from lmpspot.s3store import S3Store
from lmpspot.sync import CheckpointSyncer, results_prefix_for

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-sync"


class FlakyProxy:
    """A TCP forwarder in front of the moto server that can be switched off (refused).

    ``down()`` closes the listener and every open connection, so S3 is unreachable
    exactly as when a network path or endpoint disappears; ``up()`` listens again on
    the same port.  moto keeps its state throughout.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def down(self) -> None:
        with self._lock:  # _accept checks and registers under the lock: nothing slips past
            ls, self._listener = self._listener, None
        if ls is not None:
            with contextlib.suppress(OSError):
                ls.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            ls.close()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not ls:  # accepted as down() closed it: refuse, like a closed port
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def fast_client(endpoint: str):
    """A client that fails fast (no long botocore retry loops) so the syncer's own
    backoff is what the test observes."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=10),
    )


def make_ckpt(local: LocalStore, seq: int, size: int = 2048):
    d = local.staging(seq)
    (d / "restart.bin").write_bytes(os.urandom(size))
    man = local.commit(d, job_id="job-1", step=seq * 100, input_hash="ih", build_hash="bh")
    return local.path_for(seq), man


def local_seqs(local: LocalStore) -> list[int]:
    return sorted(m.seq for _p, m in local.list() if m is not None)


def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_background_sync_and_retention(aws, tmp_path: Path):
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    local = LocalStore(tmp_path / "ckpt")
    s3 = S3Store(fast_client(aws.endpoint_url), BUCKET, "checkpoints/", "job-1")
    logs: list[str] = []
    with CheckpointSyncer(local, s3, retention=2, log=logs.append, coalesce=False) as syncer:
        for seq in range(1, 6):
            syncer.submit(*make_ckpt(local, seq))
            assert syncer.flush(30)
            assert s3.latest_seq() == seq
        # keep-last-N in S3 and locally
        assert s3.list_seqs() == [5, 4]
        assert all(s3.verify(s) for s in (5, 4))
        assert local_seqs(local) == [4, 5]
        stats = syncer.stats.as_dict()
        assert stats["checkpoint_uploads"] == 5 and stats["checkpoint_bytes"] > 5 * 2048
        assert stats["failures"] == 0
        # outputs go to results/<job>/, unchanged files are not re-sent
        out = tmp_path / "run"
        (out / "dumps").mkdir(parents=True)
        (out / "log.lammps").write_text("Step Temp\n0 1.0\n")
        (out / "dumps" / "d.0").write_bytes(b"x" * 100)
        prefix = results_prefix_for("job-1")
        syncer.sync_outputs([out / "log.lammps", out / "dumps", out / "missing"], prefix)
        assert syncer.flush(30)
        keys = {o["Key"] for o in s3.client.list_objects_v2(Bucket=BUCKET, Prefix="results/")["Contents"]}
        assert keys == {"results/job-1/log.lammps", "results/job-1/dumps/d.0"}
        sent = syncer.stats.output_files
        with open(out / "log.lammps", "a") as fh:
            fh.write("100 0.9\n")
        syncer.sync_outputs([out / "log.lammps", out / "dumps"], prefix)
        assert syncer.flush(30)
        assert syncer.stats.output_files == sent + 1  # only the grown log
        body = s3.client.get_object(Bucket=BUCKET, Key="results/job-1/log.lammps")["Body"].read()
        assert body.endswith(b"100 0.9\n")


def test_local_only_retention(tmp_path: Path):
    local = LocalStore(tmp_path / "ckpt")
    with CheckpointSyncer(local, None, retention=3) as syncer:
        for seq in range(1, 7):
            syncer.submit(*make_ckpt(local, seq))
        assert syncer.flush(10)
    assert local_seqs(local) == [4, 5, 6]


def test_s3_outage_backoff_nothing_pruned_then_catch_up(aws, tmp_path: Path):
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    proxy = FlakyProxy(aws.port)
    local = LocalStore(tmp_path / "ckpt")
    # The local AWS speaks https; TLS passes through the TCP proxy untouched.
    s3 = S3Store(fast_client(f"https://127.0.0.1:{proxy.port}"), BUCKET, "checkpoints/", "job-1")
    direct = S3Store(aws.client("s3"), BUCKET, "checkpoints/", "job-1")
    logs: list[str] = []
    syncer = CheckpointSyncer(local, s3, retention=2, log=logs.append, backoff_initial=0.2, backoff_max=1.0)
    try:
        syncer.submit(*make_ckpt(local, 1))
        assert syncer.flush(30) and direct.latest_seq() == 1

        proxy.down()
        # the "simulation" keeps producing checkpoints; submit never blocks
        t0 = time.monotonic()
        for seq in range(2, 7):
            syncer.submit(*make_ckpt(local, seq))
        assert time.monotonic() - t0 < 2.0
        assert wait_for(lambda: syncer.stats.retries >= 3, 20), logs
        # exponential backoff: the recorded delays grow (bounded by backoff_max)
        assert 0 < syncer.last_backoff <= 1.0
        # nothing local was pruned: 1 is the only one in S3 and 2..6 are not there yet
        assert local_seqs(local) == [1, 2, 3, 4, 5, 6]
        assert direct.latest_seq() == 1 and direct.list_seqs() == [1]
        assert syncer.flush(1.5) is False  # cannot finish while S3 is down

        proxy.up()
        assert syncer.flush(30), logs
        # caught up: newest uploaded and committed (intermediate ones superseded)
        assert direct.latest_seq() == 6 and direct.verify(6)
        assert syncer.stats.superseded >= 1
        assert set(direct.list_seqs()) <= {6, 1} and 6 in direct.list_seqs()
        # local pruned down to retention only now that 6 is safely in S3
        assert local_seqs(local) == [5, 6]
        assert any("will retry" in line for line in logs)
    finally:
        syncer.close(timeout=5)
        proxy.down()


def test_corrupt_local_checkpoint_is_not_uploaded(aws, tmp_path: Path):
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    local = LocalStore(tmp_path / "ckpt")
    s3 = S3Store(fast_client(aws.endpoint_url), BUCKET, "checkpoints/", "job-1")
    logs: list[str] = []
    with CheckpointSyncer(local, s3, retention=2, log=logs.append) as syncer:
        syncer.submit(*make_ckpt(local, 1))
        assert syncer.flush(30)
        path, man = make_ckpt(local, 2)
        with open(path / "restart.bin", "r+b") as fh:
            fh.truncate(10)
        syncer.submit(path, man)
        assert syncer.flush(30) is False  # reported, not silently "done"
        assert s3.latest_seq() == 1 and s3.list_seqs() == [1]
        assert (tmp_path / "ckpt" / ckpt_dir_name(1)).exists()
        assert any("refusing to upload" in line for line in logs)
