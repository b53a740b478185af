"""The attempt record: every runner attempt appends itself to its simulation's history.

Layout (``base`` is the checkpoint base of the simulation, ``S3Store.base`` =
``<prefix><sim_id>/``; locally the same names under a directory)::

    <base>attempts/<started>-<uid>.json     one JSON object per attempt

``<started>`` is the attempt's start as compact UTC (``20261203T150102.123456Z``), so the
names sort by start; ``<uid>`` is 8 hex digits.  The object is created with
``If-None-Match: *`` and every later update is ``If-Match: <etag>`` of the last write, so
an attempt only ever replaces its own last version.  Fields (``schema`` 1):

``sim_id, uid, batch_job_id, batch_attempt, started, stopped`` (null while running),
``updated, host, instance_type, lifecycle`` ("spot"/"on-demand"/"local"/null),
``exit_code, exit_reason, resumed_from`` ({seq, stage, step} or null),
``last_checkpoint`` ({seq, stage, step} or null: the newest one committed in S3),
``last_step`` (the LAMMPS step last reported), ``steps_lost`` (MD steps run after the
last committed checkpoint), ``first_step_at`` (when the attempt first reported an MD step
past the one it resumed from: the end of its first chunk, at most ``max_chunk_seconds``
after that step ran; null until then), ``notice_at`` (when the runner first saw a spot
interruption notice; null without one), ``progress`` (the runner's last progress report, the
fields of ``status.json`` that ``lmpspot status`` shows: :data:`PROGRESS_FIELDS`; null until
the first report, absent in records older than it), ``earlier`` (the simulation's earlier
attempt records as this attempt found them when it started, each ``{name, etag, record}``:
a reader whose listing shows a record under that name with that ETag has it without
reading it, see :func:`read_attempts`; at most :data:`MAX_EARLIER`, absent in older records),
``pointer`` (``latest.json`` as this attempt last wrote or found it: ``{etag, seq, stage,
step, at}``, ``at`` the checkpoint's creation; null until then, absent in older records).
An attempt that died without stopping (SIGKILL, host gone) keeps ``stopped: null``; the
attempt that takes its lease over fills in ``stopped`` (its last ``updated``),
``stopped_estimated: true``, ``exit_reason`` and ``steps_lost`` from its ``last_step``
against the checkpoint the new attempt resumes from.

The same code writes to S3 (:class:`S3Backend`) and to a local directory
(:class:`DirBackend`, ETag = sha256 of the bytes, create with ``O_EXCL``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lmpspot.s3errors import is_precondition_failed
from lmpspot.timefmt import utc_compact, utc_iso

SCHEMA = 1
ATTEMPTS_DIR = "attempts/"
LIFECYCLES = ("spot", "on-demand", "local")
# What the record keeps of a progress report (lmpspot.progress.Progress.last_status): what
# lmpspot status shows, so that a sweep's status reads the records (which one listing
# vouches for) and not every simulation's status.json as well.
PROGRESS_FIELDS = (
    "step", "total_steps", "progress_percent", "steps_per_s", "sim_rate_per_day",
    "sim_rate_unit", "eta_seconds", "updated_at",
)  # fmt: skip
# The earlier attempts a record carries (a simulation with more has the rest read).
MAX_EARLIER = 100
LogFn = Callable[[str], None]
_log = logging.getLogger("lmpspot.attempts")


class AttemptConflict(RuntimeError):
    """The record changed under us (its ETag is not the one we last wrote)."""


def _point(man: Any) -> dict[str, int] | None:
    """``{seq, stage, step}`` of a Manifest (or of such a dict); None passes through."""
    if man is None:
        return None
    if isinstance(man, dict):
        return {k: int(man[k]) for k in ("seq", "stage", "step")}
    return {"seq": int(man.seq), "stage": int(man.stage), "step": int(man.step)}


def _encode(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, indent=2, sort_keys=True).encode()


class Backend(Protocol):
    def create(self, name: str, body: bytes) -> str: ...
    def replace(self, name: str, body: bytes, etag: str) -> str: ...
    def read(self, name: str) -> tuple[dict[str, Any], str]: ...
    def names(self) -> list[str]: ...


class S3Backend:
    """Attempt objects under ``s3://bucket/<base>attempts/``."""

    def __init__(self, client: Any, bucket: str, base: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = (base if base.endswith("/") else base + "/") + ATTEMPTS_DIR

    def create(self, name: str, body: bytes) -> str:
        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + name, Body=body, IfNoneMatch="*",
                ContentType="application/json",
            )  # fmt: skip
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise AttemptConflict(f"{self.prefix}{name} already exists") from exc
            raise
        return resp["ETag"]

    def replace(self, name: str, body: bytes, etag: str) -> str:
        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + name, Body=body, IfMatch=etag,
                ContentType="application/json",
            )  # fmt: skip
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise AttemptConflict(f"{self.prefix}{name} changed under us") from exc
            raise
        return resp["ETag"]

    def read(self, name: str) -> tuple[dict[str, Any], str]:
        obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        return json.loads(obj["Body"].read()), obj["ETag"]

    def listing(self) -> dict[str, str]:
        """Record name -> ETag, from one listing."""
        out: dict[str, str] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for o in page.get("Contents", []):
                name = o["Key"][len(self.prefix) :]
                if name.endswith(".json") and "/" not in name:
                    out[name] = o["ETag"]
        return dict(sorted(out.items()))

    def names(self) -> list[str]:
        return list(self.listing())


class DirBackend:
    """The same record in a local directory (a run without S3, or a local mirror)."""

    _lock = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def _etag(body: bytes) -> str:
        return '"' + hashlib.sha256(body).hexdigest() + '"'

    def _write(self, path: Path, body: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def create(self, name: str, body: bytes) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError as exc:
            raise AttemptConflict(f"{self.root / name} already exists") from exc
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        return self._etag(body)

    def replace(self, name: str, body: bytes, etag: str) -> str:
        path = self.root / name
        with self._lock:
            if self._etag(path.read_bytes()) != etag:
                raise AttemptConflict(f"{path} changed under us")
            self._write(path, body)
        return self._etag(body)

    def read(self, name: str) -> tuple[dict[str, Any], str]:
        body = (self.root / name).read_bytes()
        return json.loads(body), self._etag(body)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("*.json"))


def _sort_key(rec: dict[str, Any]) -> tuple[str, str]:
    return (str(rec.get("started") or ""), str(rec.get("uid") or ""))


def _carried(newest: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """name -> ``{etag, record}`` of the earlier records ``newest`` carries (``earlier``)."""
    out = {}
    for e in (newest or {}).get("earlier") or []:
        if isinstance(e, dict) and isinstance(e.get("record"), dict) and e.get("etag") and e.get("name"):
            out[str(e["name"])] = e
    return out


def _read_all(
    backend: Backend,
    sim_id: str | None,
    names: list[str] | dict[str, str | None],
    skip: str | None = None,
) -> list[dict[str, Any]]:
    """The records, oldest first.  ``names`` as a dict (name -> listed ETag): the newest
    record is read first, and an earlier record it carries with the listed ETag is taken
    from it, not read (S3's listings are strongly consistent and an ETag changes with the
    content, so that copy is the object); any other is read.  ``skip``: a name left out
    (the reader's own record)."""
    listed = dict(names) if isinstance(names, dict) else dict.fromkeys(names)
    if skip is not None:
        listed.pop(skip, None)
    order = sorted(listed, reverse=True)
    carried: dict[str, dict[str, Any]] | None = None  # from the newest readable record
    out = []
    for name in order:
        e = (carried or {}).get(name)
        if e is not None and listed[name] is not None and e["etag"] == listed[name]:
            rec, etag = dict(e["record"]), str(e["etag"])
        else:
            try:
                rec, etag = backend.read(name)
            except (ClientError, ValueError, OSError) as exc:
                _log.warning("attempt record %s unreadable: %s", name, exc)
                continue
        if not isinstance(rec, dict):
            continue
        if carried is None:
            carried = _carried(rec) if listed[name] is not None else {}
        rec.pop("earlier", None)
        if sim_id is not None and rec.get("sim_id") != sim_id:
            continue
        rec["_name"] = name
        rec["_etag"] = etag
        out.append(rec)
    return sorted(out, key=_sort_key)


def read_attempts(
    client: Any,
    bucket: str,
    base_or_prefix: str,
    sim_id: str,
    names: list[str] | dict[str, str | None] | None = None,
    skip: str | None = None,
) -> list[dict[str, Any]]:
    """Every attempt of ``sim_id`` in S3, sorted by start (oldest first).

    ``base_or_prefix`` is either the simulation's checkpoint base (``<prefix><sim_id>/``,
    what ``S3Store.base`` is) or the checkpoint prefix alone (``checkpoints/``), in which
    case ``sim_id`` is appended.  Each dict carries ``_name`` (its object name) and
    ``_etag``.  ``names``: the records when the caller has listed them already (one
    listing of a whole prefix serves many simulations), as name -> ETag (then the newest
    record's ``earlier`` spares reading the records it carries unchanged) or as a list of
    names; None lists ``<base>attempts/`` (with ETags).  ``skip``: a record name left out.
    """
    base = base_or_prefix if base_or_prefix.endswith("/") or not base_or_prefix else base_or_prefix + "/"
    if base.rstrip("/").rsplit("/", 1)[-1] != sim_id:
        base = f"{base}{sim_id}/"
    backend = S3Backend(client, bucket, base)
    return _read_all(backend, sim_id, backend.listing() if names is None else names, skip)


def read_local_attempts(root: Path, sim_id: str | None = None) -> list[dict[str, Any]]:
    """The attempt records in a local directory (:class:`DirBackend`), sorted by start."""
    backend = DirBackend(root)
    return _read_all(backend, sim_id, backend.names())  # no ETags to compare: read each


class AttemptRecord:
    """This attempt's record, kept in one or more backends (S3 and/or a local dir).

    Writes are best effort: a backend that fails (S3 down) is retried at the next
    :meth:`flush`; the simulation never waits for its record.  Thread-safe.
    """

    def __init__(
        self,
        backends: list[Backend],
        sim_id: str,
        *,
        batch_job_id: str | None = None,
        batch_attempt: int | None = None,
        host: str | None = None,
        instance_type: str | None = None,
        lifecycle: str | None = None,
        log: LogFn | None = None,
    ) -> None:
        if lifecycle is not None and lifecycle not in LIFECYCLES:
            raise ValueError(f"lifecycle {lifecycle!r} is not one of {LIFECYCLES}")
        now = datetime.now(timezone.utc)
        self.uid = secrets.token_hex(4)
        self.name = f"{utc_compact(now, digits=6)}-{self.uid}.json"
        self.backends = list(backends)
        self.log: LogFn = log or _log.info
        self._lock = threading.Lock()
        self._etags: dict[int, str | None] = {i: None for i in range(len(self.backends))}
        self._dirty = True
        self.data: dict[str, Any] = {
            "schema": SCHEMA,
            "sim_id": sim_id,
            "uid": self.uid,
            "batch_job_id": batch_job_id,
            "batch_attempt": batch_attempt,
            "started": utc_iso(now, digits=6),
            "stopped": None,
            "updated": utc_iso(now, digits=6),
            "host": host if host is not None else socket.gethostname(),
            "instance_type": instance_type,
            "lifecycle": lifecycle,
            "exit_code": None,
            "exit_reason": None,
            "resumed_from": None,
            "last_checkpoint": None,
            "last_step": None,
            "steps_lost": None,
            "first_step_at": None,
            "notice_at": None,
            "progress": None,
        }

    # -- state changes (cheap; written at the next flush) -------------------------------
    def set(self, **fields: Any) -> None:
        with self._lock:
            for k, v in fields.items():
                self.data[k] = _point(v) if k in ("resumed_from", "last_checkpoint") else v
            self._dirty = True

    def step(self, step: int) -> None:
        """The LAMMPS step reached (called with progress reports)."""
        with self._lock:
            if self.data["last_step"] != step:
                self.data["last_step"] = int(step)
                self._dirty = True
                resumed = (self.data["resumed_from"] or {}).get("step")
                if self.data["first_step_at"] is None and step != resumed:
                    self.data["first_step_at"] = utc_iso(digits=6)

    def progress(self, status: dict[str, Any]) -> None:
        """The runner's latest progress report (written at the next flush)."""
        kept = {k: status.get(k) for k in PROGRESS_FIELDS}
        with self._lock:
            if kept != self.data["progress"]:
                self.data["progress"] = kept
                self._dirty = True

    def set_earlier(self, records: list[dict[str, Any]]) -> None:
        """The simulation's earlier records as :func:`read_attempts` returned them (each
        with ``_name`` and ``_etag``), carried in this one (``earlier``) for readers."""
        kept = [
            {
                "name": r["_name"],
                "etag": r["_etag"],
                "record": {k: v for k, v in r.items() if not k.startswith("_") and k != "earlier"},
            }
            for r in records
            if r.get("_name") and r.get("_etag") and r.get("uid") != self.uid
        ][-MAX_EARLIER:]
        with self._lock:
            self.data["earlier"] = kept
            self._dirty = True

    def notice(self) -> None:
        """The runner saw a spot interruption notice (the first one is kept)."""
        with self._lock:
            if self.data["notice_at"] is None:
                self.data["notice_at"] = utc_iso(digits=6)
                self._dirty = True

    def stop(self, exit_code: int, reason: str) -> bool:
        """Record the end of this attempt and write it (returns :meth:`flush`'s result)."""
        with self._lock:
            self.data["exit_code"] = int(exit_code)
            self.data["exit_reason"] = reason
            self.data["stopped"] = utc_iso(digits=6)
            ck, last = self.data["last_checkpoint"], self.data["last_step"]
            base = ck or self.data["resumed_from"]
            if last is not None:
                self.data["steps_lost"] = max(0, int(last) - int(base["step"])) if base else int(last)
            elif self.data["steps_lost"] is None:
                self.data["steps_lost"] = 0
            self._dirty = True
        return self.flush()

    # -- writing ------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write the record to every backend that is behind; True when all are current."""
        with self._lock:
            if not self._dirty:
                return True
            self.data["updated"] = utc_iso(digits=6)
            body = _encode(self.data)
            ok = True
            for i, be in enumerate(self.backends):
                ok &= self._write_one(i, be, body)
            self._dirty = not ok
            return ok

    def _write_one(self, i: int, be: Backend, body: bytes) -> bool:
        try:
            etag = self._etags[i]
            self._etags[i] = be.create(self.name, body) if etag is None else be.replace(self.name, body, etag)
            return True
        except AttemptConflict as exc:
            # Our own write whose response was lost (a retry after a timeout): adopt it.
            with contextlib.suppress(ClientError, BotoCoreError, OSError, ValueError):
                rec, etag = be.read(self.name)
                if rec.get("uid") == self.uid:
                    self._etags[i] = be.replace(self.name, body, etag)
                    return True
            self.log(f"attempt record: {exc}")
        except (ClientError, BotoCoreError, OSError) as exc:
            self.log(f"attempt record not written ({type(exc).__name__}: {exc}); will retry")
        return False


def close_vanished(
    backends: list[Backend], sim_id: str, uid: str, resumed_step: int | None, log: LogFn | None = None
) -> bool:
    """Fill in the record of attempt ``uid`` that died without stopping (see module doc).

    ``resumed_step`` is the step of the checkpoint the new attempt resumes from (None: it
    starts from the beginning, so every step the vanished attempt ran was lost).
    """
    log = log or _log.info
    done = False
    for be in backends:
        for name in be.names():
            if not name.endswith(f"-{uid}.json"):
                continue
            try:
                rec, etag = be.read(name)
                if rec.get("sim_id") != sim_id or rec.get("stopped") is not None:
                    continue
                last = rec.get("last_step")
                base = resumed_step if resumed_step is not None else 0
                rec["steps_lost"] = max(0, int(last) - base) if last is not None else None
                rec["stopped"] = rec.get("updated")
                rec["stopped_estimated"] = True
                rec["exit_reason"] = (
                    rec.get("exit_reason") or "vanished (no stop recorded: killed or host lost)"
                )
                be.replace(name, _encode(rec), etag)
                done = True
            except (AttemptConflict, ClientError, BotoCoreError, OSError, ValueError) as exc:
                log(f"attempt record {name}: could not close it ({exc})")
    return done


__all__ = [
    "ATTEMPTS_DIR",
    "MAX_EARLIER",
    "PROGRESS_FIELDS",
    "AttemptConflict",
    "AttemptRecord",
    "DirBackend",
    "S3Backend",
    "close_vanished",
    "read_attempts",
    "read_local_attempts",
]
