"""lmpspot.running: atomic entries, removal on exit, dead pids dropped, bad input refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lmpspot import running


def test_register_writes_and_removes_entry(tmp_path):
    rd = tmp_path / "run"
    with running.register("job-1", tmp_path / "w", tmp_path / "w" / "ckpt", run_dir=rd) as path:
        assert path == rd / "job-1.json"
        entry = json.loads(path.read_text())
        assert entry["pid"] == os.getpid()
        assert entry["job_id"] == "job-1"
        assert entry["workdir"] == str((tmp_path / "w").resolve())
        assert entry["checkpoint_dir"] == str((tmp_path / "w" / "ckpt").resolve())
        assert entry["started_at"].endswith("Z")
        assert oct(path.stat().st_mode & 0o777) == "0o644"
        assert [e["job_id"] for e in running.list_running(rd)] == ["job-1"]
        assert [p.name for p in rd.iterdir()] == ["job-1.json"]  # no temp files left
    assert not path.exists()
    assert running.list_running(rd) == []


def test_removed_even_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError), running.register("j", tmp_path, tmp_path, run_dir=tmp_path / "r"):
        raise RuntimeError("boom")
    assert running.list_running(tmp_path / "r") == []


def test_env_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LMPSPOT_RUN_DIR", str(tmp_path / "envrun"))
    with running.register("j", tmp_path, tmp_path):
        assert (tmp_path / "envrun" / "j.json").exists()
        assert len(running.list_running()) == 1


def test_dead_pids_are_dropped_and_pruned(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = int(proc.stdout)
    running.write_entry(
        tmp_path,
        {"pid": dead, "job_id": "dead", "workdir": "/w", "checkpoint_dir": "/c", "started_at": "x"},
    )
    (tmp_path / "junk.json").write_text("{not json")
    with running.register("alive", tmp_path, tmp_path, run_dir=tmp_path):
        assert [e["job_id"] for e in running.list_running(tmp_path)] == ["alive"]
        assert sorted(running.prune_stale(tmp_path)) == ["dead.json", "junk.json"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["alive.json"]


def test_an_entry_rewritten_by_another_pid_is_not_removed(tmp_path):
    with running.register("j", tmp_path, tmp_path, run_dir=tmp_path) as path:
        other = json.loads(path.read_text()) | {"pid": 1}
        running.write_entry(tmp_path, other)
    assert path.exists()  # a newer run of the same job owns it now


def test_zombies_count_as_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert running.pid_alive(proc.pid) is False
    finally:
        proc.wait()
    assert running.pid_alive(os.getpid()) is True
    assert running.pid_alive(0) is False


@pytest.mark.parametrize("job_id", ["", "../x", "a/b", "x.json", ".hidden", "a" * 129, "sp ace", None])
def test_bad_job_ids_are_refused(tmp_path, job_id):
    with pytest.raises(ValueError), running.register(job_id, tmp_path, tmp_path, run_dir=tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ('{"pid": "12", "job_id": "a", "workdir": "", "checkpoint_dir": "", "started_at": ""}', "a.json"),
        ('{"pid": 12, "job_id": "a"}', "a.json"),
        ('{"pid": 12, "job_id": "b", "workdir": "", "checkpoint_dir": "", "started_at": ""}', "a.json"),
        ("[1, 2]", "a.json"),
    ],
)
def test_malformed_entries_are_ignored(tmp_path, content, name):
    (tmp_path / name).write_text(content)
    assert running.read_entry(tmp_path / name) is None
    assert running.list_running(tmp_path) == []
