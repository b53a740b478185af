"""Choose the checkpoint a (re)started job resumes from.

The newest checkpoint that verifies wins, whether it is on local disk or in S3 (the
local copy is preferred at equal seq: no download).  Corrupt or incomplete ones are
skipped with a log line and an older one is tried.  A checkpoint written by a
different input deck or a different LAMMPS build is refused (``ResumeRefused``)
unless ``force`` is set: restarting a changed model from an old state is rarely
what anybody meant, and doing it silently would corrupt the science.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from lmpspot.checkpoint import LocalStore, Manifest
from lmpspot.s3store import S3Store, S3StoreError

LogFn = Callable[[str], None]
_log = logging.getLogger("lmpspot.resume")


class ResumeRefused(RuntimeError):
    """The newest valid checkpoint comes from another input deck or LAMMPS build."""

    def __init__(self, manifest: Manifest, where: str, mismatches: dict[str, tuple[str, str]]):
        self.manifest = manifest
        self.where = where
        self.mismatches = mismatches
        parts = [
            f"{what}: checkpoint has {have or '(none)'}, this run has {want or '(none)'}"
            for what, (have, want) in mismatches.items()
        ]
        super().__init__(
            f"refusing to resume from checkpoint seq {manifest.seq} (step {manifest.step}) "
            f"at {where}: it was written by a different "
            + " and ".join(mismatches)
            + " ("
            + "; ".join(parts)
            + "). Rerun with --force to resume from it anyway, or start a new job id."
        )


def _mismatches(man: Manifest, input_hash: str | None, build_hash: str | None) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if input_hash is not None and man.input_hash != input_hash:
        out["input"] = (man.input_hash, input_hash)
    if build_hash is not None and man.build_hash != build_hash:
        out["LAMMPS build"] = (man.build_hash, build_hash)
    return out


def find_resume_checkpoint(
    local: LocalStore,
    s3: S3Store | None,
    input_hash: str | None,
    build_hash: str | None,
    force: bool = False,
    log: LogFn | None = None,
) -> tuple[Path, Manifest] | None:
    """The newest verified checkpoint across local disk and S3, or None (fresh start).

    S3 checkpoints are downloaded into ``local.root`` (verified before they are
    renamed into place), so the returned path is always local.  ``input_hash`` /
    ``build_hash`` of None skip that comparison.  If S3 cannot be reached the local
    checkpoints are still used (logged loudly).  Raises ResumeRefused (see module doc).
    """
    log = log or _log.info
    candidates: dict[int, list[str]] = {}
    local_by_seq: dict[int, tuple[Path, Manifest | None]] = {}
    for path, man in local.list():
        seq = int(path.name.split("-")[1])
        local_by_seq[seq] = (path, man)
        candidates.setdefault(seq, []).append("local")
    s3_order: list[int] = []
    if s3 is not None:
        try:
            s3_order = s3.candidate_seqs()
        except (ClientError, BotoCoreError, S3StoreError) as exc:
            log(f"S3 is unreachable ({exc}); choosing among local checkpoints only")
        for seq in s3_order:
            candidates.setdefault(seq, []).append("s3")
    if not candidates:
        log("no checkpoints found locally or in S3: starting from the beginning")
        return None

    def check(man: Manifest, where: str) -> None:
        bad = _mismatches(man, input_hash, build_hash)
        if not bad:
            return
        err = ResumeRefused(man, where, bad)
        if not force:
            raise err
        log(f"WARNING (--force): {err}")

    # Newest first; at equal seq local comes first (no download needed).
    for seq in sorted(candidates, reverse=True):
        for where in candidates[seq]:
            if where == "local":
                path, man = local_by_seq[seq]
                if man is None:
                    log(f"local checkpoint {path.name}: incomplete (no valid manifest); skipping")
                    continue
                if not local.verify(path, use_cache=False):
                    log(f"local checkpoint {path.name}: {local.explain(path)}; skipping")
                    continue
                check(man, str(path))
                log(f"resuming from local checkpoint {path.name} (step {man.step})")
                return path, man
            assert s3 is not None
            try:
                man = s3.get_manifest(seq)
                if man is None:
                    log(f"s3 checkpoint {seq}: incomplete (no valid manifest); skipping")
                    continue
                reason = s3.explain(seq)
                if reason != "ok":
                    log(f"s3 checkpoint {seq}: {reason}; skipping")
                    continue
                check(man, s3.url(s3.ckpt_prefix(seq)))
                path = s3.download(seq, local.root, man)
            except (ClientError, BotoCoreError, S3StoreError, OSError) as exc:
                log(f"s3 checkpoint {seq}: could not be used ({exc}); trying an older one")
                continue
            log(f"resuming from s3 checkpoint {seq} (step {man.step}), downloaded to {path}")
            return path, man
    log("no checkpoint verifies: starting from the beginning")
    return None
