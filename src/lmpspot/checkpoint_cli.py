"""``lmpspot checkpoints list|verify|prune|download|sync|quarantine``.

``register(subparsers)`` adds the ``checkpoints`` command to the main CLI's
subparsers; every leaf sets ``func`` (``args.func(args) -> int`` is the exit code).
Also runnable alone: ``python -m lmpspot.checkpoint_cli checkpoints list --local DIR``.

Sources: ``--local DIR`` (a LocalStore root) and/or ``--bucket B --job J``
(``--prefix``, ``--endpoint-url``, ``--region``) for S3.

``prune-finished`` (``--bucket B --retention N``, :mod:`lmpspot.prune`) prunes every
finished simulation in the bucket with the same keep-last-N rule; ``--dry-run`` reports.

``sync`` (``--local DIR --bucket B --job J --retention N``) is the one-shot form of the
runner's background syncer, for host services (the checkpoint_sync timer): verified
local checkpoints not yet verified in S3 are uploaded (and verified), ``latest.json``
advances, and keep-last-N is enforced in S3 and locally with the syncer's rules (a
local checkpoint newer than the newest one verified in S3 is never deleted).

``quarantine`` (``--bucket B --job J [--yes]``, :mod:`lmpspot.quarantine`) moves S3
checkpoints that do not verify aside (copied under ``<job>/quarantine/``) and points
``latest.json`` at the furthest one that does: the way out when a runner exits 76
because checkpoints exist but none verifies.  Exit 3 while a runner holds the lease.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import LocalStore, parse_ckpt_name
from lmpspot.s3store import DEFAULT_PREFIX, S3Store
from lmpspot.sync import CheckpointSyncer


def _add_sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("--local", type=Path, help="local checkpoint directory")
    p.add_argument("--bucket", help="S3 bucket holding the job's checkpoints")
    p.add_argument("--job", help="job id (S3 layout <prefix><job>/ckpt-<seq>/)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="S3 key prefix (%(default)s)")
    p.add_argument("--endpoint-url", help="S3 endpoint (e.g. a local moto server)")
    p.add_argument("--region", help="AWS region")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``checkpoints`` with its sub-commands to an argparse subparsers object."""
    cp = subparsers.add_parser("checkpoints", help="list, verify, prune, download checkpoints")
    sub = cp.add_subparsers(dest="checkpoints_cmd", required=True)

    p = sub.add_parser("list", help="list checkpoints (newest first)")
    _add_sources(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verify", action="store_true", help="also verify checksums")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("verify", help="verify checkpoints; exit 1 if any checked one is bad")
    _add_sources(p)
    p.add_argument("--seq", type=int, help="only this seq (default: all)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("prune", help="keep the newest N verified checkpoints")
    _add_sources(p)
    p.add_argument("--keep", type=int, required=True)
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("download", help="download a verified checkpoint from S3")
    _add_sources(p)
    p.add_argument("--seq", type=int, help="seq to download (default: newest valid)")
    p.add_argument("--dest", type=Path, required=True, help="destination root directory")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("sync", help="upload verified local checkpoints to S3, move latest.json, prune")
    _add_sources(p)
    p.add_argument("--retention", type=int, required=True, help="checkpoints to keep (>= 1)")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after N s (%(default)s)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser(
        "quarantine",
        help="move S3 checkpoints that do not verify aside (copies kept), so a blocked job can go on",
    )
    _add_sources(p)
    p.add_argument("--yes", action="store_true", help="do it (without: only report what would be done)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_quarantine)

    from lmpspot import prune  # noqa: PLC0415 (prune-finished lives with its retention rules)

    prune.register(sub)
    return cp


def _s3(args: argparse.Namespace) -> S3Store | None:
    if not args.bucket and not args.job:
        return None
    if not (args.bucket and args.job):
        raise SystemExit("--bucket and --job go together")
    import boto3  # noqa: PLC0415 (only S3 sub-commands need it)

    client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    return S3Store(client, args.bucket, args.prefix, args.job, log=lambda m: None)


def _need_source(args: argparse.Namespace, s3: S3Store | None) -> None:
    if args.local is None and s3 is None:
        raise SystemExit("give --local DIR and/or --bucket B --job J")


def cmd_list(args: argparse.Namespace) -> int:
    s3 = _s3(args)
    _need_source(args, s3)
    rows: list[dict[str, Any]] = []
    if args.local is not None:
        store = LocalStore(args.local)
        for path, man in store.list():
            row = {"where": "local", "seq": parse_ckpt_name(path.name), "path": str(path)}
            if man is not None:
                row.update(
                    step=man.step, stage=man.stage_name, bytes=man.total_bytes, created_at=man.created_at
                )
            row["status"] = (
                ("ok" if store.verify(path) else "BAD")
                if args.verify
                else ("complete" if man else "incomplete")
            )
            rows.append(row)
    if s3 is not None:
        ptr = s3.latest_seq()
        for seq in s3.list_seqs():
            man = s3.get_manifest(seq)
            row = {"where": "s3", "seq": seq, "path": s3.url(s3.ckpt_prefix(seq)), "latest": seq == ptr}
            if man is not None:
                row.update(
                    step=man.step, stage=man.stage_name, bytes=man.total_bytes, created_at=man.created_at
                )
            row["status"] = (
                ("ok" if s3.verify(seq) else "BAD") if args.verify else ("complete" if man else "incomplete")
            )
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = " <- latest" if r.get("latest") else ""
            print(
                f"{r['where']:5} {r['seq']:>10} step={r.get('step', '?'):<10} "
                f"{r['status']:10} {r.get('bytes', '?'):>12} B  {r['path']}{mark}"
            )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    s3 = _s3(args)
    _need_source(args, s3)
    bad = 0
    if args.local is not None:
        store = LocalStore(args.local)
        for path, _man in store.list():
            if args.seq is not None and parse_ckpt_name(path.name) != args.seq:
                continue
            why = store.explain(path)
            bad += why != "ok"
            print(f"local {path.name}: {why}")
    if s3 is not None:
        for seq in s3.list_seqs():
            if args.seq is not None and seq != args.seq:
                continue
            why = s3.explain(seq)
            bad += why != "ok"
            print(f"s3 {seq}: {why}")
    return 1 if bad else 0


def cmd_prune(args: argparse.Namespace) -> int:
    s3 = _s3(args)
    _need_source(args, s3)
    if args.local is not None:
        gone = LocalStore(args.local).prune(args.keep)
        print(f"local: removed {[p.name for p in gone]}")
    if s3 is not None:
        print(f"s3: removed seqs {s3.prune(args.keep)}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    s3 = _s3(args)
    if s3 is None:
        raise SystemExit("download needs --bucket and --job")
    if args.seq is not None:
        path = s3.download(args.seq, args.dest)
    else:
        got = s3.download_newest_valid(args.dest)
        if got is None:
            print("no valid checkpoint in S3", file=sys.stderr)
            return 1
        path = got[0]
    print(path)
    return 0


def sync_checkpoints(
    local: LocalStore,
    s3: S3Store,
    retention: int,
    *,
    timeout: float | None = 3600.0,
    log: Any = None,
) -> dict[str, Any]:
    """One sync pass of a local checkpoint directory to S3; returns a summary.

    The checkpoints to upload are the newest ``retention`` valid local ones that S3 does
    not already hold verified (older ones would be pruned at once), oldest first; the
    newest valid one is always submitted, so the pointer and both prunes run even when
    nothing is new.  Returns ``{"ok", "uploaded", "verified_seq", "committed_seq", ...}``.
    """
    if retention < 1:
        raise ValueError("retention must be >= 1")
    say = log or (lambda m: None)
    valid = [(p, m) for p, m in local.list() if m is not None and local.verify(p)][:retention]
    if not valid:
        say(f"{local.root}: no valid local checkpoint; nothing to sync")
        return {"ok": True, "uploaded": [], "verified_seq": None, "committed_seq": None, "failures": 0}
    todo = [(p, m) for p, m in reversed(valid[1:]) if not s3.verify(m.seq)]
    todo.append(valid[0])
    syncer = CheckpointSyncer(
        local, s3, retention, log=say, coalesce=False, backoff_initial=0.5, backoff_max=10.0
    )
    try:
        for path, man in todo:
            syncer.submit(path, man)
        ok = syncer.flush(timeout)
    finally:
        syncer.close(timeout=None)
    stats = syncer.stats
    return {
        "ok": bool(ok),
        "uploaded": [u.seq for u in stats.uploads],
        "verified_seq": stats.verified_seq,
        "committed_seq": stats.committed_seq,
        "failures": stats.failures,
        "last_error": stats.last_error,
    }


def cmd_sync(args: argparse.Namespace) -> int:
    s3 = _s3(args)
    if s3 is None or args.local is None:
        raise SystemExit("sync needs --local DIR, --bucket B and --job J")
    if args.retention < 1:
        raise SystemExit("--retention must be >= 1")
    if not args.local.is_dir():
        raise SystemExit(f"--local {args.local}: not a directory")
    s3.log = lambda m: print(m, file=sys.stderr)
    res = sync_checkpoints(
        LocalStore(args.local),
        s3,
        args.retention,
        timeout=args.timeout,
        log=lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(
            f"sync {args.job}: {'ok' if res['ok'] else 'INCOMPLETE'}, uploaded {res['uploaded']}, "
            f"latest={res['committed_seq']}"
        )
    return 0 if res["ok"] else 1


def cmd_quarantine(args: argparse.Namespace) -> int:
    from lmpspot.quarantine import QuarantineRefused, quarantine  # noqa: PLC0415

    s3 = _s3(args)
    if s3 is None:
        raise SystemExit("quarantine needs --bucket B and --job J")
    try:
        res = quarantine(s3, apply=args.yes, log=lambda m: print(m, file=sys.stderr))
    except QuarantineRefused as exc:
        print(f"lmpspot: refusing to quarantine: {exc}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(res, indent=2, default=str))
        return 0
    ptr = res["pointer"]
    for seq, why in sorted(res["damaged"].items()):
        print(f"s3 {seq}: {why}: {'moved to ' + res['dest'] if args.yes else 'would be moved aside'}")
    kept, partial = res["verified"] or "none", res["incomplete"] or "none"
    print(f"verified, kept: {kept}; incomplete (left alone): {partial}")
    if ptr["action"] == "move":
        print(f"pointer: seq {ptr['from']} -> seq {ptr['seq']}{'' if args.yes else ' (would be)'}")
    elif ptr["action"] == "remove":
        done = "removed" if args.yes else "would be removed"
        print(f"pointer: seq {ptr['from']} {done} (nothing verifies)")
    if not args.yes and (res["damaged"] or ptr["action"] != "keep"):
        print("nothing changed: rerun with --yes to do it")
    elif not res["damaged"] and ptr["action"] == "keep":
        print("nothing to quarantine")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lmpspot")
    register(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
