"""Running simulations register themselves so host services can find them.

A simulation writes ``<run_dir>/<job_id>.json`` (``{pid, job_id, workdir,
checkpoint_dir, started_at}``) while it runs and removes it when it ends.  The spot
handler signals every registered pid; the checkpoint-sync timer syncs every registered
checkpoint directory.  ``run_dir`` is ``LMPSPOT_RUN_DIR``, default ``/run/lmpspot``
(a tmpfs: entries do not outlive a reboot, nor do the processes they name).

Entries are written atomically (temp file + rename) so a reader never sees half a
file; entries whose pid is dead (a SIGKILLed run cannot clean up) are skipped by
``list_running`` and removed by ``prune_stale``.  Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lmpspot.timefmt import utc_iso

DEFAULT_RUN_DIR = "/run/lmpspot"
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REQUIRED_KEYS = ("pid", "job_id", "workdir", "checkpoint_dir", "started_at")


def run_dir_from_env(run_dir: str | os.PathLike | None = None) -> Path:
    """Argument, else ``LMPSPOT_RUN_DIR``, else ``/run/lmpspot``."""
    return Path(run_dir or os.environ.get("LMPSPOT_RUN_DIR") or DEFAULT_RUN_DIR)


def check_job_id(job_id: str) -> str:
    """A job id is a file name here: letters, digits, ``._-``; no path separators."""
    if not isinstance(job_id, str) or not _JOB_ID_RE.match(job_id) or job_id.endswith(".json"):
        raise ValueError(f"invalid job_id {job_id!r}: use letters, digits, '.', '_', '-' (max 128)")
    return job_id


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies count as dead)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie has exited: it will never checkpoint again
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def entry_path(run_dir: str | os.PathLike, job_id: str) -> Path:
    return Path(run_dir) / f"{check_job_id(job_id)}.json"


def write_entry(run_dir: str | os.PathLike, entry: dict[str, Any]) -> Path:
    """Write one entry atomically (mode 0644: the sync service runs as another user)."""
    rd = Path(run_dir)
    rd.mkdir(parents=True, exist_ok=True)
    path = entry_path(rd, entry["job_id"])
    fd, tmp = tempfile.mkstemp(prefix=f".{entry['job_id']}.", suffix=".tmp", dir=rd)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(entry, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def register(
    job_id: str,
    workdir: str | os.PathLike,
    checkpoint_dir: str | os.PathLike,
    pid: int | None = None,
    run_dir: str | os.PathLike | None = None,
) -> Iterator[Path]:
    """Register a running simulation for the ``with`` block; yields the entry's path.

    The entry is removed on exit -- but only if it is still ours (same pid), so a
    restarted run of the same job that re-registered is not unregistered by the old one.
    """
    rd = run_dir_from_env(run_dir)
    entry = {
        "pid": os.getpid() if pid is None else int(pid),
        "job_id": check_job_id(job_id),
        "workdir": str(Path(workdir).resolve()),
        "checkpoint_dir": str(Path(checkpoint_dir).resolve()),
        "started_at": utc_iso(),
    }
    path = write_entry(rd, entry)
    try:
        yield path
    finally:
        current = read_entry(path)
        if current is not None and current.get("pid") == entry["pid"]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def read_entry(path: str | os.PathLike) -> dict[str, Any] | None:
    """One entry, or None when missing, unreadable or malformed."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS):
        return None
    if not isinstance(data["pid"], int) or not isinstance(data["job_id"], str):
        return None
    if Path(path).name != f"{data['job_id']}.json":
        return None
    return data


def _entries(run_dir: str | os.PathLike | None) -> list[tuple[Path, dict[str, Any] | None]]:
    rd = run_dir_from_env(run_dir)
    try:
        paths = sorted(p for p in rd.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    return [(p, read_entry(p)) for p in paths]


def list_running(run_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Registered simulations whose pid is alive, sorted by job id."""
    return [e for _p, e in _entries(run_dir) if e is not None and pid_alive(e["pid"])]


def prune_stale(run_dir: str | os.PathLike | None = None) -> list[str]:
    """Remove entries whose pid is dead (or that are malformed); returns their file names."""
    gone = []
    for path, entry in _entries(run_dir):
        if entry is None or not pid_alive(entry["pid"]):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            gone.append(path.name)
    return gone


__all__ = [
    "DEFAULT_RUN_DIR",
    "check_job_id",
    "list_running",
    "pid_alive",
    "prune_stale",
    "read_entry",
    "register",
    "run_dir_from_env",
    "write_entry",
]
