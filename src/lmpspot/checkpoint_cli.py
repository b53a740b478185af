"""``lmpspot checkpoints list|verify|prune|download``.

``register(subparsers)`` adds the ``checkpoints`` command to the main CLI's
subparsers; every leaf sets ``func`` (``args.func(args) -> int`` is the exit code).
Also runnable alone: ``python -m lmpspot.checkpoint_cli checkpoints list --local DIR``.

Sources: ``--local DIR`` (a LocalStore root) and/or ``--bucket B --job J``
(``--prefix``, ``--endpoint-url``, ``--region``) for S3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import LocalStore, parse_ckpt_name
from lmpspot.s3store import DEFAULT_PREFIX, S3Store


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lmpspot")
    register(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
