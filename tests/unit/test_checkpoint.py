"""LocalStore: atomic commit, verification (truncation, corruption), listing, pruning."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmpspot.checkpoint import (
    MANIFEST_NAME,
    LocalStore,
    Manifest,
    ManifestError,
    ckpt_dir_name,
    sha256_file,
)
from lmpspot.resume import ResumeRefused, find_resume_checkpoint

FIELDS = dict(
    job_id="job-1",
    attempt=1,
    stage=0,
    stage_name="equil",
    stage_start_step=0,
    stage_target_step=10000,
    sim_time=1.5,
    lammps_version="22 Jul 2025",
    build_hash="b" * 8,
    input_hash="i" * 8,
)


def make_ckpt(store: LocalStore, seq: int, payload: bytes | None = None, **over) -> tuple:
    d = store.staging(seq)
    (d / "restart.bin").write_bytes(payload if payload is not None else os.urandom(4096))
    (d / "sub").mkdir()
    (d / "sub" / "state.json").write_text(json.dumps({"seq": seq}))
    fields = {**FIELDS, "step": seq * 100, **over}
    man = store.commit(d, **fields)
    return store.path_for(seq), man


def test_manifest_roundtrip_and_validation():
    m = Manifest(seq=3, files={"a": {"sha256": "0" * 64, "size": 1}}, **FIELDS, step=300)
    back = Manifest.from_json(m.to_json())
    assert back == m
    assert back.created_at.endswith("Z")
    with pytest.raises(ManifestError):
        Manifest.from_json("{not json")
    with pytest.raises(ManifestError):
        Manifest.from_json(json.dumps({"seq": 1}))  # no job_id
    bad = m.to_dict()
    bad["files"] = {"../etc/passwd": {"sha256": "0" * 64, "size": 1}}
    with pytest.raises(ManifestError):
        Manifest.from_dict(bad)
    bad = m.to_dict()
    bad["files"] = {"a": {"sha256": "xyz", "size": 1}}
    with pytest.raises(ManifestError):
        Manifest.from_dict(bad)
    bad = m.to_dict()
    bad["seq"] = "3"
    with pytest.raises(ManifestError):
        Manifest.from_dict(bad)


def test_commit_writes_manifest_with_checksums(tmp_path: Path):
    store = LocalStore(tmp_path)
    payload = os.urandom(10000)
    path, man = make_ckpt(store, 7, payload)
    assert path.name == "ckpt-0000000007"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]
    on_disk = Manifest.from_json((path / MANIFEST_NAME).read_text())
    assert on_disk == man
    assert set(man.files) == {"restart.bin", "sub/state.json"}
    assert man.files["restart.bin"]["size"] == 10000
    assert man.files["restart.bin"]["sha256"] == sha256_file(path / "restart.bin")
    assert man.step == 700 and man.seq == 7 and man.job_id == "job-1"
    assert store.verify(path)
    assert store.newest_valid() == (path, man)
    # the same seq cannot be committed twice
    d = store.staging(7)
    with pytest.raises(FileExistsError):
        store.commit(d, job_id="job-1")


def test_truncated_and_corrupted_detected_and_skipped(tmp_path: Path):
    store = LocalStore(tmp_path)
    p1, m1 = make_ckpt(store, 1)
    p2, _ = make_ckpt(store, 2)
    p3, _ = make_ckpt(store, 3)
    assert store.newest_valid()[0] == p3
    # truncate the newest: detected (size), newest valid falls back to 2
    with open(p3 / "restart.bin", "r+b") as fh:
        fh.truncate(100)
    assert not store.verify(p3)
    assert "size" in store.explain(p3)
    assert store.newest_valid()[0] == p2
    # corrupt one byte of 2 without changing its size (and keep mtime): sha256 catches it
    st = (p2 / "restart.bin").stat()
    data = bytearray((p2 / "restart.bin").read_bytes())
    data[17] ^= 0xFF
    (p2 / "restart.bin").write_bytes(bytes(data))
    os.utime(p2 / "restart.bin", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not store.verify(p2, use_cache=False)
    assert "sha256" in store.explain(p2)
    assert store.newest_valid(use_cache=False) == (p1, m1)
    # a missing file is detected too
    (p1 / "sub" / "state.json").unlink()
    assert not store.verify(p1)
    assert store.newest_valid() is None


def test_incomplete_dirs(tmp_path: Path):
    store = LocalStore(tmp_path)
    p1, _ = make_ckpt(store, 1)
    # a checkpoint dir whose manifest never got written (crash before rename of manifest)
    (tmp_path / ckpt_dir_name(5)).mkdir()
    (tmp_path / ckpt_dir_name(5) / "restart.bin").write_bytes(b"x" * 10)
    # a manifest that is garbage
    (tmp_path / ckpt_dir_name(6)).mkdir()
    (tmp_path / ckpt_dir_name(6) / MANIFEST_NAME).write_text('{"job_id": "job-1", "se')
    listed = store.list()
    assert [p.name for p, _m in listed] == [ckpt_dir_name(s) for s in (6, 5, 1)]
    assert listed[0][1] is None and listed[1][1] is None
    assert store.newest_valid()[0] == p1
    assert store.next_seq() == 7


def test_prune_keeps_newest_valid_and_protected(tmp_path: Path):
    store = LocalStore(tmp_path)
    paths = {s: make_ckpt(store, s)[0] for s in range(1, 7)}
    # a crash leftover (old staging) and an in-progress staging dir (newer seq)
    old_staging = store.staging(3)
    in_progress = store.staging(9)
    # corrupt 5: it does not count as valid
    with open(paths[5] / "restart.bin", "r+b") as fh:
        fh.truncate(1)
    removed = store.prune(keep=2, protect={ckpt_dir_name(2)})
    remaining = {p.name for p, _m in store.list()}
    assert remaining == {ckpt_dir_name(s) for s in (6, 4, 2)}
    assert not old_staging.exists()
    assert in_progress.exists()
    assert paths[1] in removed and paths[5] in removed and paths[3] in removed
    with pytest.raises(ValueError):
        store.prune(keep=0)


def test_resume_local_refuses_other_input(tmp_path: Path):
    store = LocalStore(tmp_path)
    make_ckpt(store, 1)
    p2, m2 = make_ckpt(store, 2)
    logs: list[str] = []
    got = find_resume_checkpoint(store, None, FIELDS["input_hash"], FIELDS["build_hash"], log=logs.append)
    assert got == (p2, m2)
    with pytest.raises(ResumeRefused) as ei:
        find_resume_checkpoint(store, None, "other-input", FIELDS["build_hash"], log=logs.append)
    msg = str(ei.value)
    assert "other-input" in msg and FIELDS["input_hash"] in msg and "--force" in msg
    with pytest.raises(ResumeRefused) as ei:
        find_resume_checkpoint(store, None, FIELDS["input_hash"], "newbuild", log=logs.append)
    assert "LAMMPS build" in str(ei.value)
    got = find_resume_checkpoint(store, None, "other-input", "newbuild", force=True, log=logs.append)
    assert got == (p2, m2)
    assert any("--force" in line for line in logs)
    assert find_resume_checkpoint(LocalStore(tmp_path / "empty"), None, "x", "y", log=logs.append) is None


def test_next_seq_floor(tmp_path: Path):
    store = LocalStore(tmp_path)
    assert store.next_seq() == 0
    assert store.next_seq(at_least=12) == 12
    make_ckpt(store, 3)
    assert store.next_seq() == 4 and store.next_seq(at_least=2) == 4
    store.staging(8)
    assert store.next_seq() == 9
