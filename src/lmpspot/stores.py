"""Rank 0's checkpoint stores for one attempt, and the resume point they give.

:meth:`AttemptStores.find_resume` opens the :class:`~lmpspot.checkpoint.LocalStore`, takes
the lease and starts the attempt record (:class:`~lmpspot.guard.AttemptGuard`), picks the
resume checkpoint (:func:`lmpspot.resume.find_resume_checkpoint`, local then S3), starts
the :class:`~lmpspot.sync.CheckpointSyncer` and numbers new checkpoints after S3's newest.
The other MPI ranks get rank 0's answer (or its refusal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import LocalStore, Manifest, ckpt_dir_name
from lmpspot.guard import AttemptGuard, LeaseHeld, StoreUnavailable
from lmpspot.mpi import agree
from lmpspot.resume import ResumeRefused, find_resume_checkpoint, with_store_retry
from lmpspot.script import ScriptError
from lmpspot.sync import CheckpointSyncer


class AttemptStores:
    """``cfg`` is the :class:`lmpspot.runner.RunnerConfig`; ``s3`` an optional
    :class:`lmpspot.s3store.S3Store`.  ``local``, ``syncer`` and ``guard`` stay None on
    ranks other than 0."""

    def __init__(self, world: Any, *, cfg: Any, s3: Any, log: Callable[[str], None]) -> None:
        self.world = world
        self.is_root = world.rank == 0
        self.cfg = cfg
        self.s3 = s3
        self.log = log
        self.local: LocalStore | None = None
        self.syncer: CheckpointSyncer | None = None
        self.guard: AttemptGuard | None = None
        self.rejected: set[int] = set()
        self.seq_floor = 0  # new checkpoints continue after S3's newest seq

    def find_resume(self, input_hash: str, build_hash: str) -> tuple[Path, Manifest] | None:
        """Rank 0: open the checkpoint store and pick the resume checkpoint (local or S3);
        the other ranks get its path and manifest (or rank 0's refusal)."""
        if self.world.size == 1:
            found = self._guarded_resume(input_hash, build_hash)
            self.seq_floor = self._remote_seq_floor()
            return found
        msg: dict[str, Any] | None = None
        refused: ResumeRefused | None = None
        if self.is_root:
            try:
                found = self._guarded_resume(input_hash, build_hash)
                self.seq_floor = self._remote_seq_floor()
                msg = {"found": None if found is None else [str(found[0]), found[1].to_dict()]}
            except (ResumeRefused, LeaseHeld, StoreUnavailable) as e:
                refused = e
                msg = {"refused": str(e), "kind": type(e).__name__}
        msg = agree(self.world, msg)
        if "refused" in msg:
            if refused is not None:
                raise refused
            # the other ranks end as rank 0 does
            if msg["kind"] == "LeaseHeld":
                raise LeaseHeld(msg["refused"])
            if msg["kind"] == "StoreUnavailable":
                raise StoreUnavailable(msg["refused"])
            raise ScriptError(msg["refused"])
        if msg["found"] is None:
            return None
        path, man = msg["found"]
        return Path(path), Manifest.from_dict(man)

    def _guarded_resume(self, input_hash: str, build_hash: str) -> tuple[Path, Manifest] | None:
        """Rank 0: lease, fail-safe resume search, attempt record (:mod:`lmpspot.guard`)."""
        cfg = self.cfg
        self.local = LocalStore(cfg.checkpoint_dir or cfg.workdir.resolve() / "checkpoints")

        def resolve() -> tuple[Path, Manifest] | None:
            return find_resume_checkpoint(
                self.local, self.s3, input_hash, build_hash, force=cfg.force, log=self.log,
                exclude=self.rejected,
            )  # fmt: skip

        if self.guard is None:
            self.guard = AttemptGuard(
                self.s3,
                cfg.job_id,
                cfg.workdir.resolve() / ".attempts",
                attempt=cfg.attempt,
                store_wait=cfg.store_wait,
                lease_ttl=cfg.lease_ttl,
                log=self.log,
            )
            found = self.guard.start(resolve)
        else:  # a rejected checkpoint was set aside: look again
            found = with_store_retry(resolve, self.guard.store_wait, self.log)
        if self.syncer is None:
            self.syncer = CheckpointSyncer(
                self.local, self.s3, cfg.retention, log=self.log, lease=self.guard.lease,
                on_commit=self.guard.committed,
            )  # fmt: skip
        return found

    def _remote_seq_floor(self) -> int:
        """One past S3's newest checkpoint seq, so a fresh node's checkpoints sort after it.

        (A node that did not resume from S3 -- e.g. the S3 copy was refused -- would
        otherwise restart at seq 0 below S3's newest and the pointer would never move.)
        """
        if self.s3 is None:
            return 0
        try:
            return max(self.s3.list_seqs(), default=-1) + 1
        except Exception as e:  # S3 unreachable: local seqs still rise; the syncer warns
            self.log(f"could not list S3 checkpoints ({e}); numbering from local checkpoints")
            return 0

    def set_aside(self, seq: int) -> None:
        """A checkpoint LAMMPS could not read: renamed ``.rejected-*`` locally, listed in
        the attempt record, and skipped by the next :meth:`find_resume`."""
        self.rejected.add(seq)
        if self.local is not None:
            bad = self.local.path_for(seq)
            if bad.exists():
                with contextlib.suppress(OSError):
                    bad.rename(bad.with_name(f".rejected-{ckpt_dir_name(seq)}"))
        if self.guard is not None:
            self.guard.record.set(rejected_checkpoints=sorted(self.rejected))
