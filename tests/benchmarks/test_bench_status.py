"""``lmpspot status --json`` over 10, 100 and 1,000 simulations in S3 (the local AWS).

The bucket is seeded by the product's writers (tests/sweep_seed.py: 2-3 attempt records,
a checkpoint with its manifest and ``latest.json``, ``status.json`` per simulation),
then the CLI runs in-process, alternating: the default (one listing of the checkpoint
prefix, reads on 32 threads) and ``--workers 1`` (one simulation at a time, each listing
its own records: the path before).  Seconds are medians (one run each at 1,000); nothing timed is asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time

import pytest
from perfdoc import record, table
from sweep_seed import seed
from test_bench_runner import loadavg, make_bucket, med

from lmpspot.cli import main

pytestmark = pytest.mark.bench

SIZES = [int(x) for x in os.environ.get("LMPSPOT_BENCH_STATUS_SIZES", "10,100,1000").split(",")]
ROUNDS = max(1, int(os.environ.get("LMPSPOT_BENCH_ROUNDS", "3")))
BIG = 1000  # from this size on, one round (the sequential path takes minutes there)
BUCKET = "bench-status"


def _status(*extra: str) -> tuple[float, int]:
    out = io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out):
        assert main(["status", "--bucket", BUCKET, "--json", *extra]) == 0
    return time.monotonic() - t0, len(json.loads(out.getvalue()))


def test_status_at_scale(aws, monkeypatch, tmp_path):
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    make_bucket(aws, BUCKET)
    s3 = aws.client("s3")
    rows, seeded = [], 0
    for size in SIZES:
        t0 = time.monotonic()
        seed(s3, BUCKET, size - seeded, tmp_path / f"seed-{size}", start=seeded)
        seed_s = time.monotonic() - t0
        seeded = size
        new, old = [], []
        for r in range(ROUNDS if size < BIG else 1):
            for kind in ("new", "old") if r % 2 == 0 else ("old", "new"):
                secs, n = _status() if kind == "new" else _status("--workers", "1")
                assert n == size
                (new if kind == "new" else old).append(secs)
        rows.append(
            [size, f"{med(old):.2f}", f"{med(new):.2f}", f"{med(old) / med(new):.1f}x", f"{seed_s:.0f}"]
        )
    body = (
        "`lmpspot status --json` against the local AWS (moto server on 127.0.0.1, TLS), every\n"
        "simulation read from S3 (no Batch job): 2-3 attempt records, a checkpoint pointer\n"
        "with its manifest and `status.json` each, written by the product's writers\n"
        "(`tests/sweep_seed.py`). `--workers 1` is the sequential path (one simulation at a\n"
        "time, one listing of its attempt records each); the default reads 32 simulations at\n"
        "once and lists the checkpoint prefix once for all. Median of "
        f"{ROUNDS} alternating runs ({BIG:,}+ simulations: one run each); load average before: "
        f"{loadavg()}.\n\n"
        + table(["simulations", "--workers 1 (s)", "default (s)", "speed-up", "seeding (s)"], rows)
        + "\n\nThe moto server is one Python process sharing this machine's cores with the\n"
        "client: against S3 itself, where requests are served in parallel, the threads gain more."
    )
    record("status", "Status over a sweep (10 / 100 / 1,000 simulations)", body)
