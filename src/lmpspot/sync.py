"""Background upload of checkpoints (and outputs) to S3 while the simulation runs.

``CheckpointSyncer.submit`` returns at once; a worker thread uploads, verifies,
moves the S3 pointer and prunes.  While S3 is unreachable it retries with
exponential backoff and full jitter; the simulation is never blocked, and no local
checkpoint newer than the newest one verified in S3 is pruned.

Ordering rules (the invariants the tests check):

* a checkpoint is uploaded, then verified, then the pointer is moved to it;
* S3 prune runs only after the pointer moved (and never touches the pointer's seq);
* local prune keeps ``retention`` valid checkpoints plus every checkpoint newer than
  the newest one verified in S3 (with no S3 configured: just ``retention``);
* when several checkpoints queue up during an outage only the newest is uploaded
  (``coalesce=True``): older ones are superseded, not needed for a resume; at most
  ``max_unsynced`` unsynced local checkpoints are kept (newest first, with a warning);
* with a lease (:mod:`lmpspot.lease`) it is renewed before a checkpoint's upload, and
  the pointer commit carries its token: a superseded runner neither claims a checkpoint
  number nor moves the pointer (``lease.lost`` is set; the runner stops with exit 3);
* checkpoints go before outputs: an output upload checks for a waiting checkpoint
  between files and between the parts of a large file, and steps aside (the rest is
  uploaded after the checkpoint);
* outputs that only grew (logs, dumps, ``fix ave/*`` files) upload only their new
  bytes: the object is rebuilt server-side as a multipart upload whose first parts are
  copies of the object already in S3 (``UploadPartCopy``) and whose last parts are the
  new bytes, so readers always see one whole object at the usual key.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import LocalStore, Manifest, ckpt_dir_name
from lmpspot.lease import LeaseLost
from lmpspot.outputs import OutputUploader, Preempted
from lmpspot.s3store import Fenced, LocalCheckpointInvalid, S3Store, SeqTaken, UploadStats

LogFn = Callable[[str], None]
_log = logging.getLogger("lmpspot.sync")


class _Permanent(Exception):
    """A sync item that no retry can fix (e.g. its local copy is corrupt): drop it."""


@dataclass
class SyncStats:
    """Counters for benchmarks and progress reporting."""

    uploads: list[UploadStats] = field(default_factory=list)
    output_bytes: int = 0
    output_seconds: float = 0.0
    output_files: int = 0
    failures: int = 0
    retries: int = 0
    last_error: str = ""
    verified_seq: int | None = None
    committed_seq: int | None = None
    superseded: int = 0

    @property
    def bytes(self) -> int:
        return sum(u.bytes for u in self.uploads)

    @property
    def seconds(self) -> float:
        return sum(u.seconds for u in self.uploads)

    @property
    def last_upload_seconds(self) -> float | None:
        return self.uploads[-1].seconds if self.uploads else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkpoint_uploads": len(self.uploads),
            "checkpoint_bytes": self.bytes,
            "checkpoint_seconds": round(self.seconds, 3),
            "checkpoint_mib_per_s": round((self.bytes / 2**20) / self.seconds, 2)
            if self.seconds > 0
            else None,
            "last_upload_seconds": self.last_upload_seconds,
            "output_bytes": self.output_bytes,
            "output_seconds": round(self.output_seconds, 3),
            "output_files": self.output_files,
            "failures": self.failures,
            "retries": self.retries,
            "superseded": self.superseded,
            "last_error": self.last_error,
            "verified_seq": self.verified_seq,
            "committed_seq": self.committed_seq,
        }


class CheckpointSyncer:
    """Upload checkpoints to S3 in a background thread; prune only what is safe."""

    def __init__(
        self,
        local: LocalStore,
        s3: S3Store | None,
        retention: int,
        log: LogFn | None = None,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        coalesce: bool = True,
        flush_retry_max: float = 2.0,
        start: bool = True,
        lease: Any = None,
        on_commit: Callable[[Manifest], None] | None = None,
        max_unsynced: int = 3,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be >= 1")
        self.local = local
        self.s3 = s3
        self.retention = retention
        self.log: LogFn = log or _log.info
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.coalesce = coalesce
        self.flush_retry_max = flush_retry_max
        self.lease = lease
        self.on_commit = on_commit
        self.max_unsynced = max(1, max_unsynced)
        self.seq_floor = 0  # a seq another writer claimed: new checkpoints number above it
        self._uploader = (
            OutputUploader(s3, self.local.root, self._checkpoint_waiting) if s3 is not None else None
        )
        self.last_backoff = 0.0
        self._flushing = 0
        self.stats = SyncStats()
        self._cond = threading.Condition()
        self._pending: list[tuple[Path, Manifest]] = []
        self._outputs: list[tuple[list[Path], str]] = []
        self._submitted_seq = -1
        self._done_seq = -1
        self._busy = False
        self._stop = False
        self._urgent = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lmpspot-sync", daemon=True)
            self._thread.start()

    def __enter__(self) -> CheckpointSyncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float | None = 60.0) -> bool:
        """Flush (up to ``timeout`` s), then stop the worker.  Returns flush's result."""
        ok = self.flush(timeout) if timeout else self.idle
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._urgent.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        return ok

    # -- producer side -----------------------------------------------------------------
    def submit(self, ckpt_dir: Path, manifest: Manifest) -> None:
        """Queue a committed local checkpoint for upload; returns immediately."""
        with self._cond:
            if manifest.seq <= self._submitted_seq:
                self.log(f"checkpoint {manifest.seq} submitted after {self._submitted_seq}")
            self._submitted_seq = max(self._submitted_seq, manifest.seq)
            if self.coalesce and self._pending:
                self.stats.superseded += len(self._pending)
                self._pending.clear()
            self._pending.append((Path(ckpt_dir), manifest))
            self._cond.notify_all()

    def sync_outputs(self, paths: Iterable[Path | str], results_prefix: str) -> None:
        """Queue outputs (files or directories) for upload under ``results_prefix``.

        Files unchanged (size, mtime) since their last upload are skipped.  Runs in the
        worker after pending checkpoints; ``flush`` waits for it too.
        """
        if self.s3 is None:
            return
        if results_prefix and not results_prefix.endswith("/"):
            results_prefix += "/"
        with self._cond:
            self._outputs.append(([Path(p) for p in paths], results_prefix))
            self._cond.notify_all()

    @property
    def idle(self) -> bool:
        """True when nothing is queued or in flight."""
        with self._cond:
            return not self._pending and not self._outputs and not self._busy

    @property
    def verified_seq(self) -> int | None:
        """Newest seq verified in S3 by this syncer (None before the first)."""
        return self.stats.verified_seq

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted is uploaded, verified and committed.

        Cuts a running backoff short (retry now).  Returns False on timeout.  With no
        S3 configured it returns True at once (checkpoints are local only).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
        self._urgent.set()
        try:
            with self._cond:
                while self._pending or self._outputs or self._busy:
                    if self._thread is None or self._stop:
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(timeout=0.5 if remaining is None else min(remaining, 0.5))
                return self._done_seq >= self._submitted_seq
        finally:
            with self._cond:
                self._flushing -= 1

    # -- worker ------------------------------------------------------------------------
    def _sleep_backoff(self, attempt: int) -> None:
        """Exponential backoff with jitter; shortened (<= flush_retry_max s) during a flush."""
        cap = min(self.backoff_max, self.backoff_initial * (2**attempt))
        delay = random.uniform(self.backoff_initial / 2, max(cap, self.backoff_initial))  # noqa: S311
        if self._flushing:
            delay = min(delay, self.flush_retry_max)
        self.last_backoff = delay
        if self._urgent.wait(delay):
            self._urgent.clear()
            if self._flushing:  # a flush began mid-sleep: retry soon, not after minutes
                time.sleep(min(delay, self.flush_retry_max * random.random()))  # noqa: S311

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                while not self._pending and not self._outputs and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                kind = "ckpt" if self._pending else "out"
                item: Any = self._pending[0] if kind == "ckpt" else self._outputs[0]
                self._busy = True
            outcome = self._sync_item(kind, item, attempt)
            with self._cond:
                self._busy = False
                self._settle(kind, item, outcome)
                if outcome in ("done", "dropped"):
                    attempt = 0
                self._cond.notify_all()
                if self._stop:
                    return
            if outcome == "retry":
                self.stats.retries += 1
                self._sleep_backoff(attempt)
                attempt += 1

    def _sync_item(self, kind: str, item: Any, attempt: int) -> str:
        """Sync one queued item; the outcome: done, preempted, superseded, dropped or retry."""
        try:
            if kind == "ckpt":
                self._sync_checkpoint(*item)
            else:
                self._upload_outputs(*item)
        except Preempted:
            return "preempted"  # a checkpoint is waiting: it goes first, outputs after
        except (LeaseLost, Fenced) as exc:
            if self.lease is not None:
                self.lease.lost.set()
            self.stats.last_error = str(exc)
            self.log(f"sync stopped: {exc}")
            return "superseded"
        except _Permanent as exc:
            self.stats.failures += 1
            self.stats.last_error = str(exc)
            self.log(f"sync gave up on an item: {exc}")
            return "dropped"
        except Exception as exc:  # retried: S3 down, throttled, timeouts, ...
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            self.log(f"sync failed (attempt {attempt + 1}), will retry: {self.stats.last_error}")
            return "retry"
        return "done"

    def _settle(self, kind: str, item: Any, outcome: str) -> None:
        """Update the queues after ``item`` was tried (called with ``_cond`` held)."""
        if outcome == "superseded":
            self._pending.clear()
            self._outputs.clear()
        elif outcome in ("done", "dropped"):  # preempted: the output item stays queued
            queue = self._pending if kind == "ckpt" else self._outputs
            if queue and queue[0] is item:
                queue.pop(0)
            if kind == "ckpt" and outcome == "done":
                self._done_seq = max(self._done_seq, item[1].seq)

    def _checkpoint_waiting(self) -> bool:
        with self._cond:
            return bool(self._pending) or self._stop

    def _sync_checkpoint(self, ckpt_dir: Path, manifest: Manifest) -> None:
        if self.s3 is None:
            self._prune_local()
            return
        token = self.lease.token if self.lease is not None else None
        if self.lease is not None:
            self.lease.renew()  # proves we still own the simulation before writing
        if self.stats.verified_seq is None or manifest.seq > self.stats.verified_seq:
            remote = self.s3.get_manifest(manifest.seq)
            same = remote is not None and remote.files == manifest.files
            if not (same and self.s3.verify(manifest.seq)):
                try:
                    up = self.s3.upload(ckpt_dir, manifest)
                except LocalCheckpointInvalid as exc:
                    raise _Permanent(str(exc)) from exc
                except SeqTaken as exc:
                    self.seq_floor = max(self.seq_floor, manifest.seq + 1)
                    raise _Permanent(f"{exc}; the next checkpoint is numbered above it") from exc
                self.stats.uploads.append(up)
                self.log(
                    f"checkpoint {manifest.seq} uploaded: {up.bytes} B in {up.seconds:.2f}s "
                    f"({up.mib_per_s:.1f} MiB/s)"
                )
            if not self.s3.verify(manifest.seq):
                raise RuntimeError(f"checkpoint {manifest.seq} does not verify after upload")
            self.stats.verified_seq = manifest.seq
        if not self.s3.commit_latest(manifest, verify=False, token=token):
            self.log(
                f"s3 pointer names a checkpoint at least as far as {manifest.seq}: this one is "
                "stored but the pointer stays"
            )
        elif self.on_commit is not None:
            self.on_commit(manifest)
        self.stats.committed_seq = max(self.stats.committed_seq or -1, manifest.seq)
        try:
            gone = self.s3.prune(self.retention)
            if gone:
                self.log(f"pruned s3 checkpoints {gone}")
        except Exception as exc:  # pruning is housekeeping: never fail the sync for it
            self.log(f"s3 prune failed (will retry next time): {exc}")
        self._prune_local()

    def _prune_local(self) -> None:
        protect: set[str] = set()
        if self.s3 is not None:
            synced = self.stats.verified_seq if self.stats.verified_seq is not None else -1
            unsynced = sorted(
                (m.seq for _p, m in self.local.list() if m is not None and m.seq > synced), reverse=True
            )
            protect = {ckpt_dir_name(seq) for seq in unsynced[: self.max_unsynced]}
            if len(unsynced) > self.max_unsynced:
                self.log(
                    f"WARNING: {len(unsynced)} checkpoints not in S3 yet: keeping the newest "
                    f"{self.max_unsynced} locally ({sorted(protect)}), removing older unsynced ones"
                )
        try:
            gone = self.local.prune(self.retention, protect=protect)
            if gone:
                self.log(f"pruned local {[p.name for p in gone]}")
        except Exception as exc:
            self.log(f"local prune failed: {exc}")

    def _upload_outputs(self, paths: list[Path], results_prefix: str) -> None:
        assert self._uploader is not None
        for base in paths:
            if base.is_dir():
                files = [
                    (f"{base.name}/{p.relative_to(base).as_posix()}", p)
                    for p in sorted(base.rglob("*"))
                    if p.is_file()
                ]
            elif base.is_file():
                files = [(base.name, base)]
            else:
                continue
            for rel, path in files:
                if self._checkpoint_waiting():
                    raise Preempted()
                t0 = time.monotonic()
                sent = self._uploader.upload(path, results_prefix + rel)
                if sent is None:
                    continue
                self.stats.output_seconds += time.monotonic() - t0
                self.stats.output_bytes += sent
                self.stats.output_files += 1


def results_prefix_for(job_id: str, root: str = "results/") -> str:
    """The conventional results prefix of a job: ``results/<job_id>/``."""
    root = root if root.endswith("/") else root + "/"
    return f"{root}{job_id}/"


__all__ = ["CheckpointSyncer", "SyncStats", "results_prefix_for"]
