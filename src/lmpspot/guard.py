"""An attempt's start and end: lease, fail-safe resume, attempt record, heartbeat.

:meth:`AttemptGuard.start` runs before any MD work: it records the attempt, takes the
simulation's lease (:mod:`lmpspot.lease`; another live runner -> :class:`LeaseHeld`,
exit 3), finds the resume checkpoint (:func:`lmpspot.resume.find_resume_checkpoint`;
S3 unreachable or unclear for ``store_wait`` seconds -> :class:`StoreUnavailable`, exit
76), fences the pointer with the new token, closes the record of a predecessor that
vanished, and starts the heartbeat.  :meth:`AttemptGuard.stop` writes the attempt's end
and releases the lease.  Without S3 only the local attempt record is kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lmpspot.attempts import AttemptRecord, DirBackend, S3Backend, close_vanished, read_attempts
from lmpspot.lease import DEFAULT_TTL, Heartbeat, Lease, LeaseHeld, LeaseLost
from lmpspot.resume import StoreUnavailable, _s3_call, with_store_retry
from lmpspot.telemetry import resume_events

DEFAULT_STORE_WAIT = 300.0
LogFn = Callable[[str], None]

__all__ = ["DEFAULT_STORE_WAIT", "AttemptGuard", "LeaseHeld", "LeaseLost", "StoreUnavailable"]


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


class AttemptGuard:
    """Everything an attempt holds in the store besides its checkpoints."""

    def __init__(
        self,
        s3: Any,
        sim_id: str,
        local_dir: Path,
        *,
        attempt: int | None = None,
        store_wait: float | None = None,
        lease_ttl: float | None = None,
        log: LogFn,
    ) -> None:
        self.s3 = s3
        self.log = log
        self.store_wait = (
            store_wait if store_wait is not None else _env_float("LMPSPOT_STORE_WAIT", DEFAULT_STORE_WAIT)
        )
        ttl = lease_ttl if lease_ttl is not None else _env_float("LMPSPOT_LEASE_TTL", DEFAULT_TTL)
        batch_job = os.environ.get("AWS_BATCH_JOB_ID") or None
        backends: list[Any] = [DirBackend(local_dir)]
        if s3 is not None:
            backends.insert(0, S3Backend(s3.client, s3.bucket, s3.base))
        self.backends = backends
        self.record = AttemptRecord(
            backends,
            sim_id,
            batch_job_id=batch_job,
            batch_attempt=attempt,
            instance_type=os.environ.get("LMPSPOT_INSTANCE_TYPE") or None,
            lifecycle=os.environ.get("LMPSPOT_LIFECYCLE") or ("local" if not batch_job else None),
            log=log,
        )
        self.lease = (
            Lease(
                s3.client,
                s3.bucket,
                s3.base,
                sim_id,
                self.record.uid,
                batch_job_id=batch_job,
                ttl=ttl,
                log=log,
            )
            if s3 is not None
            else None
        )
        self.heartbeat = Heartbeat(self.lease, self.record, log=log)
        self.sim_id = sim_id
        self._started = False
        self._previous: dict[str, Any] | None = None  # the attempt record of the lease's last holder
        self._events_taken = False

    @property
    def token(self) -> int:
        return self.lease.token if self.lease is not None else 0

    @property
    def superseded(self) -> bool:
        """True once another runner took this simulation's lease over."""
        return self.lease is not None and self.lease.lost.is_set()

    def start(self, resolve: Callable[[], Any]) -> Any:
        """Lease, then ``resolve()`` (the resume search), both retried while S3 is unclear."""
        self.record.flush()
        lease = self.lease
        if lease is not None:
            with_store_retry(lambda: _s3_call("taking the lease", lease.acquire), self.store_wait, self.log)
        found = with_store_retry(resolve, self.store_wait, self.log)
        man = found[1] if found is not None else None
        if lease is not None:
            s3 = self.s3
            with_store_retry(
                lambda: _s3_call("fencing the pointer", lambda: s3.fence_pointer(lease.token)),
                self.store_wait,
                self.log,
            )
            prev = lease.previous
            if prev and prev.get("status") != "released" and prev.get("uid"):
                close_vanished(
                    self.backends, self.sim_id, str(prev["uid"]), man.step if man else None, self.log
                )
            earlier = self._earlier()
            if prev and prev.get("uid"):
                uid = str(prev["uid"])
                found_prev = [r for r in earlier or [] if r.get("uid") == uid]
                self._previous = found_prev[-1] if found_prev else self._read_record(uid)
            self.record.set(pointer=getattr(s3, "pointer_seen", None))
        self.record.set(resumed_from=man, last_checkpoint=man)
        self.record.flush()
        self.heartbeat.start()
        self._started = True
        return found

    def committed(self, manifest: Any) -> None:
        """A checkpoint is committed in the store (the syncer calls this, after moving
        ``latest.json``: the record carries the pointer as written, for status)."""
        self.record.set(last_checkpoint=manifest, pointer=getattr(self.s3, "pointer_seen", None))

    def _earlier(self) -> list[dict[str, Any]] | None:
        """The simulation's earlier attempt records, now carried in this one (``earlier``):
        a reader that lists them unchanged need not read them.  Best effort."""
        try:
            earlier = read_attempts(
                self.s3.client, self.s3.bucket, self.s3.base, self.sim_id, skip=self.record.name
            )
        except (ClientError, BotoCoreError, OSError, ValueError) as exc:
            self.log(f"earlier attempt records not read ({exc}); readers will read them")
            return None
        self.record.set_earlier(earlier)
        return earlier

    def step(self, step: int) -> None:
        self.record.step(step)

    def progress(self, status: dict[str, Any]) -> None:
        """The runner's progress report, kept in the attempt record for ``lmpspot status``."""
        if status:
            self.record.progress(status)

    def _read_record(self, uid: str) -> dict[str, Any] | None:
        """Attempt ``uid``'s record (best effort: telemetry only)."""
        for be in self.backends:
            try:
                for name in be.names():
                    if name.endswith(f"-{uid}.json"):
                        return be.read(name)[0]
            except (ClientError, BotoCoreError, OSError, ValueError) as exc:
                self.log(f"attempt record {uid}: not read for telemetry ({exc})")
        return None

    def take_events(self) -> dict[str, float]:
        """Once, after this attempt's first new MD step: what the previous attempt's end cost
        (:func:`lmpspot.telemetry.resume_events`), for the fleet's EMF metrics."""
        if self._events_taken or self.record.data.get("first_step_at") is None:
            return {}
        self._events_taken = True
        return resume_events(self._previous, self.record.data)

    def notice(self) -> None:
        """A spot interruption notice arrived (kept as the record's ``notice_at``)."""
        self.record.notice()

    def stop(self, exit_code: int, reason: str) -> None:
        """Record the end of the attempt and release the lease (it was ours)."""
        if self._started:
            self.heartbeat.stop()
        self.record.stop(exit_code, reason)
        if self.lease is not None and exit_code != 3:
            self.lease.release()
