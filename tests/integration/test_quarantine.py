"""``lmpspot checkpoints quarantine`` against a real moto S3 server, through the CLI.

The way out when an attempt exits 76 because checkpoints exist in S3 but none verifies
(lmpspot.resume never starts over on its own): damaged checkpoints are copied aside and
removed from the set, the pointer goes to the furthest one that still verifies (or is
removed), nothing happens without ``--yes``, and a live lease refuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmpspot.checkpoint import LocalStore
from lmpspot.lease import Lease
from lmpspot.resume import StoreUnavailable, find_resume_checkpoint
from lmpspot.s3store import S3Store

pytestmark = pytest.mark.integration
BUCKET = "lmpspot-quarantine"
FIELDS = dict(lammps_version="v", build_hash="bh", input_hash="ih")


@pytest.fixture
def s3(aws):
    c = aws.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return c


def put_ckpts(c, tmp_path: Path, sim: str, steps: list[tuple[int, int, int]]) -> S3Store:
    store = S3Store(c, BUCKET, "checkpoints/", sim, log=lambda m: None)
    w = LocalStore(tmp_path / f"w-{sim}")
    for seq, stage, step in steps:
        d = w.staging(seq)
        (d / "restart.bin").write_bytes(os.urandom(5000))
        man = w.commit(d, job_id=sim, stage=stage, step=step, extra={"lease_token": 0}, **FIELDS)
        store.upload(w.path_for(seq), man)
        store.commit_latest(man)
    return store


def corrupt(c, store: S3Store, seq: int) -> bytes:
    key = store.key(seq, "restart.bin")
    body = bytearray(c.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    c.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    return bytes(body)


def cli(aws, sim: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lmpspot.cli", "checkpoints", "quarantine", "--bucket", BUCKET,
         "--job", sim, "--endpoint-url", aws.endpoint_url, *extra],
        env={**os.environ, **aws.env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def quarantined(c, sim: str) -> list[str]:
    listing = c.list_objects_v2(Bucket=BUCKET, Prefix=f"checkpoints/{sim}/quarantine/")
    return [o["Key"] for o in listing["Contents"]]


def resume(store: S3Store, tmp_path: Path):
    return find_resume_checkpoint(LocalStore(tmp_path / "node"), store, "ih", "bh", log=lambda m: None)


def test_damaged_newest_is_moved_aside_and_pointer_goes_back(aws, s3, tmp_path):
    store = put_ckpts(s3, tmp_path, "q1", [(1, 0, 100), (2, 0, 200), (3, 1, 50)])
    bad = corrupt(s3, store, 3)
    # the runner would resume from 2 on its own here (an older one verifies): quarantine
    # is for the operator, and tidies this case too
    dry = cli(aws, "q1")
    assert dry.returncode == 0, dry.stderr
    assert "would be moved aside" in dry.stdout and "rerun with --yes" in dry.stdout
    assert store.list_seqs() == [3, 2, 1] and store.pointer()["seq"] == 3  # nothing changed
    done = cli(aws, "q1", "--yes")
    assert done.returncode == 0, done.stderr
    assert store.list_seqs() == [2, 1]
    assert store.pointer()["seq"] == 2 and store.verify(2)
    # the damaged bytes are kept, not deleted
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/q1/quarantine/")["Contents"]
    ]
    kept = [k for k in keys if k.endswith("ckpt-0000000003/restart.bin")]
    assert len(kept) == 1
    assert s3.get_object(Bucket=BUCKET, Key=kept[0])["Body"].read() == bad
    got = resume(store, tmp_path)
    assert got is not None and got[1].seq == 2
    # twice: nothing left to do
    again = cli(aws, "q1", "--yes")
    assert again.returncode == 0 and "nothing to quarantine" in again.stdout


def test_nothing_verifies_blocks_until_quarantined_then_fresh_start(aws, s3, tmp_path):
    store = put_ckpts(s3, tmp_path, "q2", [(1, 0, 100)])
    corrupt(s3, store, 1)
    with pytest.raises(StoreUnavailable, match="checkpoints quarantine --bucket lmpspot-quarantine --job q2"):
        resume(store, tmp_path)
    done = cli(aws, "q2", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert '"action": "remove"' in done.stdout
    assert store.list_seqs() == [] and store.pointer() is None
    keys = {
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="checkpoints/q2/quarantine/")["Contents"]
    }
    assert any(k.endswith("/latest.json") for k in keys)
    assert resume(store, tmp_path) is None  # positive evidence now: start from the beginning


def test_live_lease_refuses(aws, s3, tmp_path):
    store = put_ckpts(s3, tmp_path, "q3", [(1, 0, 100), (2, 0, 200)])
    corrupt(s3, store, 2)
    lease = Lease(s3, BUCKET, store.base, "q3", "runner-1", ttl=180)
    lease.acquire()
    p = cli(aws, "q3", "--yes")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "holds the lease" in p.stderr and "runner-1" in p.stderr
    assert store.list_seqs() == [2, 1]  # untouched
    lease.release()
    p = cli(aws, "q3", "--yes")
    assert p.returncode == 0, p.stderr
    assert store.list_seqs() == [1] and store.pointer()["seq"] == 1
    # the pointer was re-written under the quarantine's own token, above runner-1's, and
    # a later runner's token is above that
    tok = int(store.pointer()["lease_token"])
    assert tok > lease.token
    nxt = Lease(s3, BUCKET, store.base, "q3", "runner-2", ttl=180)
    assert nxt.acquire() > tok
