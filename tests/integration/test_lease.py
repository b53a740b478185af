"""The simulation lease and its fencing token against a real moto S3 server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lmpspot.checkpoint import LocalStore
from lmpspot.lease import Heartbeat, Lease, LeaseHeld, LeaseLost
from lmpspot.s3store import Fenced, S3Store

pytestmark = pytest.mark.integration
BUCKET = "lmpspot-test-lease"


@pytest.fixture
def s3(aws):
    c = aws.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return c


def lease(c, uid: str, job: str | None, ttl: float = 3.0) -> Lease:
    return Lease(c, BUCKET, "checkpoints/sim/", "sim", uid, batch_job_id=job, ttl=ttl, log=lambda m: None)


def test_live_holder_refuses_another_job_promptly(s3):
    a = lease(s3, "aaaaaaaa", "job-a")
    assert a.acquire() == 1
    hb = Heartbeat(a).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(LeaseHeld, match="owned by runner aaaaaaaa"):
            lease(s3, "bbbbbbbb", "job-b").acquire()
        assert time.monotonic() - t0 < 3 * a.heartbeat + 2
    finally:
        hb.stop()
    a.renew()  # still ours


def test_same_batch_job_takes_over_at_once_and_fences(s3, tmp_path: Path):
    store = S3Store(s3, BUCKET, "checkpoints/", "sim", log=lambda m: None)
    local = LocalStore(tmp_path)
    old = lease(s3, "aaaaaaaa", "job-a", ttl=600)
    assert old.acquire() == 1

    def ckpt(seq: int, step: int, token: int):
        d = local.staging(seq)
        (d / "restart.bin").write_bytes(os.urandom(100))
        m = local.commit(d, job_id="sim", step=step, extra={"lease_token": token})
        store.upload(local.path_for(seq), m)
        return m

    assert store.commit_latest(ckpt(1, 10, 1))
    new = lease(s3, "bbbbbbbb", "job-a", ttl=600)
    t0 = time.monotonic()
    assert new.acquire() == 2 and time.monotonic() - t0 < 2
    assert new.previous["uid"] == "aaaaaaaa"
    assert store.fence_pointer(new.token)
    with pytest.raises(LeaseLost):
        old.renew()
    with pytest.raises(Fenced):
        store.commit_latest(ckpt(2, 20, 1))  # the superseded writer's checkpoint
    assert store.pointer()["seq"] == 1
    assert store.commit_latest(ckpt(3, 30, 2))


def test_crashed_holder_expires_on_s3_clock(s3):
    a = lease(s3, "aaaaaaaa", None, ttl=2.0)
    a.acquire()  # then "crashes": never renews
    t0 = time.monotonic()
    b = lease(s3, "bbbbbbbb", None, ttl=2.0)
    assert b.acquire() == 2
    waited = time.monotonic() - t0
    assert 1.0 <= waited < 2.0 + 2 * b.heartbeat + 3, waited
    assert b.previous["uid"] == "aaaaaaaa"


def test_released_lease_is_taken_at_once(s3):
    a = lease(s3, "aaaaaaaa", "job-a", ttl=600)
    a.acquire()
    a.release()
    t0 = time.monotonic()
    assert lease(s3, "bbbbbbbb", "job-b", ttl=600).acquire() == 2
    assert time.monotonic() - t0 < 2
