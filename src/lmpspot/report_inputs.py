"""What a job's report is made from (:class:`ReportInputs`), read from S3 and CloudWatch Logs,
and the runner's progress records (EMF lines) in the attempt logs.

Inputs (all read-only): ``results/<sim_id>/log.lammps``, ``results/<sim_id>/status.json``,
the attempt logs (``results/<sim_id>/logs/`` in local mode; CloudWatch Logs on AWS),
``checkpoints/<sim_id>/`` manifests.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lmpspot.s3errors import is_not_found


@dataclass
class ReportInputs:
    """Everything a report is made from (``gather_inputs`` reads it from S3)."""

    sim_id: str
    log_text: str
    attempts: list[dict[str, Any]] = field(default_factory=list)  # ledger-shaped records
    attempt_logs: dict[int, str] = field(default_factory=dict)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None  # lmpspot.ledger.cost_ledger(...) as a dict
    source: str = ""
    telemetry: dict[str, Any] | None = None  # lmpspot.telemetry.sim_telemetry(...); None: from attempts


def parse_emf(text: str, attempt: int | None = None) -> list[dict[str, Any]]:
    """The CloudWatch EMF records (``{"_aws": ...}`` lines) in an attempt's output.

    Lines may carry a prefix (the local executor's ``[job a1]``, a CloudWatch timestamp):
    the JSON object is taken from the first ``{"_aws"``.
    """
    out = []
    for line in text.splitlines():
        i = line.find('{"_aws"')
        if i < 0:
            continue
        try:
            rec = json.loads(line[i:])
        except ValueError:
            continue
        if not isinstance(rec, dict) or "_aws" not in rec:
            continue
        ts = rec["_aws"].get("Timestamp")
        rec = {k: v for k, v in rec.items() if k != "_aws"}
        rec["timestamp"] = ts / 1000.0 if isinstance(ts, (int, float)) else None
        if attempt is not None:
            rec["attempt"] = attempt
        out.append(rec)
    return out


def _get_text(s3: Any, bucket: str, key: str) -> str | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def list_manifests(s3: Any, bucket: str, checkpoint_prefix: str, sim_id: str) -> list[dict[str, Any]]:
    """The manifests of the checkpoints of ``sim_id`` still in S3, by seq."""
    out = []
    base = f"{checkpoint_prefix}{sim_id}/"
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=base + "ckpt-"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/manifest.json"):
                text = _get_text(s3, bucket, obj["Key"])
                if text:
                    try:
                        out.append(json.loads(text))
                    except ValueError:
                        continue
    return sorted(out, key=lambda m: int(m.get("seq", 0)))


def gather_inputs(
    sim_id: str,
    *,
    s3: Any,
    bucket: str,
    results_prefix: str = "results/",
    checkpoint_prefix: str = "checkpoints/",
    job: Any = None,
    logs_client: Any = None,
    log_group: str = "/aws/batch/job",
) -> ReportInputs:
    """Read what the report needs from S3 (and CloudWatch Logs for Batch attempts)."""
    base = f"{results_prefix}{sim_id}/"
    text = _get_text(s3, bucket, base + "log.lammps")
    if text is None:
        raise FileNotFoundError(f"s3://{bucket}/{base}log.lammps: no LAMMPS log (has the job started?)")
    attempts = list(job.attempts) if job is not None else []
    logs: dict[int, str] = {}
    for a in attempts:
        n = int(a.get("attempt", 0))
        url = a.get("log")
        if isinstance(url, str) and url.startswith(f"s3://{bucket}/"):
            body = _get_text(s3, bucket, url[len(f"s3://{bucket}/") :])
            if body:
                logs[n] = body
        elif a.get("log_stream") and logs_client is not None:
            logs[n] = _cloudwatch_text(logs_client, log_group, str(a["log_stream"]))
    status = None
    st = _get_text(s3, bucket, base + "status.json")
    if st:
        with contextlib.suppress(ValueError):
            status = json.loads(st)
    return ReportInputs(
        sim_id=sim_id,
        log_text=text,
        attempts=attempts,
        attempt_logs=logs,
        manifests=list_manifests(s3, bucket, checkpoint_prefix, sim_id),
        status=status,
        ledger=job.ledger if job is not None else None,
        source=f"s3://{bucket}/{base}",
        telemetry=job.telemetry if job is not None and job.telemetry else None,
    )


def _cloudwatch_text(logs_client: Any, group: str, stream: str, max_pages: int = 50) -> str:
    """An attempt's container output from CloudWatch Logs (best effort; '' when gone)."""
    lines: list[str] = []
    kw: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    try:
        for _ in range(max_pages):
            page = logs_client.get_log_events(**kw)
            lines += [e.get("message", "") for e in page.get("events", [])]
            token = page.get("nextForwardToken")
            if not page.get("events") or token == kw.get("nextToken"):
                break
            kw["nextToken"] = token
    except Exception:  # log stream expired or not readable: report without it
        return "\n".join(lines)
    return "\n".join(lines)
