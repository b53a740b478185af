"""Host services for simulation hosts: the spot handler and the checkpoint-sync pass.

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
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot import running
from lmpspot.imds import REASON_INTERRUPTION, REASON_REBALANCE, SpotNoticeWatcher

LogFn = Callable[[str], None]
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SYNC_ENV_KEYS = {
    "LMPSPOT_SYNC_BUCKET",
    "LMPSPOT_SYNC_PREFIX",
    "LMPSPOT_SYNC_RETENTION",
    "LMPSPOT_SYNC_ROOT",
    "LMPSPOT_RUN_DIR",
    "LMPSPOT_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
}


def _stdout_log(msg: str) -> None:
    print(f"lmpspot-hostagent: {msg}", flush=True)


# -- spot handler ------------------------------------------------------------------------
def may_signal(entry: dict[str, Any], entry_file: Path) -> tuple[bool, str]:
    """Whether the handler may signal the entry's pid (see module doc); with the reason."""
    pid = entry["pid"]
    if pid <= 1 or pid == os.getpid():
        return False, f"refusing to signal pid {pid}"
    try:
        file_uid = entry_file.stat().st_uid
        proc_uid = Path(f"/proc/{pid}").stat().st_uid
    except FileNotFoundError:
        return False, f"pid {pid} is gone"
    except OSError as exc:
        return False, f"cannot check pid {pid}: {exc}"
    if file_uid not in (0, proc_uid):
        return False, f"{entry_file.name} (uid {file_uid}) names pid {pid} of uid {proc_uid}"
    return True, "ok"


def signal_registered(
    run_dir: str | os.PathLike,
    sig: signal.Signals,
    log: LogFn = _stdout_log,
    skip: set[int] | None = None,
) -> list[int]:
    """Send ``sig`` to every live registered simulation (pids in ``skip`` excepted)."""
    rd = Path(run_dir)
    sent: list[int] = []
    for entry in running.list_running(rd):
        pid = entry["pid"]
        if skip is not None and pid in skip:
            continue
        ok, why = may_signal(entry, rd / f"{entry['job_id']}.json")
        if not ok:
            log(f"not signalling job {entry['job_id']}: {why}")
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        except PermissionError as exc:
            log(f"cannot signal job {entry['job_id']} (pid {pid}): {exc}")
            continue
        sent.append(pid)
        log(f"sent {sig.name} to job {entry['job_id']} (pid {pid})")
    return sent


class SpotHandler:
    """The spot-handler loop; ``run()`` blocks until ``stop()`` (or SIGTERM in ``main``)."""

    def __init__(
        self,
        run_dir: str | os.PathLike | None = None,
        endpoint: str | None = None,
        interval: float = 5.0,
        log: LogFn = _stdout_log,
    ) -> None:
        self.run_dir = running.run_dir_from_env(run_dir)
        self.interval = interval
        self.log = log
        self.watcher = SpotNoticeWatcher(endpoint=endpoint, interval=interval, log=log)
        self.interrupted = False
        self.rebalanced = False
        self.terminated: set[int] = set()
        self._stop = threading.Event()
        self._errors = 0
        self._last_error: str | None = None

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> str | None:
        """One poll (IMDS errors are logged, never raised); returns the reason fired."""
        fired = None
        if not self.interrupted:
            try:
                fired = self.watcher.poll_once()
                if self._last_error is not None:
                    self.log("IMDS reachable again")
                    self._last_error = None
            except Exception as exc:  # soft: no IMDS yet, throttled, restarted ...
                self._errors += 1
                msg = str(exc)
                if msg != self._last_error or self._errors % 60 == 1:
                    self.log(f"IMDS poll failed (#{self._errors}, will keep polling): {msg}")
                self._last_error = msg
        if fired == REASON_REBALANCE:
            self.rebalanced = True
            sent = signal_registered(self.run_dir, signal.SIGUSR1, self.log)
            self.log(f"rebalance recommendation: asked {len(sent)} simulation(s) to checkpoint now")
            self.watcher.acknowledge()
        elif fired == REASON_INTERRUPTION:
            self.interrupted = True
            self.log(
                f"spot interruption ({self.watcher.action} at {self.watcher.notice_time}): "
                "stopping every simulation with a checkpoint"
            )
        if self.interrupted:  # also late registrations: the instance is going away
            self.terminated.update(
                signal_registered(self.run_dir, signal.SIGTERM, self.log, skip=self.terminated)
            )
        return fired

    def run(self) -> None:
        self.log(
            f"spot handler: watching {self.watcher.endpoint} every {self.interval:g}s, run dir {self.run_dir}"
        )
        if self.watcher.disabled:
            self.log("IMDS polling disabled (LMPSPOT_IMDS_DISABLED): idle")
        while not self._stop.is_set():
            if not self.watcher.disabled:
                self.step()
            self._stop.wait(self.interval)
        self.log("spot handler stopped")


def run_spot_handler(
    run_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    interval: float = 5,
    log: LogFn = _stdout_log,
    stop_event: threading.Event | None = None,
) -> SpotHandler:
    """Run the spot handler until ``stop_event`` is set (forever without one)."""
    handler = SpotHandler(run_dir, endpoint, interval, log)
    if stop_event is not None:
        handler._stop = stop_event
    handler.run()
    return handler


# -- checkpoint sync ---------------------------------------------------------------------
def sync_targets(run_dir: str | os.PathLike | None, root: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """(job_id, checkpoint_dir) for every registered simulation and every dir under root."""
    seen: dict[str, Path] = {}
    for entry in running.list_running(run_dir):
        seen.setdefault(entry["job_id"], Path(entry["checkpoint_dir"]))
    if root:
        try:
            dirs = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
        except FileNotFoundError:
            dirs = []
        for d in dirs:
            try:
                running.check_job_id(d.name)
            except ValueError:
                continue
            seen.setdefault(d.name, d)
    return sorted(seen.items())


def run_checkpoint_sync(
    bucket: str,
    retention: int,
    *,
    run_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    prefix: str = "checkpoints/",
    endpoint_url: str | None = None,
    region: str | None = None,
    client: Any = None,
    timeout: float = 1800.0,
    log: LogFn = _stdout_log,
) -> dict[str, dict[str, Any]]:
    """Sync every target once; returns ``{job_id: summary}`` (``ok`` False on failure)."""
    from lmpspot.checkpoint import LocalStore  # noqa: PLC0415 (keeps the spot handler light)
    from lmpspot.checkpoint_cli import sync_checkpoints  # noqa: PLC0415
    from lmpspot.s3store import S3Store  # noqa: PLC0415

    if client is None:
        import boto3  # noqa: PLC0415

        client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
    results: dict[str, dict[str, Any]] = {}
    targets = sync_targets(run_dir, root)
    if not targets:
        log("checkpoint sync: no registered simulation and nothing under the root")
    for job_id, ckpt_dir in targets:
        if not ckpt_dir.is_dir():
            log(f"checkpoint sync {job_id}: {ckpt_dir} does not exist yet")
            results[job_id] = {"ok": True, "uploaded": [], "committed_seq": None, "skipped": True}
            continue
        try:
            s3 = S3Store(client, bucket, prefix, job_id, log=log)
            res = sync_checkpoints(LocalStore(ckpt_dir), s3, retention, timeout=timeout, log=log)
        except Exception as exc:  # one job's failure must not stop the others
            res = {"ok": False, "uploaded": [], "committed_seq": None, "last_error": str(exc)}
        results[job_id] = res
        log(
            f"checkpoint sync {job_id}: {'ok' if res['ok'] else 'FAILED'} uploaded={res['uploaded']} "
            f"latest={res['committed_seq']}" + ("" if res["ok"] else f" error={res.get('last_error')}")
        )
    return results


def parse_env_file(path: str | os.PathLike) -> dict[str, str]:
    """A systemd EnvironmentFile subset: ``KEY=value`` lines, ``#`` comments, optional quotes."""
    env: dict[str, str] = {}
    for n, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", key.strip()):
            raise ValueError(f"line {n}: not KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def sync_env_problems(env: dict[str, str]) -> list[str]:
    """What is wrong with a checkpoint-sync environment (empty list: fine)."""
    problems = [f"unknown setting {k}" for k in sorted(set(env) - SYNC_ENV_KEYS)]
    bucket = env.get("LMPSPOT_SYNC_BUCKET", "")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        problems.append(f"LMPSPOT_SYNC_BUCKET {bucket!r} is not a valid S3 bucket name")
    ret = env.get("LMPSPOT_SYNC_RETENTION", "")
    if not ret.isdigit() or int(ret) < 1:
        problems.append(f"LMPSPOT_SYNC_RETENTION {ret!r} must be an integer >= 1")
    prefix = env.get("LMPSPOT_SYNC_PREFIX", "checkpoints/")
    if prefix.startswith("/") or (prefix and not prefix.endswith("/")):
        problems.append(f"LMPSPOT_SYNC_PREFIX {prefix!r} must be relative and end with '/'")
    for key in ("LMPSPOT_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        url = env.get(key, "")
        if url and not re.match(r"^https?://[^\s/]+", url):
            problems.append(f"{key} {url!r} is not an http(s) URL")
    for key in ("LMPSPOT_SYNC_ROOT", "LMPSPOT_RUN_DIR"):
        if env.get(key) and not env[key].startswith("/"):
            problems.append(f"{key} {env[key]!r} must be an absolute path")
    return problems


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
    _stdout_log(
        f"checkpoint sync pass: {len(results)} job(s), {len(bad)} failed "
        f"{bad if bad else ''} in {time.monotonic() - t0:.1f}s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
