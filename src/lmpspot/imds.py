"""Watch the EC2 instance metadata service (IMDSv2) for spot interruption notices.

Policy (documented decision):

* **spot interruption** (``/latest/meta-data/spot/instance-action`` answers 200 with
  ``{"action": "terminate"|"stop"|"hibernate", "time": "...Z"}``): ``notice`` is set with
  ``reason == "spot-interruption"`` and ``exit_required`` is True -- the runner writes a
  checkpoint, flushes it to S3 and exits with its "interrupted" code (about two
  minutes remain).
* **rebalance recommendation** (``/latest/meta-data/events/recommendations/rebalance``
  answers 200 with ``{"noticeTime": "...Z"}``): an *early* warning that the instance is
  at elevated risk.  With ``checkpoint_on_rebalance=True`` (default) ``notice`` is set
  with ``reason == "rebalance"`` and ``exit_required`` False: the runner checkpoints now
  and keeps running, then calls ``acknowledge()``; a rebalance fires at most once.  An
  interruption notice that follows still fires.  With ``checkpoint_on_rebalance=False``
  the recommendation is only logged (``rebalance_seen`` is set).

IMDS errors (unreachable, timeouts, 5xx) are logged (rate-limited) and never fatal:
outside EC2 there is no IMDS, and the run must go on.  Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

DEFAULT_ENDPOINT = "http://169.254.169.254"
TOKEN_PATH = "/latest/api/token"  # noqa: S105 (a URL path)
INSTANCE_ACTION_PATH = "/latest/meta-data/spot/instance-action"
REBALANCE_PATH = "/latest/meta-data/events/recommendations/rebalance"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"  # noqa: S105 (header name)
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105 (header name)
REASON_INTERRUPTION = "spot-interruption"
REASON_REBALANCE = "rebalance"

LogFn = Callable[[str], None]
_log = logging.getLogger("lmpspot.imds")


class ImdsError(RuntimeError):
    """One IMDS request failed (soft: the watcher logs it and polls again)."""


def resolve_endpoint(endpoint: str | None = None) -> str:
    """Argument, else ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, else the link-local address."""
    ep = endpoint or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
    return ep.rstrip("/")


def imds_disabled() -> bool:
    """True when ``LMPSPOT_IMDS_DISABLED`` is set to a true value."""
    return os.environ.get("LMPSPOT_IMDS_DISABLED", "").strip().lower() in ("1", "true", "yes")


class SpotNoticeWatcher:
    """A daemon thread that polls IMDSv2 every ``interval`` seconds (see module doc)."""

    def __init__(
        self,
        endpoint: str | None = None,
        interval: float = 5.0,
        on_notice: Callable[[SpotNoticeWatcher], None] | None = None,
        *,
        checkpoint_on_rebalance: bool = True,
        token_ttl: int = 21600,
        timeout: float = 2.0,
        log: LogFn | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.interval = interval
        self.on_notice = on_notice
        self.checkpoint_on_rebalance = checkpoint_on_rebalance
        self.token_ttl = max(1, min(int(token_ttl), 21600))
        self.timeout = timeout
        self.log: LogFn = log or _log.info
        self.disabled = imds_disabled()
        self.notice = threading.Event()
        self.rebalance_seen = threading.Event()
        self.reason: str | None = None
        self.notice_time: str | None = None
        self.action: str | None = None
        self.polls = 0
        self.errors = 0
        self._token: str | None = None
        self._token_expiry = 0.0
        self._rebalance_fired = False
        self._interrupted = False
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> SpotNoticeWatcher:
        """Start polling (no-op when disabled by ``LMPSPOT_IMDS_DISABLED``)."""
        if self.disabled:
            self.log("IMDS polling disabled (LMPSPOT_IMDS_DISABLED); no spot notices")
            return self
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lmpspot-imds", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> SpotNoticeWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def exit_required(self) -> bool:
        """True once a spot interruption notice arrived (checkpoint, then exit)."""
        return self._interrupted

    def acknowledge(self) -> None:
        """The runner handled a rebalance notice: clear ``notice`` (interruptions stay set)."""
        with self._lock:
            if not self._interrupted:
                self.notice.clear()
                self.reason = None

    # -- HTTP --------------------------------------------------------------------------
    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        req = urllib.request.Request(self.endpoint + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read() if exc.fp else b""
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ImdsError(f"IMDS {method} {path} failed: {exc}") from exc

    def _get_token(self) -> str:
        now = time.monotonic()
        # Refresh well before expiry (10% of the TTL, at least 30 s, at most 5 min).
        margin = min(300.0, max(30.0, 0.1 * self.token_ttl))
        if self._token is None or now >= self._token_expiry - min(margin, self.token_ttl / 2):
            status, body = self._request("PUT", TOKEN_PATH, {TOKEN_TTL_HEADER: str(self.token_ttl)})
            if status != 200 or not body:
                raise ImdsError(f"IMDS token PUT answered HTTP {status}")
            self._token = body.decode().strip()
            self._token_expiry = now + self.token_ttl
        return self._token

    def _get(self, path: str) -> tuple[int, bytes]:
        status, body = self._request("GET", path, {TOKEN_HEADER: self._get_token()})
        if status == 401:  # token expired or IMDS restarted: fetch a new one once
            self._token = None
            status, body = self._request("GET", path, {TOKEN_HEADER: self._get_token()})
        return status, body

    # -- polling -----------------------------------------------------------------------
    def poll_once(self) -> str | None:
        """One poll of both endpoints; returns the reason newly signalled, if any.

        Raises ImdsError on transport/HTTP errors (the thread logs and swallows them).
        """
        self.polls += 1
        status, body = self._get(INSTANCE_ACTION_PATH)
        if status == 200 and not self._interrupted:
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            with self._lock:
                self._interrupted = True
                self.reason = REASON_INTERRUPTION
                self.action = str(data.get("action", "terminate"))
                self.notice_time = data.get("time")
                self.notice.set()
            self.log(f"spot interruption notice: {self.action} at {self.notice_time}")
            return REASON_INTERRUPTION
        if status not in (200, 404):
            raise ImdsError(f"IMDS {INSTANCE_ACTION_PATH} answered HTTP {status}")
        status, body = self._get(REBALANCE_PATH)
        if status == 200 and not self.rebalance_seen.is_set():
            try:
                when = json.loads(body).get("noticeTime")
            except (ValueError, AttributeError):
                when = None
            self.rebalance_seen.set()
            if not self.checkpoint_on_rebalance:
                self.log(f"rebalance recommendation at {when} (no action configured)")
                return None
            with self._lock:
                if self._interrupted or self._rebalance_fired:
                    return None
                self._rebalance_fired = True
                self.reason = REASON_REBALANCE
                self.notice_time = when
                self.notice.set()
            self.log(f"rebalance recommendation at {when}: checkpoint now, keep running")
            return REASON_REBALANCE
        if status not in (200, 404):
            raise ImdsError(f"IMDS {REBALANCE_PATH} answered HTTP {status}")
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fired = self.poll_once()
                if self._last_error is not None:
                    self.log("IMDS reachable again")
                    self._last_error = None
                if fired and self.on_notice is not None:
                    try:
                        self.on_notice(self)
                    except Exception as exc:
                        self.log(f"on_notice callback failed: {exc}")
            except Exception as exc:  # never fatal: no IMDS outside EC2, transient errors
                self.errors += 1
                msg = str(exc)
                if msg != self._last_error or self.errors % 60 == 1:
                    self.log(f"IMDS poll failed (#{self.errors}, will keep polling): {msg}")
                self._last_error = msg
            if self._interrupted:
                return  # nothing more to learn; the notice stays set
            self._stop.wait(self.interval)
