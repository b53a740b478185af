"""The attempt record against a real moto S3 server and a local directory (same code)."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from types import SimpleNamespace

import pytest

from lmpspot.attempts import (
    AttemptRecord,
    DirBackend,
    S3Backend,
    close_vanished,
    read_attempts,
    read_local_attempts,
)

pytestmark = pytest.mark.integration
BUCKET = "lmpspot-test-attempts"
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}\.json$")


@pytest.fixture
def s3(aws):
    c = aws.client("s3")
    c.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return c


def test_lifecycle_in_s3_and_locally(s3, tmp_path):
    base = "checkpoints/sim-a/"
    be = [S3Backend(s3, BUCKET, base), DirBackend(tmp_path / "attempts")]
    rec = AttemptRecord(
        be, "sim-a", batch_job_id="j-1", batch_attempt=1, lifecycle="spot", instance_type="g6.xlarge"
    )
    assert NAME.match(rec.name)
    assert rec.flush()
    rec.set(resumed_from={"seq": 3, "stage": 1, "step": 300})
    rec.step(450)
    rec.set(last_checkpoint=SimpleNamespace(seq=4, stage=1, step=400))
    rec.step(470)
    assert rec.stop(75, "spot interruption: checkpointed")
    for got in (read_attempts(s3, BUCKET, base, "sim-a"), read_attempts(s3, BUCKET, "checkpoints/", "sim-a")):
        assert len(got) == 1
        r = got[0]
        assert r["schema"] == 1 and r["uid"] == rec.uid and r["_name"] == rec.name
        assert (r["exit_code"], r["last_step"], r["steps_lost"]) == (75, 470, 70)
        assert r["resumed_from"] == {"seq": 3, "stage": 1, "step": 300}
        assert r["last_checkpoint"] == {"seq": 4, "stage": 1, "step": 400}
        assert r["lifecycle"] == "spot" and r["batch_job_id"] == "j-1" and r["stopped"]
    local = read_local_attempts(tmp_path / "attempts", "sim-a")
    assert [{k: v for k, v in x.items() if k != "_etag"} for x in local] == [
        {k: v for k, v in x.items() if k != "_etag"} for x in got
    ]  # each backend's own ETag
    key = f"{base}attempts/{rec.name}"
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["exit_code"] == 75


def test_writes_are_conditional(s3, tmp_path):
    """Someone else's write to our object is never overwritten; creation never replaces."""
    base = "checkpoints/sim-b/"
    be = S3Backend(s3, BUCKET, base)
    rec = AttemptRecord([be], "sim-b")
    assert rec.flush()
    s3.put_object(Bucket=BUCKET, Key=f"{base}attempts/{rec.name}", Body=b'{"uid": "intruder"}')
    rec.step(10)
    assert not rec.flush()  # If-Match fails and the object is not ours: left alone
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=f"{base}attempts/{rec.name}")["Body"].read()) == {
        "uid": "intruder"
    }
    d = DirBackend(tmp_path)
    d.create("x.json", b"{}")
    with pytest.raises(Exception, match="already exists"):
        d.create("x.json", b"{}")


def test_s3_down_then_back(s3, aws, tmp_path):
    """A write that fails (bad endpoint) is kept dirty and lands at the next flush."""
    import boto3

    dead = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-2",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=__import__("botocore.config").config.Config(retries={"max_attempts": 1}, connect_timeout=1),
    )  # fmt: skip
    be = S3Backend(dead, BUCKET, "checkpoints/sim-c/")
    rec = AttemptRecord([be, DirBackend(tmp_path)], "sim-c", log=lambda m: None)
    assert not rec.flush()
    be.client = s3
    rec.step(5)
    assert rec.flush()
    assert [r["last_step"] for r in read_attempts(s3, BUCKET, "checkpoints/", "sim-c")] == [5]


def test_sorted_by_start_and_vanished_attempt_closed(s3):
    base = "checkpoints/sim-d/"
    be = [S3Backend(s3, BUCKET, base)]
    first = AttemptRecord(be, "sim-d")
    first.step(900)
    assert first.flush()  # then SIGKILL: never stopped
    second = AttemptRecord(be, "sim-d")
    assert second.flush()
    other = AttemptRecord([S3Backend(s3, BUCKET, "checkpoints/sim-dd/")], "sim-dd")
    assert other.flush()
    assert close_vanished(be, "sim-d", first.uid, resumed_step=600)
    got = read_attempts(s3, BUCKET, base, "sim-d")
    assert [r["uid"] for r in got] == [first.uid, second.uid]
    assert got[0]["steps_lost"] == 300 and got[0]["stopped_estimated"] is True and got[0]["stopped"]
    assert got[1]["stopped"] is None


def test_concurrent_updates_from_threads(s3):
    rec = AttemptRecord([S3Backend(s3, BUCKET, "checkpoints/sim-e/")], "sim-e")
    threads = [threading.Thread(target=lambda i=i: (rec.step(i), rec.flush())) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.flush()
    assert read_attempts(s3, BUCKET, "checkpoints/", "sim-e")[0]["last_step"] == rec.data["last_step"]


class Counting:
    """An S3 client that counts the GetObject requests per key."""

    def __init__(self, client) -> None:
        self.client = client
        self.asked: Counter[str] = Counter()

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_object(self, **kw):
        self.asked[kw["Key"]] += 1
        return self.client.get_object(**kw)


def _attempt(s3, base: str, sim: str, carry: bool) -> AttemptRecord:
    """A new attempt as :class:`lmpspot.guard.AttemptGuard` starts it: its record first,
    then the earlier records carried in it (``carry``; False: a runner from before)."""
    rec = AttemptRecord([S3Backend(s3, BUCKET, base)], sim, lifecycle="spot")
    assert rec.flush()
    if carry:
        rec.set_earlier(read_attempts(s3, BUCKET, base, sim, skip=rec.name))
    return rec


def test_the_newest_record_spares_reading_what_it_carries(s3):
    """Random histories: attempts that carry their predecessors or not (an older runner),
    earlier records rewritten after a newer attempt started (a late stop, a vanished one
    closed), records deleted.  Reading through the listing gives exactly what reading every
    record gives, and reads only the newest record and those it does not carry unchanged."""
    saved = 0
    for seed in range(40):
        saved += _random_history(s3, seed)
    assert saved > 40  # the histories did carry records (and the rule used them)


def _random_history(s3, seed: int) -> int:
    """One history; how many reads the carried records spared."""
    rng = random.Random(seed)  # noqa: S311 - seeded
    sim = f"sim-r{seed}"
    base = f"checkpoints/{sim}/"
    recs: list[AttemptRecord] = []
    for _ in range(rng.randint(1, 6)):
        if recs and rng.random() < 0.7:
            recs[-1].stop(75, "spot interruption notice: checkpointed")
        recs.append(_attempt(s3, base, sim, carry=rng.random() < 0.8))
        recs[-1].step(rng.randint(1, 10_000))
        assert recs[-1].flush()
    changed: set[str] = set()
    for old in recs[:-1]:
        r = rng.random()
        if r < 0.15:  # a late write of an attempt that was still running
            old.step(rng.randint(10_001, 20_000))
            assert old.flush()
            changed.add(old.name)
        elif r < 0.25:
            s3.delete_object(Bucket=BUCKET, Key=f"{base}attempts/{old.name}")
        elif r < 0.35 and old.data["stopped"] is None:
            assert close_vanished([S3Backend(s3, BUCKET, base)], sim, old.uid, resumed_step=0)
            changed.add(old.name)
    newest = recs[-1]
    if rng.random() < 0.5:
        newest.step(30_000)  # the newest moves on: what it carries stays
        assert newest.flush()

    every = read_attempts(s3, BUCKET, base, sim, names=S3Backend(s3, BUCKET, base).names())
    counting = Counting(s3)
    got = read_attempts(counting, BUCKET, base, sim)
    assert got == every
    assert [r["uid"] for r in got] == [r.uid for r in recs if r.name in {x["_name"] for x in every}]
    carried = {e["name"] for e in newest.data.get("earlier") or []}
    expected = {f"{base}attempts/{newest.name}"} | {
        f"{base}attempts/{x['_name']}" for x in every if x["_name"] not in carried - changed
    }
    assert set(counting.asked) == expected, (seed, counting.asked, expected)
    assert all(n == 1 for n in counting.asked.values())
    return len(every) - len(expected)


def test_a_carried_copy_that_is_not_the_object_is_not_used(s3):
    """A newest record whose ``earlier`` names a record with a stale or bogus ETag (or junk):
    that record is read, and the copy never shows."""
    sim, base = "sim-f", "checkpoints/sim-f/"
    first = _attempt(s3, base, sim, carry=True)
    first.step(100)
    first.stop(75, "spot interruption notice: checkpointed")
    second = _attempt(s3, base, sim, carry=True)
    forged = json.loads(json.dumps(second.data["earlier"]))
    forged[0]["record"]["last_step"] = 999_999
    forged[0]["etag"] = '"0000"'
    second.set(earlier=[*forged, {"name": "x.json"}, "junk"])
    assert second.flush()
    counting = Counting(s3)
    got = read_attempts(counting, BUCKET, base, sim)
    assert [r["last_step"] for r in got] == [100, None]
    assert len(counting.asked) == 2
