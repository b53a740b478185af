"""The command line of the host services: the spot handler and the checkpoint-sync pass.

The services themselves are :mod:`lmpspot.host_spot` and :mod:`lmpspot.host_sync`.

``python -m lmpspot.hostagent spot-handler [--run-dir DIR] [--imds-endpoint URL] [--interval 5]``
    A daemon (a systemd service) that polls IMDSv2 with :class:`lmpspot.imds.SpotNoticeWatcher`
    and signals every simulation registered in the run directory
    (:mod:`lmpspot.running`):

    * rebalance recommendation -> ``SIGUSR1`` (checkpoint now, keep running), once;
    * spot interruption notice -> ``SIGTERM`` (checkpoint at the next step boundary,
      upload, exit 75).  After a notice the handler keeps watching the run directory
      and sends ``SIGTERM`` to simulations that register later (the instance is going
      away), each pid once.

    An entry of the running-simulations register is honoured only when the file's owner is root or owns the
    process it names (a user cannot have another user's process signalled), and
    never for pid 1 or the handler itself.  Logs go to stdout (the journal).

``python -m lmpspot.hostagent checkpoint-sync --bucket B --retention N [--run-dir DIR]
[--root DIR] [--prefix P] [--endpoint-url URL]``
    One sync pass (the checkpoint_sync timer's service) for every registered
    simulation's checkpoint directory (job id from the entry) and, with ``--root``,
    every directory under it (job id = directory name).  Exit 0 when every job synced,
    1 when one failed (the others are still synced).

``python -m lmpspot.hostagent check-sync-env FILE``
    Validate a checkpoint-sync environment file (used as Ansible's ``validate:``).

Settings may also come from the environment (``LMPSPOT_RUN_DIR``,
``LMPSPOT_SYNC_BUCKET``, ``LMPSPOT_SYNC_PREFIX``, ``LMPSPOT_SYNC_RETENTION``,
``LMPSPOT_SYNC_ROOT``, ``LMPSPOT_S3_ENDPOINT_URL``, ``AWS_EC2_METADATA_SERVICE_ENDPOINT``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from lmpspot.host_spot import run_spot_handler, stdout_log
from lmpspot.host_sync import parse_env_file, run_checkpoint_sync, sync_env_problems


# -- CLI ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lmpspot.hostagent", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("spot-handler", help="signal registered simulations on spot notices")
    p.add_argument(
        "--run-dir",
        default=None,
        help="the running-simulations register directory (LMPSPOT_RUN_DIR, /run/lmpspot)",
    )
    p.add_argument("--imds-endpoint", default=None, help="IMDS base URL (default: the link-local one)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls (%(default)s)")

    p = sub.add_parser("checkpoint-sync", help="one sync pass for every registered simulation")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--root", default=os.environ.get("LMPSPOT_SYNC_ROOT") or None)
    p.add_argument("--bucket", default=os.environ.get("LMPSPOT_SYNC_BUCKET"))
    p.add_argument("--prefix", default=os.environ.get("LMPSPOT_SYNC_PREFIX", "checkpoints/"))
    p.add_argument("--retention", type=int, default=int(os.environ.get("LMPSPOT_SYNC_RETENTION", "0")))
    p.add_argument("--endpoint-url", default=os.environ.get("LMPSPOT_S3_ENDPOINT_URL") or None)
    p.add_argument("--region", default=None)
    p.add_argument("--timeout", type=float, default=1800.0, help="per job (%(default)s s)")

    p = sub.add_parser("check-sync-env", help="validate a checkpoint-sync environment file")
    p.add_argument("file", type=Path)

    args = ap.parse_args(argv)
    if args.command == "spot-handler":
        stop = threading.Event()
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, lambda *_: stop.set())
        run_spot_handler(args.run_dir, args.imds_endpoint, args.interval, stop_event=stop)
        return 0
    if args.command == "check-sync-env":
        try:
            problems = sync_env_problems(parse_env_file(args.file))
        except (OSError, ValueError) as exc:
            problems = [str(exc)]
        for prob in problems:
            print(f"{args.file}: {prob}", file=sys.stderr)
        return 1 if problems else 0
    if not args.bucket:
        ap.error("checkpoint-sync needs --bucket (or LMPSPOT_SYNC_BUCKET)")
    if args.retention < 1:
        ap.error("checkpoint-sync needs --retention >= 1 (or LMPSPOT_SYNC_RETENTION)")
    t0 = time.monotonic()
    results = run_checkpoint_sync(
        args.bucket,
        args.retention,
        run_dir=args.run_dir,
        root=args.root,
        prefix=args.prefix,
        endpoint_url=args.endpoint_url,
        region=args.region,
        timeout=args.timeout,
    )
    bad = sorted(j for j, r in results.items() if not r["ok"])
    stdout_log(
        f"checkpoint sync pass: {len(results)} job(s), {len(bad)} failed "
        f"{bad if bad else ''} in {time.monotonic() - t0:.1f}s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
