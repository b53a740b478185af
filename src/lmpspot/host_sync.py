"""The checkpoint-sync pass of a simulation host (``python -m lmpspot.hostagent checkpoint-sync``).

One pass (the checkpoint_sync timer's service) for every registered simulation's checkpoint
directory (job id from its :mod:`lmpspot.running` entry) and, with ``root``, every
directory under it (job id = directory name); and the validation of the timer's
environment file (``check-sync-env``, Ansible's ``validate:``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lmpspot import running
from lmpspot.host_spot import LogFn, stdout_log

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
    log: LogFn = stdout_log,
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
