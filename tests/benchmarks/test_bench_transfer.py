"""Checkpoint transfer: ``S3Store`` (lmpspot.transfer) vs boto3's transfer manager.

A 64 MiB checkpoint (random bytes, committed by ``LocalStore``) is uploaded and
downloaded against the same moto S3 endpoint, interleaved in alternating order:
``S3Store.upload`` (one read per file: SHA256 per part and the whole file's sha256, checked
against the manifest, computed while reading; parts in parallel, HeadObject verify,
manifest last) and
``S3Store.upload_file`` of the restart file alone, against boto3 ``upload_file`` with
its default TransferConfig, with and without ``ChecksumAlgorithm=SHA256``; then
``S3Store.download`` (parallel ranged GETs, sha256 computed while writing) against boto3
``download_file``.  Reported as ratios; nothing timed is asserted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from perfdoc import record, table
from test_bench_runner import loadavg, make_bucket, med

pytestmark = pytest.mark.bench

MIB = 1024 * 1024
SIZE = int(os.environ.get("LMPSPOT_BENCH_TRANSFER_MIB", "64")) * MIB
ROUNDS = max(3, int(os.environ.get("LMPSPOT_BENCH_ROUNDS", "3")))


def _checkpoint(root: Path):
    from lmpspot.checkpoint import LocalStore

    store = LocalStore(root)
    staging = store.staging(1)
    (staging / "restart.bin").write_bytes(os.urandom(SIZE))
    man = store.commit(
        staging,
        seq=1,
        job_id="xfer",
        attempt=1,
        stage=0,
        stage_name="run#1",
        step=1000,
        stage_start_step=0,
        stage_target_step=2000,
        sim_time=5.0,
        lammps_version="bench",
        build_hash="0" * 64,
        input_hash="0" * 64,
        extra={},
    )
    return store.path_for(1), man


def test_transfer_vs_boto3(aws, tmp_path):
    from boto3.s3.transfer import TransferConfig

    from lmpspot.checkpoint import sha256_file
    from lmpspot.s3store import S3Store

    ckdir, man = _checkpoint(tmp_path / "ckpts")
    restart = ckdir / "restart.bin"
    sha = man.files["restart.bin"]["sha256"]
    bucket = "bench-transfer"
    make_bucket(aws, bucket)
    client = aws.client("s3")
    client.put_object(Bucket=bucket, Key="warm-up", Body=b"x")
    up = {"store": [], "store_file": [], "boto3": [], "boto3_sha": []}
    down = {"store": [], "boto3": [], "boto3_sha": []}
    for r in range(ROUNDS):
        order = list(up) if r % 2 == 0 else list(up)[::-1]
        for k in order:
            t0 = time.monotonic()
            if k == "store":
                store = S3Store(client, bucket, f"store-{r}/", man.job_id)
                store.upload(ckdir, man)
            elif k == "store_file":
                S3Store(client, bucket, f"file-{r}/", "xfer").upload_file(
                    restart, f"file-{r}/restart.bin", sha
                )
            elif k == "boto3":
                client.upload_file(str(restart), bucket, f"boto3-{r}/restart.bin", Config=TransferConfig())
            else:
                client.upload_file(
                    str(restart),
                    bucket,
                    f"boto3sha-{r}/restart.bin",
                    ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                    Config=TransferConfig(),
                )
            up[k].append(time.monotonic() - t0)
        for k in list(down) if r % 2 == 0 else list(down)[::-1]:
            dest = tmp_path / f"dl-{k}-{r}"
            dest.mkdir()
            t0 = time.monotonic()
            if k == "store":
                got = S3Store(client, bucket, "store-0/", man.job_id).download(1, dest, man)
                assert (got / "restart.bin").stat().st_size == SIZE
            else:
                client.download_file(
                    bucket, "boto3-0/restart.bin", str(dest / "restart.bin"), Config=TransferConfig()
                )
                if k == "boto3_sha":
                    assert sha256_file(dest / "restart.bin") == sha
            down[k].append(time.monotonic() - t0)
    assert S3Store(client, bucket, "store-0/", man.job_id).verify(1)
    mib = SIZE / MIB
    labels = {
        "store": "`S3Store.upload` (whole checkpoint: upload with sha256 checked against the manifest, "
        "HeadObject verify, manifest)",
        "store_file": "`S3Store.upload_file` of `restart.bin` (upload + HeadObject verify)",
        "boto3": "boto3 `upload_file`, default TransferConfig, no checksum argument",
        "boto3_sha": "boto3 `upload_file`, default TransferConfig, `ChecksumAlgorithm=SHA256`",
    }
    rows = [
        [
            labels[k],
            ", ".join(f"{x:.2f}" for x in v),
            f"{mib / med(v):.0f}",
            f"{med(up['boto3']) / med(v):.2f}",
        ]
        for k, v in up.items()
    ]
    rows += [
        [
            {
                "store": "`S3Store.download` (parallel ranged GETs, sha256 verified while writing)",
                "boto3": "boto3 `download_file`, default TransferConfig (no verify)",
                "boto3_sha": "boto3 `download_file` + sha256 of the file (what the verify costs)",
            }[k],
            ", ".join(f"{x:.2f}" for x in v),
            f"{mib / med(v):.0f}",
            f"{med(down['boto3']) / med(v):.2f}",
        ]
        for k, v in down.items()
    ]
    record(
        "transfer",
        "Checkpoint transfer: `S3Store` vs boto3's transfer manager",
        table(["transfer", "s (each)", "MiB/s (median)", "speed vs boto3 default (>1: faster)"], rows)
        + f"\n\nHow measured: one {mib:.0f} MiB random `restart.bin` committed by `LocalStore`; {ROUNDS} "
        "rounds, each method once per round in alternating order, to the same moto S3 endpoint "
        "(https, on this machine: the server's CPU competes with the client's). `S3Store` uses 8 MiB "
        "parts above 16 MiB, 10 threads, and reads each file once: the part's SHA256 for S3 (the "
        "composite follows from the part digests) and the whole file's sha256, compared with the "
        "manifest, come from that read; the download hashes the ranges in order as they arrive; "
        "boto3's default is 8 MiB parts, 10 threads. "
        f"Other engineers' jobs shared the machine (load average {loadavg()} at the end): "
        "compare within this table only.",
    )
