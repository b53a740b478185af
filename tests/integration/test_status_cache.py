"""``lmpspot status`` reads unchanged S3 objects from its cache (:mod:`lmpspot.s3cache`),
against the local AWS.

A first run reads each simulation's newest attempt record only (it carries the earlier
records and the pointer the listing shows unchanged, and the progress); a second run over
the same sweep sends no ``GetObject`` at all; the output is the same as with
``--no-cache``.  What changed between runs (a new attempt record, a rewritten
``status.json``, a pointer moved by someone else) is read again, and a cache whose copies
do not match the listing, or that is not JSON, never shows through.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from sweep_seed import seed, sim_id

from lmpspot.attempts import AttemptRecord, S3Backend, read_attempts
from lmpspot.checkpoint import LocalStore
from lmpspot.cli import main
from lmpspot.s3cache import cache_file
from lmpspot.s3store import S3Store

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-status-cache"
COUNT = 12
READS = re.compile(
    r"S3 reads: (\d+) fetched, (\d+) unchanged \(304\), (\d+) from the cache, (\d+) known absent; "
    r"(\d+) GetObject"
)
VOLATILE = ("checkpoint_age_seconds", "cost_usd", "cost_label", "ledger", "telemetry")


def run(aws, monkeypatch, capsys, *extra: str) -> tuple[list[dict], dict[str, int]]:
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    out = io.StringIO()
    capsys.readouterr()
    with contextlib.redirect_stdout(out):
        assert main(["status", "--bucket", BUCKET, "--json", *extra]) == 0
    err = capsys.readouterr().err
    m = READS.search(err)
    counts = (
        {}
        if m is None
        else dict(
            zip(
                ("fetched", "not_modified", "cached", "absent", "requests"), map(int, m.groups()), strict=True
            )
        )
    )
    return json.loads(out.getvalue()), counts


def steady(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in j.items() if k not in VOLATILE} for j in rows]


def test_second_run_reads_only_what_changed(aws, monkeypatch, capsys, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    seed(s3, BUCKET, COUNT, tmp_path / "seed")
    cache = ("--cache-dir", str(tmp_path / "cache"))

    plain, none = run(aws, monkeypatch, capsys, "--no-cache")
    assert none == {}
    first, c1 = run(aws, monkeypatch, capsys, *cache)
    # Only each newest record: it carries the earlier records (their listed ETags match),
    # the pointer (its listed ETag matches) and the progress (no status.json).  No job
    # record: these simulations have no job for the local executor to have run.
    assert c1 == {"fetched": COUNT, "not_modified": 0, "cached": 0, "absent": 0, "requests": COUNT}
    assert steady(first) == steady(plain)

    second, c2 = run(aws, monkeypatch, capsys, *cache)
    assert c2 == {"fetched": 0, "not_modified": 0, "cached": COUNT, "absent": 0, "requests": 0}
    assert steady(second) == steady(plain)

    # sweep-00001 moves on: its running attempt stops, a new attempt starts as the runner
    # starts one (it fences the pointer and carries the earlier records), with no progress
    # report in its record yet: status.json, which moved, tells the step.
    sid = sim_id(1)
    backend = S3Backend(s3, BUCKET, f"checkpoints/{sid}/")
    rec = AttemptRecord(
        [backend], sid, batch_job_id="job-new", batch_attempt=9, host="h", instance_type="g6.xlarge",
        lifecycle="spot",
    )  # fmt: skip
    assert rec.flush()
    store = S3Store(s3, BUCKET, "checkpoints/", sid)
    assert store.fence_pointer(9)
    rec.set_earlier(read_attempts(s3, BUCKET, store.base, sid, skip=rec.name))
    rec.set(pointer=store.pointer_seen)
    rec.step(77_000)
    assert rec.flush()
    status = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{sid}/status.json")["Body"].read())
    status["step"] = 77_000
    s3.put_object(Bucket=BUCKET, Key=f"results/{sid}/status.json", Body=json.dumps(status).encode())

    third, c3 = run(aws, monkeypatch, capsys, *cache)
    assert c3["fetched"] == 2 and c3["not_modified"] == 0  # the new record, status.json
    assert c3["requests"] == 2 and c3["cached"] == COUNT - 1
    row = next(j for j in third if j["sim_id"] == sid)
    assert row["step"] == 77_000 and row["attempt"] == 4 and row["checkpoint_seq"] == 1
    assert steady(third) == steady(run(aws, monkeypatch, capsys, "--no-cache")[0])

    # The new attempt reports progress: its record (one GetObject) tells the step;
    # status.json is not asked for.
    rec.progress({**status, "step": 78_000})
    assert rec.flush()
    fourth, c4 = run(aws, monkeypatch, capsys, *cache)
    assert c4["fetched"] == 1 and c4["not_modified"] == 0 and c4["requests"] == 1
    row = next(j for j in fourth if j["sim_id"] == sid)
    assert row["step"] == 78_000 and row["attempt"] == 4
    assert steady(fourth) == steady(run(aws, monkeypatch, capsys, "--no-cache")[0])

    # --workers 1 lists each simulation's records (ETags, so the carried ones are not
    # read) but not the prefix: each newest record is asked for with If-None-Match, and
    # each pointer, which that listing does not cover, is read.
    seq, c5 = run(aws, monkeypatch, capsys, *cache, "--workers", "1")
    assert c5 == {"fetched": COUNT, "not_modified": COUNT, "cached": 0, "absent": 0, "requests": 2 * COUNT}
    assert steady(seq) == steady(fourth)


def test_a_pointer_moved_behind_the_records_back_is_read(aws, monkeypatch, capsys, tmp_path):
    """The newest record carries ``latest.json`` as its runner wrote it.  Moved by anyone
    else since (an operator's repair, a superseded writer), the listed ETag differs: the
    pointer is read and status shows where it points now."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    seed(s3, BUCKET, 3, tmp_path / "seed")
    cache = ("--cache-dir", str(tmp_path / "cache"))
    rows, c = run(aws, monkeypatch, capsys, *cache)
    assert c["requests"] == 3 and {r["checkpoint_seq"] for r in rows} == {1}

    sid = sim_id(2)
    store = S3Store(s3, BUCKET, "checkpoints/", sid)
    old = store.latest()
    local = LocalStore(tmp_path / "ck2")
    staging = local.staging(2)
    (staging / "restart.bin").write_bytes(b"x" * 64)
    man = local.commit(
        staging, seq=2, job_id=sid, attempt=1, stage=0, stage_name="run#1", step=old.step + 10,
        stage_start_step=0, stage_target_step=old.stage_target_step, sim_time=0.0,
        lammps_version="seed", build_hash="0" * 64, input_hash="0" * 64, extra={},
    )  # fmt: skip
    store.upload(local.path_for(2), man)
    assert store.commit_latest(man, verify=False, token=99)  # not by the newest attempt
    rows, c = run(aws, monkeypatch, capsys, *cache)
    row = next(j for j in rows if j["sim_id"] == sid)
    assert (row["checkpoint_seq"], row["checkpoint_step"]) == (2, old.step + 10)
    assert c["requests"] == 1 and c["fetched"] == 1  # that pointer; every record from the cache
    assert steady(rows) == steady(run(aws, monkeypatch, capsys, "--no-cache")[0])


def test_a_wrong_or_broken_cache_never_shows(aws, monkeypatch, capsys, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    seed(s3, BUCKET, 3, tmp_path / "seed")
    cdir = tmp_path / "cache"
    plain, _ = run(aws, monkeypatch, capsys, "--no-cache")
    run(aws, monkeypatch, capsys, "--cache-dir", str(cdir))
    (path,) = cdir.glob("status-*.json")
    assert path == cache_file(cdir, aws.endpoint_url, BUCKET)
    assert path.stat().st_mode & 0o077 == 0

    # Every copy altered, ETags kept wrong: each is fetched again, none is shown.
    doc = json.loads(path.read_text())
    for key, (_etag, body) in doc["objects"].items():
        doc["objects"][key] = ['"0000"', body.replace("g6.xlarge", "p5.48xlarge")]
    path.write_text(json.dumps(doc))
    again, c = run(aws, monkeypatch, capsys, "--cache-dir", str(cdir))
    assert c["cached"] == 0 and c["not_modified"] == 0
    assert steady(again) == steady(plain)

    path.write_text("{not json")
    broken, c = run(aws, monkeypatch, capsys, "--cache-dir", str(cdir))
    assert c["cached"] == 0 and steady(broken) == steady(plain)
