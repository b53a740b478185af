"""S3Store against a real moto S3 server: upload/verify/download, pointer, prune, resume."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest

from lmpspot.checkpoint import LocalStore, ckpt_dir_name, read_manifest
from lmpspot.resume import ResumeRefused, find_resume_checkpoint
from lmpspot.s3store import MIB, S3Store

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-ckpt"
FIELDS = dict(job_id="job-1", lammps_version="22 Jul 2025", build_hash="bh", input_hash="ih")


def new_bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return s3


def store_for(client, **kw) -> S3Store:
    kw.setdefault("multipart_threshold", 5 * MIB)
    kw.setdefault("multipart_chunksize", 5 * MIB)
    return S3Store(client, BUCKET, "checkpoints/", "job-1", **kw)


def make_ckpt(local: LocalStore, seq: int, size: int = 4096, **over):
    d = local.staging(seq)
    (d / "restart.bin").write_bytes(os.urandom(size))
    (d / "state.json").write_text(f'{{"seq": {seq}}}')
    man = local.commit(d, **{**FIELDS, "step": seq * 10, **over})
    return local.path_for(seq), man


def test_upload_verify_download_multipart(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1, size=12 * MIB + 123)  # 3 parts of 5 MiB
    stats = st.upload(path, man)
    assert stats.bytes >= 12 * MIB and stats.files == 3
    head = client.head_object(Bucket=BUCKET, Key=st.key(1, "restart.bin"), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"]  # stored with a SHA256 checksum
    assert st.verify(1)
    assert st.list_seqs() == [1]
    dest = tmp_path / "dl"
    got = st.download(1, dest)
    assert got == dest / ckpt_dir_name(1)
    assert LocalStore(dest).verify(got)
    assert (got / "restart.bin").read_bytes() == (path / "restart.bin").read_bytes()
    # the manifest is the last object written: it is newer than (or as new as) every file
    objs = client.list_objects_v2(Bucket=BUCKET, Prefix=st.ckpt_prefix(1))["Contents"]
    by_key = {o["Key"]: o["LastModified"] for o in objs}
    man_time = by_key.pop(st.key(1, "manifest.json"))
    assert all(t <= man_time for t in by_key.values())


def test_corrupt_truncated_incomplete_are_skipped(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    for seq in (1, 2, 3, 4):
        p, m = make_ckpt(local, seq)
        st.upload(p, m)
        st.commit_latest(m)
    assert st.latest_seq() == 4
    # 4: corrupted in place (same size, different bytes, metadata copied by an "attacker")
    key4 = st.key(4, "restart.bin")
    head = client.head_object(Bucket=BUCKET, Key=key4)
    client.put_object(
        Bucket=BUCKET, Key=key4, Body=os.urandom(4096), Metadata=head["Metadata"], ChecksumAlgorithm="SHA256"
    )
    # 3: truncated object
    client.put_object(Bucket=BUCKET, Key=st.key(3, "restart.bin"), Body=b"short")
    # 2: incomplete upload (manifest never written)
    client.delete_object(Bucket=BUCKET, Key=st.key(2, "manifest.json"))
    assert not st.verify(4) and "SHA256" in st.explain(4)
    assert not st.verify(3) and "size" in st.explain(3)
    assert not st.verify(2) and "incomplete" in st.explain(2)
    assert st.verify(1)
    logs: list[str] = []
    st.log = logs.append
    got = st.download_newest_valid(tmp_path / "dl")
    assert got is not None
    path, man = got
    assert man.seq == 1 and LocalStore(tmp_path / "dl").verify(path)
    assert any("4" in line and "skipping" in line for line in logs)
    # a download of the corrupt one fails loudly and leaves nothing behind
    with pytest.raises(Exception, match="does not verify"):
        st.download(4, tmp_path / "dl2")
    assert not (tmp_path / "dl2" / ckpt_dir_name(4)).exists()


class RaceClient:
    """Wraps a boto3 client: runs ``hook`` once, just before the first pointer PUT."""

    def __init__(self, inner, pointer_key: str, hook):
        self._inner, self._key, self._hook = inner, pointer_key, hook

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def put_object(self, **kw):
        if kw.get("Key") == self._key and self._hook is not None:
            hook, self._hook = self._hook, None
            hook()
        return self._inner.put_object(**kw)


def test_pointer_conditional_commit(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    for seq in (2, 3, 4, 5, 6, 7):
        p, m = make_ckpt(local, seq)
        st.upload(p, m)
    # never backwards; idempotent at the same seq
    assert st.latest() is None
    assert st.commit_latest(st.get_manifest(5)) is True
    assert st.commit_latest(st.get_manifest(3)) is False
    assert st.latest_seq() == 5 and st.latest().step == 50
    assert st.commit_latest(st.get_manifest(5)) is True
    # an unverified (never uploaded) checkpoint is never named by the pointer
    _p, m9 = make_ckpt(local, 9)
    with pytest.raises(Exception, match="does not verify"):
        st.commit_latest(m9)
    assert st.latest_seq() == 5

    # a concurrent writer moves the pointer between our read (etag) and our PUT:
    # our If-Match fails with 412, we re-read and decide again
    for other_seq, ours, expect_moved, final in ((7, 6, False, 7), (4, 6, True, 6)):
        c2 = aws.client("s3")
        job = f"race-{other_seq}"
        base = S3Store(c2, BUCKET, "checkpoints/", job)
        for seq in (2, other_seq, ours):
            m = dataclasses.replace(read_manifest(local.path_for(seq)), job_id=job)
            base.upload(local.path_for(seq), m)
        base.commit_latest(base.get_manifest(2))
        other = S3Store(c2, BUCKET, "checkpoints/", job)
        racing = S3Store(
            RaceClient(c2, base.pointer_key, lambda o=other, s=other_seq: o.commit_latest(o.get_manifest(s))),
            BUCKET,
            "checkpoints/",
            job,
        )
        logs: list[str] = []
        racing.log = logs.append
        assert racing.commit_latest(racing.get_manifest(ours)) is expect_moved
        assert base.latest_seq() == final
        assert any("changed under us" in line for line in logs)  # it did get a 412

    # many writers at once (own client each, like separate processes): the max wins
    errors: list[BaseException] = []
    mans = [st.get_manifest(s) for s in (2, 3, 4, 5, 6, 7)]
    st.client.delete_object(Bucket=BUCKET, Key=st.pointer_key)

    def commit(m):
        try:
            store_for(aws.client("s3")).commit_latest(m, verify=False, max_attempts=30)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(m,)) for m in mans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert st.latest_seq() == 7


def test_s3_prune_keeps_verified_and_pointer(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    for seq in range(1, 7):
        p, m = make_ckpt(local, seq)
        st.upload(p, m)
    st.commit_latest(st.get_manifest(2))  # pointer deliberately at an old seq
    client.put_object(Bucket=BUCKET, Key=st.key(6, "restart.bin"), Body=b"bad")  # 6 corrupt
    deleted = st.prune(keep=2)
    # the furthest verified two are 5 and 4; 2 is the pointer's; 3 and 6 are newer than
    # the pointer (never pruned); only 1 goes
    assert sorted(deleted) == [1]
    assert st.list_seqs() == [6, 5, 4, 3, 2]
    assert not client.list_objects_v2(Bucket=BUCKET, Prefix=st.ckpt_prefix(1)).get("Contents")


def test_resume_prefers_newest_across_local_and_s3(aws, tmp_path: Path):
    client = new_bucket(aws)
    writer = LocalStore(tmp_path / "writer")
    st = store_for(client)
    for seq in (1, 2, 3):
        p, m = make_ckpt(writer, seq)
        st.upload(p, m)
        st.commit_latest(m)
    # the new instance has only seq 1 locally (e.g. an older local copy)
    local = LocalStore(tmp_path / "node")
    make_ckpt(local, 1)
    path, man = find_resume_checkpoint(local, st, "ih", "bh", log=lambda m: None)
    assert man.seq == 3 and path == local.path_for(3) and local.verify(path)
    # S3's newest corrupted -> falls back to 2 (still newer than local 1)
    client.put_object(Bucket=BUCKET, Key=st.key(3, "restart.bin"), Body=b"x")
    import shutil

    shutil.rmtree(path)
    path, man = find_resume_checkpoint(local, st, "ih", "bh", log=lambda m: None)
    assert man.seq == 2
    # refused before download when the build differs
    with pytest.raises(ResumeRefused, match="--force"):
        find_resume_checkpoint(LocalStore(tmp_path / "n2"), st, "ih", "other", log=lambda m: None)
    assert not (tmp_path / "n2" / ckpt_dir_name(2)).exists()


def test_upload_throughput_numbers(aws, tmp_path: Path, record_property):
    """Measure upload MiB/s vs size on the moto server (numbers for the report)."""
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client, multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    rows = []
    for seq, size in enumerate((1 * MIB, 8 * MIB, 32 * MIB), start=1):
        p, m = make_ckpt(local, seq, size=size)
        t0 = time.monotonic()
        stats = st.upload(p, m)
        rows.append((size // MIB, stats.seconds, stats.mib_per_s))
        assert stats.seconds <= time.monotonic() - t0 + 0.01
        assert st.verify(seq)
    for size_mib, secs, rate in rows:
        record_property(f"upload_{size_mib}MiB", f"{secs:.2f}s {rate:.1f}MiB/s")
        print(f"upload {size_mib:>4} MiB: {secs:6.2f} s  {rate:7.1f} MiB/s")


def test_checkpoints_cli(aws, tmp_path: Path, capsys, monkeypatch):
    from lmpspot.checkpoint_cli import main

    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    for seq in (1, 2, 3):
        p, m = make_ckpt(local, seq)
        st.upload(p, m)
        st.commit_latest(m)
    for k, v in aws.env.items():
        monkeypatch.setenv(k, v)
    s3args = ["--bucket", BUCKET, "--job", "job-1", "--endpoint-url", aws.endpoint_url]
    assert main(["checkpoints", "list", "--local", str(local.root), *s3args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["where"], r["seq"]) for r in rows] == [
        ("local", 3),
        ("local", 2),
        ("local", 1),
        ("s3", 3),
        ("s3", 2),
        ("s3", 1),
    ]
    assert [r.get("latest") for r in rows if r["where"] == "s3"] == [True, False, False]
    assert main(["checkpoints", "verify", "--local", str(local.root), *s3args]) == 0
    client.put_object(Bucket=BUCKET, Key=st.key(2, "restart.bin"), Body=b"x")
    assert main(["checkpoints", "verify", *s3args]) == 1
    assert "s3 2: restart.bin: size" in capsys.readouterr().out
    assert main(["checkpoints", "download", *s3args, "--dest", str(tmp_path / "dl")]) == 0
    assert capsys.readouterr().out.strip().endswith(ckpt_dir_name(3))
    assert main(["checkpoints", "prune", "--keep", "1", "--local", str(local.root), *s3args]) == 0
    assert st.list_seqs() == [3] and [m.seq for _p, m in local.list()] == [3]
