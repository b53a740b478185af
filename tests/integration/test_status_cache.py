"""``lmpspot status`` reads unchanged S3 objects from its cache (:mod:`lmpspot.s3cache`),
against the local AWS.

A second run over the same sweep sends no ``GetObject`` for an attempt record or a
``latest.json`` the listing shows unchanged, and gets 304 for each ``status.json``; the
output is the same as with ``--no-cache``.  What changed between runs (a new attempt
record, a rewritten ``status.json``) is read again, and a cache whose copies do not match
the listing, or that is not JSON, never shows through.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from sweep_seed import seed, sim_id

from lmpspot.attempts import AttemptRecord, S3Backend
from lmpspot.cli import main
from lmpspot.s3cache import cache_file

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
    records = sum(2 + i % 2 for i in range(COUNT))
    cache = ("--cache-dir", str(tmp_path / "cache"))

    plain, none = run(aws, monkeypatch, capsys, "--no-cache")
    assert none == {}
    first, c1 = run(aws, monkeypatch, capsys, *cache)
    # records and latest.json; no status.json: the newest record carries the progress
    assert c1["cached"] == 0 and c1["fetched"] == records + COUNT
    assert steady(first) == steady(plain)

    second, c2 = run(aws, monkeypatch, capsys, *cache)
    assert c2 == {
        "fetched": 0,
        "not_modified": 0,
        "cached": records + COUNT,
        "absent": 0,
        "requests": COUNT,  # each local job record (local mode; none here: 404)
    }
    assert steady(second) == steady(plain)

    # sweep-00001 moves on: its running attempt stops, a new attempt starts (no progress
    # report in its record yet: status.json, which moved, tells the step).
    sid = sim_id(1)
    backend = S3Backend(s3, BUCKET, f"checkpoints/{sid}/")
    rec = AttemptRecord(
        [backend], sid, batch_job_id="job-new", batch_attempt=9, host="h", instance_type="g6.xlarge",
        lifecycle="spot",
    )  # fmt: skip
    rec.step(77_000)
    assert rec.flush()
    status = json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{sid}/status.json")["Body"].read())
    status["step"] = 77_000
    s3.put_object(Bucket=BUCKET, Key=f"results/{sid}/status.json", Body=json.dumps(status).encode())

    third, c3 = run(aws, monkeypatch, capsys, *cache)
    assert c3["fetched"] == 2 and c3["not_modified"] == 0  # the new record, status.json
    row = next(j for j in third if j["sim_id"] == sid)
    assert row["step"] == 77_000 and row["attempt"] == 4
    assert steady(third) == steady(run(aws, monkeypatch, capsys, "--no-cache")[0])

    # The new attempt reports progress: its record (one GetObject) tells the step;
    # status.json is not asked for.
    rec.progress({**status, "step": 78_000})
    assert rec.flush()
    fourth, c4 = run(aws, monkeypatch, capsys, *cache)
    assert c4["fetched"] == 1 and c4["not_modified"] == 0 and c4["requests"] == COUNT + 1
    row = next(j for j in fourth if j["sim_id"] == sid)
    assert row["step"] == 78_000 and row["attempt"] == 4
    assert steady(fourth) == steady(run(aws, monkeypatch, capsys, "--no-cache")[0])

    # --workers 1 lists nothing: every cached object is asked for with If-None-Match.
    seq, c5 = run(aws, monkeypatch, capsys, *cache, "--workers", "1")
    assert c5["fetched"] == 0 and c5["cached"] == 0 and c5["not_modified"] == records + 1 + COUNT
    assert steady(seq) == steady(fourth)


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
