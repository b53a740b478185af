"""One writer per simulation: a lease object in S3 with a fencing token.

``<base>lease.json`` (``base`` = ``S3Store.base`` = ``<prefix><sim_id>/``) holds
``{sim_id, uid, batch_job_id, token, renewals, ttl_s, status}``.  It is taken with a
conditional write before any MD work (``If-None-Match: *`` when absent, ``If-Match``
of the version read otherwise) and every renewal is ``If-Match`` the version this
runner last wrote, so a runner whose lease was taken over finds out at its next renewal
(:class:`LeaseLost`).  ``token`` goes up by one at every take-over; checkpoints,
the pointer and claims carry it, and :meth:`lmpspot.s3store.S3Store.commit_latest`
refuses a writer whose token is below the pointer's (fencing).

Who may take a lease that exists:

* its holder released it (clean exit), or
* it belongs to the same AWS Batch job (``AWS_BATCH_JOB_ID``): Batch runs one attempt of
  a job at a time, so a new attempt takes over at once, or
* it expired: no renewal for ``ttl`` seconds, measured on S3's clock only (the
  response's ``Date`` minus the object's ``LastModified``), so the runners' clock skew
  does not matter.

Otherwise the runner watches the lease: seen renewed (its holder is alive) ->
:class:`LeaseHeld` (exit 3), within about one heartbeat; not renewed until it expires ->
taken over (a crashed holder delays a successor by at most ``ttl``).
Heartbeat = ``ttl / 6``; the default ``ttl`` of 180 s gives 30 s renewals,
so six renewals in a row must fail before another runner may take over, and a holder
killed without releasing (host lost after the 2-minute spot notice) blocks the next
job's runner for at most 3 minutes -- less than a replacement instance takes to boot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lmpspot.s3errors import is_not_found, is_precondition_failed

LEASE_NAME = "lease.json"
DEFAULT_TTL = 180.0
LogFn = Callable[[str], None]
_log = logging.getLogger("lmpspot.lease")


class LeaseHeld(RuntimeError):
    """Another live runner owns this simulation."""


class LeaseLost(RuntimeError):
    """This runner's lease was taken over: it must stop writing."""


class Lease:
    """The simulation's lease, as seen and held by one runner."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        base: str,
        sim_id: str,
        uid: str,
        *,
        batch_job_id: str | None = None,
        ttl: float = DEFAULT_TTL,
        log: LogFn | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if ttl <= 0:
            raise ValueError("lease ttl must be > 0")
        self.client = client
        self.bucket = bucket
        self.key = (base if base.endswith("/") else base + "/") + LEASE_NAME
        self.sim_id = sim_id
        self.uid = uid
        self.batch_job_id = batch_job_id or None
        self.ttl = float(ttl)
        self.heartbeat = self.ttl / 6
        self.log: LogFn = log or _log.info
        self.sleep = sleep
        self.token = 0
        self.renewals = 0
        self.previous: dict | None = None  # the lease this runner took over (None: new)
        self._etag: str | None = None
        self._lock = threading.Lock()
        self.lost = threading.Event()

    # -- reading ------------------------------------------------------------------------
    def read(self) -> tuple[dict | None, str | None, float]:
        """(content, etag, age in s on S3's clock); (None, None, 0) when absent."""
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if is_not_found(exc):
                return None, None, 0.0
            raise
        data = json.loads(obj["Body"].read())
        date = obj.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date) if date else datetime.now(timezone.utc)
        age = (now - obj["LastModified"]).total_seconds()
        return data, obj["ETag"], max(0.0, age)

    def _body(self, token: int, status: str = "held") -> bytes:
        return json.dumps(
            {
                "sim_id": self.sim_id,
                "uid": self.uid,
                "batch_job_id": self.batch_job_id,
                "token": token,
                "renewals": self.renewals,
                "ttl_s": self.ttl,
                "status": status,
            },
            sort_keys=True,
        ).encode()

    def _put(self, body: bytes, etag: str | None) -> str:
        cond = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        resp = self.client.put_object(
            Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json", **cond
        )
        return resp["ETag"]

    # -- taking -------------------------------------------------------------------------
    def _takeable(self, data: dict, age: float) -> str | None:
        if data.get("uid") == self.uid:
            return "ours"
        if data.get("status") == "released":
            return "released by its holder"
        if self.batch_job_id and data.get("batch_job_id") == self.batch_job_id:
            return f"held by an earlier attempt of Batch job {self.batch_job_id}"
        if age > self.ttl:
            return f"expired ({age:.0f}s since its last renewal > ttl {self.ttl:.0f}s)"
        return None

    def acquire(self) -> int:
        """Take the lease; returns the fencing token.  Raises LeaseHeld, or the S3 error."""
        seen: str | None = None
        while True:
            data, etag, age = self.read()
            if data is None:
                why = "new"
            else:
                why = self._takeable(data, age)
                if why is None:
                    holder = f"runner {data.get('uid')} (Batch job {data.get('batch_job_id') or '-'})"
                    if seen is not None and etag != seen:
                        raise LeaseHeld(
                            f"s3://{self.bucket}/{self.key}: simulation {self.sim_id} is owned by {holder}, "
                            f"renewed {age:.0f}s ago"
                        )
                    seen = etag
                    wait = min(self.heartbeat, max(0.5, self.ttl - age + 1.0))
                    self.log(f"lease held by {holder}, not renewed for {age:.0f}s: watching it ({wait:.0f}s)")
                    self.sleep(wait)
                    continue
            token = int((data or {}).get("token", 0)) + 1
            try:
                with self._lock:
                    self.renewals = 0
                    self._etag = self._put(self._body(token), etag)
                    self.token = token
            except ClientError as exc:
                if is_precondition_failed(exc):
                    seen = None
                    continue  # someone else moved first: look again
                raise
            self.previous = data if data and data.get("uid") != self.uid else None
            self.log(f"lease taken ({why}): token {token}, ttl {self.ttl:.0f}s")
            return token

    # -- holding ------------------------------------------------------------------------
    def renew(self) -> None:
        """Renew (If-Match our last write).  LeaseLost when it was taken over."""
        with self._lock:
            if self.lost.is_set():
                raise LeaseLost(f"lease of {self.sim_id} was taken over")
            if self._etag is None:
                raise LeaseLost("lease not held")
            self.renewals += 1
            try:
                self._etag = self._put(self._body(self.token), self._etag)
            except ClientError as exc:
                if is_precondition_failed(exc) or is_not_found(exc):
                    self.lost.set()
                    raise LeaseLost(
                        f"s3://{self.bucket}/{self.key} was taken over by another runner: stopping"
                    ) from exc
                raise

    def release(self) -> None:
        """Mark the lease released (a successor may take it at once); best effort."""
        with self._lock:
            if self._etag is None or self.lost.is_set():
                return
            try:
                self._put(self._body(self.token, "released"), self._etag)
                self._etag = None
            except (ClientError, BotoCoreError) as exc:
                self.log(f"lease not released ({exc}); it expires after {self.ttl:.0f}s")


class Heartbeat:
    """Renews the lease every ``lease.heartbeat`` s and flushes the attempt record."""

    def __init__(self, lease: Lease | None, record: Any = None, log: LogFn | None = None) -> None:
        self.lease = lease
        self.record = record
        self.log: LogFn = log or _log.info
        self.interval = lease.heartbeat if lease is not None else 30.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmpspot-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        if self.lease is not None and not self.lease.lost.is_set():
            try:
                self.lease.renew()
            except LeaseLost as exc:
                self.log(str(exc))
            except (ClientError, BotoCoreError, OSError) as exc:
                self.log(f"lease renewal failed ({type(exc).__name__}); retrying in {self.interval:.0f}s")
        if self.record is not None:
            self.record.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


__all__ = ["DEFAULT_TTL", "Heartbeat", "Lease", "LeaseHeld", "LeaseLost"]
