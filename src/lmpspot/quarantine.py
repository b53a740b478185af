"""Move damaged S3 checkpoints aside, so a simulation blocked on them can go on.

The runner never starts over while S3 holds checkpoints of the simulation and none of
them verifies (:mod:`lmpspot.resume`): a transient fault must not cost days of work, so
such an attempt waits ``--store-wait`` seconds and exits 76.  When the objects are
damaged for good (overwritten, truncated by hand, a bad restore), that repeats on every
attempt.  ``lmpspot checkpoints quarantine`` is the operator's way out:

* every checkpoint whose manifest is readable but whose objects do not verify is
  **copied** under ``<prefix><job>/quarantine/<UTC stamp>/ckpt-<seq>/`` and then removed
  from the checkpoint set (nothing is deleted outright: the copies stay for forensics);
* incomplete checkpoints (no manifest: an interrupted upload) are left alone -- the
  runner already skips them;
* if the pointer (``latest.json``) named a quarantined checkpoint, it is re-written to
  the furthest checkpoint that still verifies, or (none left) copied aside and removed,
  after which the next attempt starts from step 0 (or resumes from a local checkpoint).

It takes the simulation's lease for the time it works, so it refuses while a runner
holds a live lease, and every later runner's token is above its own.  Without
``--yes`` it only reports what it would do.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from lmpspot.checkpoint import Manifest
from lmpspot.lease import Lease, LeaseHeld
from lmpspot.s3store import S3Store, progress_of
from lmpspot.timefmt import utc_compact

LogFn = Callable[[str], None]
QUARANTINE_DIR = "quarantine/"


class QuarantineRefused(RuntimeError):
    """A runner holds the simulation's lease: quarantining now would race it."""


def plan(s3: S3Store) -> dict[str, Any]:
    """What :func:`quarantine` would do: damaged seqs (with why), the verified ones,
    and the pointer's fate (``keep``, ``move`` to a seq, or ``remove``)."""
    ptr = s3.pointer()
    damaged: dict[int, str] = {}
    verified: list[tuple[tuple[int, int], int]] = []
    incomplete: list[int] = []
    for seq in s3.list_seqs():
        man = s3.get_manifest(seq)
        if man is None:
            incomplete.append(seq)
            continue
        why = s3.explain(seq)
        if why == "ok":
            verified.append((progress_of(man), seq))
        else:
            damaged[seq] = why
    verified.sort(reverse=True)
    ptr_seq = None if ptr is None else int(ptr["seq"])
    if ptr_seq is None or ptr_seq in {s for _, s in verified}:
        pointer = {"action": "keep", "seq": ptr_seq}
    elif verified:
        pointer = {"action": "move", "from": ptr_seq, "seq": verified[0][1]}
    else:
        pointer = {"action": "remove", "from": ptr_seq}
    return {
        "damaged": damaged,
        "verified": [s for _, s in verified],
        "incomplete": incomplete,
        "pointer": pointer,
    }


def _lease_check(s3: S3Store) -> Lease:
    """A lease of our own to take, or QuarantineRefused while a runner holds a live one."""
    probe = Lease(s3.client, s3.bucket, s3.base, s3.job_id, "probe")
    data, _etag, age = probe.read()
    ttl = float((data or {}).get("ttl_s") or probe.ttl)
    if data is not None and data.get("status") != "released" and age <= ttl:
        raise QuarantineRefused(
            f"s3://{s3.bucket}/{probe.key}: runner {data.get('uid')} (Batch job "
            f"{data.get('batch_job_id') or '-'}) holds the lease, renewed {age:.0f}s ago "
            f"(ttl {ttl:.0f}s): stop that job (or wait {max(0.0, ttl - age):.0f}s) and run this again"
        )
    return Lease(s3.client, s3.bucket, s3.base, s3.job_id, f"quarantine-{uuid.uuid4().hex[:8]}", ttl=ttl)


def _copy_prefix(s3: S3Store, src_prefix: str, dst_prefix: str) -> int:
    n = 0
    paginator = s3.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=s3.bucket, Prefix=src_prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            # managed copy: multipart for objects over 5 GiB, metadata kept
            s3.client.copy({"Bucket": s3.bucket, "Key": key}, s3.bucket, dst_prefix + key[len(src_prefix) :])
            n += 1
    return n


def quarantine(
    s3: S3Store, *, apply: bool, log: LogFn, now: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Report (``apply`` False) or carry out the plan; returns the plan plus ``moved``
    (seq -> objects copied) and ``dest`` (the quarantine prefix)."""
    result = plan(s3)
    stamp = utc_compact(math.floor(now()))
    dest = f"{s3.base}{QUARANTINE_DIR}{stamp}/"
    result.update(dest=s3.url(dest), moved={}, applied=apply)
    if not apply or (not result["damaged"] and result["pointer"]["action"] == "keep"):
        return result
    lease = _lease_check(s3)
    try:
        lease.acquire()
    except LeaseHeld as exc:  # a runner took it between the check and now
        raise QuarantineRefused(str(exc)) from exc
    try:
        result.update(plan(s3))  # again, under the lease
        for seq, why in sorted(result["damaged"].items()):
            n = _copy_prefix(s3, s3.ckpt_prefix(seq), dest + s3.ckpt_prefix(seq)[len(s3.base) :])
            s3.delete(seq)
            result["moved"][seq] = n
            log(f"checkpoint {seq} ({why}): {n} object(s) copied to {s3.url(dest)}, removed from the set")
        action = result["pointer"]
        if action["action"] == "move":
            man = s3.get_manifest(int(action["seq"]))
            assert isinstance(man, Manifest)
            s3.replace_pointer(man, lease.token)
            log(f"pointer moved from seq {action['from']} to seq {action['seq']} (furthest that verifies)")
        elif action["action"] == "remove":
            old = s3.pointer()
            if old is not None:  # the copy first: the pointer is never just gone
                s3.client.put_object(
                    Bucket=s3.bucket,
                    Key=dest + "latest.json",
                    Body=json.dumps(old, sort_keys=True).encode(),
                    ContentType="application/json",
                )
            s3.replace_pointer(None, lease.token)
            log(
                f"pointer (seq {action['from']}) copied to {s3.url(dest)} and removed: no checkpoint "
                "verifies, the next attempt starts from the beginning (or a local checkpoint)"
            )
    finally:
        lease.release()
    return result
