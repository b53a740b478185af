"""``lmpspot status --json`` over 10, 100 and 1,000 simulations in S3 (the local AWS).

The bucket is seeded by the product's writers (tests/sweep_seed.py: 2-3 attempt records,
a checkpoint with its manifest and ``latest.json``, ``status.json`` per simulation),
then the CLI runs in-process, alternating: the default (one listing of the checkpoint
prefix, reads on 32 threads through the ETag cache: a cold run, then a warm one) and
``--workers 1 --no-cache`` (one simulation at a time, each listing its own records, every
object read).  Seconds are medians (one run each at 1,000); nothing timed is asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
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


READS = re.compile(r"; (\d+) GetObject requests")


def _status(*extra: str) -> tuple[float, int, int | None]:
    """Seconds, simulations shown, GetObject requests sent (None: no cache, not counted)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["status", "--bucket", BUCKET, "--json", *extra]) == 0
    m = READS.search(err.getvalue())
    return time.monotonic() - t0, len(json.loads(out.getvalue())), None if m is None else int(m.group(1))


def test_status_at_scale(aws, monkeypatch, tmp_path):
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    make_bucket(aws, BUCKET)
    s3 = aws.client("s3")
    rows, seeded, load_before = [], 0, loadavg()
    for size in SIZES:
        t0 = time.monotonic()
        seed(s3, BUCKET, size - seeded, tmp_path / f"seed-{size}", start=seeded)
        seed_s = time.monotonic() - t0
        seeded = size
        times: dict[str, list[float]] = {"old": [], "cold": [], "warm": []}
        gets: dict[str, int | None] = {}
        for r in range(ROUNDS if size < BIG else 1):
            cache = ("--cache-dir", str(tmp_path / f"cache-{size}-{r}"))
            kinds = ("cold", "warm", "old") if r % 2 == 0 else ("old", "cold", "warm")
            for kind in kinds:
                extra = ("--workers", "1", "--no-cache") if kind == "old" else cache
                secs, n, g = _status(*extra)
                assert n == size
                times[kind].append(secs)
                gets[kind] = g
        old, cold, warm = (med(times[k]) for k in ("old", "cold", "warm"))
        rows.append(
            [
                size, f"{old:.2f}", f"{cold:.2f}", f"{warm:.2f}", f"{old / cold:.1f}x", f"{old / warm:.1f}x",
                f"{gets['cold'] / size:.1f} / {gets['warm'] / size:.1f}", f"{seed_s:.0f}",
            ]
        )  # fmt: skip
    body = (
        "`lmpspot status --json` against the local AWS (moto server on 127.0.0.1, TLS), every\n"
        "simulation read from S3 (no Batch job): 2-3 attempt records, a checkpoint pointer\n"
        "with its manifest and `status.json` each, written by the product's writers\n"
        "(`tests/sweep_seed.py`). `--workers 1 --no-cache` is the sequential path (one\n"
        "simulation at a time, one listing of its attempt records each, then its newest record,\n"
        "the records that one does not carry unchanged and its pointer; no cache).\n"
        "The default reads 32 simulations at once, lists the checkpoint prefix once for all and\n"
        "reads small objects through the ETag cache (`lmpspot.s3cache`): *cold* is its first\n"
        "run (empty cache), *warm* the next one with nothing changed. Median of "
        f"{ROUNDS} alternating runs ({BIG:,}+ simulations: one run each); load average (1, 5, 15 min)\n"
        f"before: {load_before}, after: {loadavg()}.\n\n"
        + table(
            [
                "simulations",
                "--workers 1 (s)",
                "cold (s)",
                "warm (s)",
                "speed-up cold",
                "speed-up warm",
                "GetObject per simulation, cold / warm",
                "seeding (s)",
            ],
            rows,
        )  # fmt: skip
        + "\n\nThe moto server is one Python process sharing this machine's cores with the\n"
        "client. It keeps connections open, as S3 does (`lmpspot_local.moto_server`), so the\n"
        "32 threads pay 32 TLS handshakes, not one per request.\n"
        "A cold run reads each simulation's newest attempt record only: it carries the earlier\n"
        "records and `latest.json` as its runner found or wrote them, which the one listing\n"
        "shows unchanged (same ETag), and the runner's last progress report, so neither they\n"
        "nor `status.json` are read. No local-executor job record is asked for: these\n"
        "simulations have no job. A warm run over simulations that did not change sends no\n"
        "GetObject: the listing vouches for every record and pointer."
    )
    record("status", "Status over a sweep (10 / 100 / 1,000 simulations)", body)
