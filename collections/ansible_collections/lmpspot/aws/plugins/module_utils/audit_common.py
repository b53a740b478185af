# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the account audit (docs/AUDIT.md) shares.

A finding is a dict: ``id`` (the check, e.g. ``sg.open_ssh``), ``severity`` (one of
:data:`SEVERITIES`), ``resource`` (ARN, id or name), ``message``, ``fix`` and, when known,
``name`` (a Name tag or resource name, so that a waiver can match it).

The read helpers (:func:`pages`, :func:`read_or_none`) are what the collectors call: only
``Describe*``/``List*``/``Get*`` APIs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")


def rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES` (ValueError names the choices)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}") from None


def finding(
    check_id: str, severity: str, resource: str, message: str, fix: str, name: str | None = None
) -> dict[str, str]:
    """One finding; ``name`` (a Name tag or resource name, when known) lets a waiver match it."""
    rank(severity)
    out = {"id": check_id, "severity": severity, "resource": str(resource), "message": message, "fix": fix}
    if name:
        out["name"] = str(name)
    return out


def missing(kind: str, name: str, play: str) -> dict[str, str]:
    """``drift.missing`` (high): the ``kind`` ``name`` is in the config but not in the account."""
    return finding(
        "drift.missing", "high", name, f"{kind} {name} is in the config but not in the account", f"Run {play}"
    )


def as_dt(value: Any) -> datetime | None:
    """boto3 datetimes, epoch milliseconds (Batch) or ISO strings -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def tag_dict(items: Iterable[Mapping[str, str]] | Mapping[str, str] | None) -> dict[str, str]:
    """[{Key, Value}] (EC2, IAM, S3), [{key, value}] / {k: v} (ECR, Batch) -> {k: v}."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for t in items:
        key = t.get("Key", t.get("key"))
        out[str(key)] = str(t.get("Value", t.get("value", "")))
    return out


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for any other exception)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def pages(client, op: str, key: str, **kw) -> list:
    """Every ``key`` item of a List*/Describe* call, through its paginator when it has one."""
    out: list = []
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate(**kw):
            out += page.get(key, [])
    else:
        out += getattr(client, op)(**kw).get(key, [])
    return out


def read_or_none(fn: Callable, *absent_codes: str, **kw) -> Any:
    """Call a Get*/Describe* API; None when it answers one of ``absent_codes`` (absent)."""
    try:
        return fn(**kw)
    except Exception as exc:
        if error_code(exc) in absent_codes:
            return None
        raise
