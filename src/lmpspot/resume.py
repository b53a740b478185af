"""Choose the checkpoint a (re)started job resumes from.

The furthest checkpoint (by stage, then step) that verifies wins, whether it is on
local disk or in S3 (the local copy is preferred at equal seq: no download).  Corrupt
or incomplete ones are skipped with a log line and an older one is tried.

Fail-safe: with S3 configured, "start from the beginning" needs positive evidence -- a
complete S3 listing without any checkpoint and no local one.  Every other outcome
(connection refused, timeout, 5xx, 403, throttling, a listing or object cut short,
checkpoints that exist but none verifies) raises :class:`StoreUnavailable`;
:func:`with_store_retry` retries it for a bounded time and the runner then exits
``EXIT_STORE_UNAVAILABLE`` (76) without running an MD step.  A checkpoint written by a
different input deck or a different LAMMPS build is refused (``ResumeRefused``)
unless ``force`` is set: restarting a changed model from an old state is rarely
what anybody meant, and doing it silently would corrupt the science.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lmpspot.checkpoint import LocalStore, Manifest
from lmpspot.s3store import DEFAULT_PREFIX, S3Store, S3StoreError, progress_of

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


class StoreUnavailable(RuntimeError):
    """S3 could not say where to resume (unreachable, throttled, refused, cut short, or
    no candidate verified): the attempt must not start from the beginning."""


TRANSIENT = (ClientError, BotoCoreError, OSError, ValueError)


def _s3_call(what: str, fn: Callable[[], Any]) -> Any:
    """Run one S3 read; any failure means "unknown", never "empty"."""
    try:
        return fn()
    except TRANSIENT as exc:
        raise StoreUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


def _local_candidates(local: LocalStore, exclude: set[int], log: LogFn) -> list[tuple[Any, ...]]:
    out = []
    for path, man in local.list():
        if man is None:
            log(f"local checkpoint {path.name}: incomplete (no valid manifest); skipping")
        elif man.seq in exclude:
            log(f"local checkpoint {path.name}: set aside (LAMMPS could not read it)")
        else:
            out.append((progress_of(man), man.seq, 1, "local", path, man))
    return out


def _s3_candidates(s3: S3Store, exclude: set[int], log: LogFn) -> tuple[list[tuple[Any, ...]], dict | None]:
    seqs = _s3_call(f"listing {s3.url()}", s3.list_seqs)
    ptr = _s3_call(f"reading {s3.url(s3.pointer_key)}", s3.pointer)
    out = []
    for seq in seqs:
        if seq in exclude:
            continue
        man = _s3_call(f"reading the manifest of s3 checkpoint {seq}", lambda seq=seq: s3.get_manifest(seq))
        if man is None:
            log(f"s3 checkpoint {seq}: incomplete (no valid manifest); skipping")
            continue
        out.append((progress_of(man), seq, 0, "s3", None, man))
    return out, ptr


def find_resume_checkpoint(
    local: LocalStore,
    s3: S3Store | None,
    input_hash: str | None,
    build_hash: str | None,
    force: bool = False,
    log: LogFn | None = None,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> tuple[Path, Manifest] | None:
    """The furthest verified checkpoint across local disk and S3, or None (fresh start).

    Candidates are ordered by progress ``(stage, step)``, then seq; at equal seq the
    local copy wins (no download).  S3 checkpoints are downloaded into ``local.root``
    (verified before they are renamed into place), so the returned path is always
    local.  ``input_hash``/``build_hash`` of None skip that comparison; ``exclude``
    names seqs LAMMPS rejected.  With S3 configured, None means positive evidence: a
    complete listing with no checkpoint and no local one.  Any S3 failure, or
    checkpoints that exist but none verifies, raises :class:`StoreUnavailable`.
    Raises ResumeRefused (see module doc).
    """
    log = log or _log.info
    exclude = set(exclude)
    cands = _local_candidates(local, exclude, log)
    ptr: dict | None = None
    if s3 is not None:
        remote, ptr = _s3_candidates(s3, exclude, log)
        cands += remote
    failed = 0
    for _prog, seq, _pref, where, path, man in sorted(cands, key=lambda c: c[:3], reverse=True):
        if where == "local":
            if not local.verify(path, use_cache=False):
                log(f"local checkpoint {path.name}: {local.explain(path)}; skipping")
                failed += 1
                continue
            _check(man, str(path), input_hash, build_hash, force, log)
            log(f"resuming from local checkpoint {path.name} (stage {man.stage}, step {man.step})")
            return path, man
        assert s3 is not None
        reason = _s3_call(f"checking s3 checkpoint {seq}", lambda seq=seq: s3.explain(seq))
        if reason != "ok":
            log(f"s3 checkpoint {seq}: {reason}; skipping")
            failed += 1
            continue
        _check(man, s3.url(s3.ckpt_prefix(seq)), input_hash, build_hash, force, log)
        try:
            got = s3.download(seq, local.root, man)
        except S3StoreError as exc:
            log(f"s3 checkpoint {seq}: {exc}; trying an older one")
            failed += 1
            continue
        except TRANSIENT as exc:
            raise StoreUnavailable(f"downloading s3 checkpoint {seq}: {type(exc).__name__}: {exc}") from exc
        log(f"resuming from s3 checkpoint {seq} (stage {man.stage}, step {man.step}), downloaded to {got}")
        return got, man
    if s3 is not None and (ptr is not None or failed):
        where = f"the pointer names seq {ptr['seq']}" if ptr is not None else f"{failed} checkpoint(s) exist"
        prefix = f" --prefix {s3.prefix}" if s3.prefix != DEFAULT_PREFIX else ""
        raise StoreUnavailable(
            f"{where} in {s3.url()} but none verified: not starting from the beginning "
            f"(if they are damaged for good: lmpspot checkpoints quarantine --bucket {s3.bucket} "
            f"--job {s3.job_id}{prefix} --yes moves them aside)"
        )
    if failed:
        log("no local checkpoint verifies (no S3 configured): starting from the beginning")
    else:
        log(
            "no checkpoints found"
            + (" locally or in S3" if s3 is not None else "")
            + ": starting from the beginning"
        )
    return None


def _check(
    man: Manifest, where: str, input_hash: str | None, build_hash: str | None, force: bool, log: LogFn
) -> None:
    bad = _mismatches(man, input_hash, build_hash)
    if not bad:
        return
    err = ResumeRefused(man, where, bad)
    if not force:
        raise err
    log(f"WARNING (--force): {err}")


def with_store_retry(
    fn: Callable[[], Any],
    wait_s: float,
    log: LogFn | None = None,
    *,
    initial: float = 1.0,
    cap: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Call ``fn`` until it does not raise :class:`StoreUnavailable`, with exponential
    backoff and jitter, for at most ``wait_s`` seconds; then re-raise the last one."""
    log = log or _log.info
    deadline = time.monotonic() + wait_s
    delay = initial
    while True:
        try:
            return fn()
        except StoreUnavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            pause = min(left, random.uniform(delay / 2, delay))  # noqa: S311
            log(f"S3 unavailable ({exc}); retrying in {pause:.1f}s ({left:.0f}s left)")
            sleep(pause)
            delay = min(cap, delay * 2)
