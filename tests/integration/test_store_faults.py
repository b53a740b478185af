"""Every fault kind at every checkpoint operation, against a real moto S3 server.

For each (operation point, fault kind) of :mod:`s3faults` the fault hits twice while a
syncer uploads, commits and prunes a new checkpoint, and again while a fresh node
resumes.  Invariants: no committed progress is lost (the pointer's checkpoint always
verifies), the pointer never moves back in progress (watched continuously by a
second, clean client), nothing at or past the furthest verified checkpoint is pruned,
the new checkpoint ends committed, and the resume finds exactly it -- never "start
from the beginning".
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from botocore.config import Config
from s3faults import KINDS, POINTS, S3Faults

from lmpspot.checkpoint import LocalStore
from lmpspot.resume import find_resume_checkpoint, with_store_retry
from lmpspot.s3store import S3Store, progress_of
from lmpspot.sync import CheckpointSyncer

pytestmark = pytest.mark.integration
BUCKET = "lmpspot-store-faults"
FIELDS = dict(lammps_version="v", build_hash="bh", input_hash="ih")


def make_ckpt(local: LocalStore, sim: str, seq: int, stage: int, step: int):
    d = local.staging(seq)
    (d / "restart.bin").write_bytes(os.urandom(3000))
    man = local.commit(d, job_id=sim, stage=stage, step=step, extra={"lease_token": 0}, **FIELDS)
    return local.path_for(seq), man


class PointerWatch:
    """Polls the pointer with a clean client; records every progress it sees."""

    def __init__(self, store: S3Store) -> None:
        self.store = store
        self.seen: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            ptr = self.store.pointer()
            if ptr is not None and (not self.seen or self.seen[-1] != progress_of(ptr)):
                self.seen.append(progress_of(ptr))

    def stop(self) -> list[tuple[int, int]]:
        self._stop.set()
        self._t.join()
        return self.seen


@pytest.fixture(scope="module")
def bucket(moto_server):
    c = moto_server.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return moto_server


def faulty_client(aws):
    import boto3

    conf = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=10)
    return boto3.client(
        "s3", endpoint_url=aws.endpoint_url, region_name="us-east-2", aws_access_key_id="testing",
        aws_secret_access_key="testing", verify=aws.ca_bundle, config=conf,
    )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("point", POINTS)
def test_fault_at_every_operation(bucket, tmp_path: Path, point: str, kind: str):
    sim = f"f-{point}-{kind}"
    aws = bucket
    client = faulty_client(aws)
    faults = S3Faults(client, verify=aws.ca_bundle)
    store = S3Store(client, BUCKET, "checkpoints/", sim, multipart_threshold=1 << 30, log=lambda m: None)
    clean = S3Store(aws.client("s3"), BUCKET, "checkpoints/", sim, log=lambda m: None)
    writer = LocalStore(tmp_path / "writer")
    # stage 1 holds steps 0..; stage 0 ended at step 50: seq order and progress order agree
    done = [
        make_ckpt(writer, sim, seq, stage, step) for seq, stage, step in ((1, 0, 50), (2, 1, 60), (3, 1, 80))
    ]
    for path, man in done:
        clean.upload(path, man)
        clean.commit_latest(man)
    watch = PointerWatch(clean)
    syncer = CheckpointSyncer(
        writer,
        store,
        retention=2,
        log=lambda m: None,
        backoff_initial=0.05,
        backoff_max=0.2,
        flush_retry_max=0.1,
    )
    try:
        faults.arm(point, kind, times=2)
        path4, man4 = make_ckpt(writer, sim, 4, 1, 120)
        syncer.submit(path4, man4)
        assert syncer.flush(timeout=60), syncer.stats.as_dict()
        faults.arm(point, kind, times=2)
        node = LocalStore(tmp_path / "node")
        found = with_store_retry(
            lambda: find_resume_checkpoint(node, store, "ih", "bh", log=lambda m: None),
            wait_s=60,
            log=lambda m: None,
            initial=0.05,
        )
    finally:
        syncer.close(timeout=5)
        seen = watch.stop()
        faults.disarm()
    assert found is not None and found[1].seq == 4 and node.verify(found[0])
    assert seen == sorted(seen), f"pointer moved back: {seen}"
    assert clean.pointer()["seq"] == 4 and clean.verify(4)
    assert clean.verify(3), "the furthest checkpoint verified before the fault was pruned"
    assert set(clean.list_seqs()) >= {3, 4}
    if point in ("resume-listing", "pointer-read", "manifest-read", "download", "upload", "pointer-commit"):
        assert faults.fired, f"no {kind} fault reached {point}"


def test_s3_down_at_start_is_unavailable_never_empty(bucket, tmp_path: Path):
    """Connection refused for the whole wait: StoreUnavailable, even with no local checkpoint."""
    from lmpspot.resume import StoreUnavailable

    client = faulty_client(bucket)
    faults = S3Faults(client, verify=bucket.ca_bundle)
    store = S3Store(client, BUCKET, "checkpoints/", "down-at-start", log=lambda m: None)
    faults.arm("resume-listing", "refused", times=10**6)
    with pytest.raises(StoreUnavailable, match="listing"):
        with_store_retry(
            lambda: find_resume_checkpoint(LocalStore(tmp_path / "n"), store, "ih", "bh", log=lambda m: None),
            wait_s=1.0,
            log=lambda m: None,
            initial=0.1,
        )
    faults.disarm()
    assert find_resume_checkpoint(LocalStore(tmp_path / "n"), store, "ih", "bh", log=lambda m: None) is None


def test_every_candidate_failing_is_unavailable(bucket, tmp_path: Path):
    from lmpspot.resume import StoreUnavailable

    c = bucket.client("s3")
    store = S3Store(c, BUCKET, "checkpoints/", "all-bad", log=lambda m: None)
    w = LocalStore(tmp_path / "w")
    for seq in (1, 2):
        p, m = make_ckpt(w, "all-bad", seq, 0, seq * 10)
        store.upload(p, m)
        store.commit_latest(m)
        c.put_object(Bucket=BUCKET, Key=store.key(seq, "restart.bin"), Body=b"corrupt")
    with pytest.raises(StoreUnavailable, match="none verified"):
        find_resume_checkpoint(LocalStore(tmp_path / "n"), store, "ih", "bh", log=lambda m: None)


def test_pointer_and_prune_follow_progress_not_seq(bucket, tmp_path: Path):
    """A checkpoint numbered above the pointer but behind it in progress never becomes
    the pointer, and prune keeps the furthest one and everything newer than the pointer."""
    c = bucket.client("s3")
    store = S3Store(c, BUCKET, "checkpoints/", "progress", log=lambda m: None)
    w = LocalStore(tmp_path / "w")
    for seq, stage, step in ((1, 0, 10), (2, 1, 500), (3, 0, 20), (4, 0, 30)):
        p, m = make_ckpt(w, "progress", seq, stage, step)
        store.upload(p, m)
        store.commit_latest(m)
    assert store.pointer()["seq"] == 2  # 3 and 4 are behind (stage 0)
    assert store.prune(keep=1) == [1]
    assert store.list_seqs() == [4, 3, 2]
    p, m = make_ckpt(w, "progress", 5, 1, 400)
    store.upload(p, m)
    assert not store.commit_latest(m)


def test_checkpoint_dirs_are_write_once(bucket, tmp_path: Path):
    from lmpspot.s3store import SeqTaken

    c = bucket.client("s3")
    store = S3Store(c, BUCKET, "checkpoints/", "write-once", log=lambda m: None)
    a, b = LocalStore(tmp_path / "a"), LocalStore(tmp_path / "b")
    pa, ma = make_ckpt(a, "write-once", 1, 0, 10)
    pb, mb = make_ckpt(b, "write-once", 1, 0, 10)
    store.upload(pa, ma)
    store.upload(pa, ma)  # the same checkpoint again: fine (a retry)
    with pytest.raises(SeqTaken):
        store.upload(pb, mb)
    assert store.get_manifest(1).files == ma.files and store.verify(1)
