"""A local EC2 instance-metadata (IMDSv2) stand-in, a real HTTP server.

Behaves like IMDS for what lmpspot uses:

* ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1..21600)
  returns a token; without the header: 400.  A PUT carrying ``X-Forwarded-For`` is
  refused (403), as on EC2.
* every ``GET /latest/...`` needs a valid, unexpired ``X-aws-ec2-metadata-token``
  (IMDSv2 required): otherwise 401.
* ``/latest/meta-data/spot/instance-action``: 404 until an interruption is scheduled,
  then ``{"action": "terminate", "time": "<now + delay>Z"}``.
* ``/latest/meta-data/events/recommendations/rebalance``: 404 until recommended, then
  ``{"noticeTime": "...Z"}``.
* a few static keys: ``instance-id``, ``instance-type``, ``instance-life-cycle``,
  ``placement/availability-zone``, ``placement/region``.

Control (no token needed), for tests, molecule scenarios and the local executor::

    POST /lmpspot/interrupt   body {"delay_s": 120, "action": "terminate", "after_s": 0}
    POST /lmpspot/rebalance
    POST /lmpspot/fail        body {"status": 500}   (0 clears: answer normally again)
    POST /lmpspot/reset
    GET  /lmpspot/state

Run standalone: ``python -m lmpspot_local.imds_stub --port 8111``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lmpspot.timefmt import utc_iso

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105 (header name)


class ImdsStub:
    """The server.  ``start()`` serves on a background thread; ``url`` is its endpoint."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        instance_id: str = "i-0123456789abcdef0",
        instance_type: str = "g5.xlarge",
        region: str = "us-east-2",
        availability_zone: str = "us-east-2a",
    ) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self.static = {
            "instance-id": instance_id,
            "instance-type": instance_type,
            "instance-life-cycle": "spot",
            "placement/availability-zone": availability_zone,
            "placement/region": region,
        }
        self.requests: list[tuple[str, str, int]] = []
        self._interrupt: dict[str, Any] | None = None
        self._rebalance: str | None = None
        self._fail_status = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "EC2ws"
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, body: str | bytes = b"", ctype: str = "text/plain"):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with stub._lock:
                    stub.requests.append((self.command, self.path, status))

            def _body(self) -> dict[str, Any]:
                n = int(self.headers.get("Content-Length") or 0)
                if not n:
                    return {}
                try:
                    data = json.loads(self.rfile.read(n))
                except ValueError:
                    return {}
                return data if isinstance(data, dict) else {}

            def do_PUT(self) -> None:
                self._body()
                if self.path != "/latest/api/token":
                    return self._send(404, "Not Found")
                if self.headers.get("X-Forwarded-For"):
                    return self._send(403, "Forbidden")
                if stub._fail_status:
                    return self._send(stub._fail_status, "failure injected")
                try:
                    ttl = int(self.headers.get(TTL_HEADER, ""))
                except ValueError:
                    return self._send(400, "Missing or invalid token TTL")
                if not 1 <= ttl <= 21600:
                    return self._send(400, "Invalid token TTL")
                token = secrets.token_urlsafe(32)
                with stub._lock:
                    stub._tokens[token] = time.monotonic() + ttl
                self.send_response(200)
                self.send_header(TTL_HEADER, str(ttl))
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(token)))
                self.end_headers()
                self.wfile.write(token.encode())
                with stub._lock:
                    stub.requests.append(("PUT", self.path, 200))
                return None

            def do_GET(self) -> None:
                if self.path.startswith("/lmpspot/"):
                    return self._control("GET")
                if stub._fail_status:
                    return self._send(stub._fail_status, "failure injected")
                token = self.headers.get(TOKEN_HEADER)
                with stub._lock:
                    expiry = stub._tokens.get(token or "")
                if expiry is None or expiry < time.monotonic():
                    return self._send(401, "Unauthorized")
                status, body, ctype = stub._metadata(self.path)
                return self._send(status, body, ctype)

            def do_POST(self) -> None:
                if self.path.startswith("/lmpspot/"):
                    return self._control("POST")
                return self._send(405, "Method Not Allowed")

            def _control(self, method: str) -> None:
                path = self.path.split("?", maxsplit=1)[0]
                if method == "GET" and path == "/lmpspot/state":
                    return self._send(200, json.dumps(stub.state()), "application/json")
                if method != "POST":
                    return self._send(405, "Method Not Allowed")
                body = self._body()
                if path == "/lmpspot/interrupt":
                    stub.schedule_interruption(
                        float(body.get("delay_s", 120)),
                        action=str(body.get("action", "terminate")),
                        after_s=float(body.get("after_s", 0)),
                    )
                elif path == "/lmpspot/rebalance":
                    stub.recommend_rebalance()
                elif path == "/lmpspot/fail":
                    stub.fail_with(int(body.get("status", 500)))
                elif path == "/lmpspot/reset":
                    stub.reset()
                else:
                    return self._send(404, "Not Found")
                return self._send(200, json.dumps(stub.state()), "application/json")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control API -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}"

    def schedule_interruption(
        self, delay_s: float = 120.0, action: str = "terminate", after_s: float = 0.0
    ) -> None:
        """Publish a spot interruption notice ``after_s`` from now, for ``delay_s`` later."""
        now = time.time()
        with self._lock:
            self._interrupt = {
                "visible_at": time.monotonic() + after_s,
                "action": action,
                "time": utc_iso(now + after_s + delay_s),
            }

    def recommend_rebalance(self) -> None:
        """Publish a rebalance recommendation (from now on)."""
        with self._lock:
            self._rebalance = utc_iso(time.time())

    def fail_with(self, status: int) -> None:
        """Answer every metadata request with HTTP ``status`` (0: behave again)."""
        with self._lock:
            self._fail_status = status

    def reset(self) -> None:
        """No notices, no failures, no tokens."""
        with self._lock:
            self._interrupt = None
            self._rebalance = None
            self._fail_status = 0
            self._tokens.clear()

    def expire_tokens(self) -> None:
        """Invalidate every issued token (as an IMDS restart would)."""
        with self._lock:
            self._tokens.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "interrupt": None if self._interrupt is None else dict(self._interrupt),
                "rebalance": self._rebalance,
                "fail_status": self._fail_status,
                "tokens": len(self._tokens),
                "requests": len(self.requests),
            }

    def _metadata(self, path: str) -> tuple[int, str, str]:  # noqa: PLR0911
        path = path.split("?", maxsplit=1)[0]
        with self._lock:
            interrupt = self._interrupt
            rebalance = self._rebalance
        if path == "/latest/meta-data/spot/instance-action":
            if interrupt is None or time.monotonic() < interrupt["visible_at"]:
                return 404, "Not Found", "text/plain"
            body = {"action": interrupt["action"], "time": interrupt["time"]}
            return 200, json.dumps(body), "application/json"
        if path == "/latest/meta-data/events/recommendations/rebalance":
            if rebalance is None:
                return 404, "Not Found", "text/plain"
            return 200, json.dumps({"noticeTime": rebalance}), "application/json"
        prefix = "/latest/meta-data/"
        if path.startswith(prefix) and path[len(prefix) :] in self.static:
            return 200, self.static[path[len(prefix) :]], "text/plain"
        if path in ("/latest/meta-data", prefix):
            keys = sorted({k.split("/")[0] + ("/" if "/" in k else "") for k in self.static})
            return 200, "\n".join([*keys, "spot/", "events/"]), "text/plain"
        return 404, "Not Found", "text/plain"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> ImdsStub:
        if self._thread is None:
            self._thread = threading.Thread(target=self.httpd.serve_forever, name="imds-stub", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ImdsStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Local IMDSv2 stand-in for lmpspot")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8111)
    ap.add_argument(
        "--interrupt-after",
        type=float,
        default=None,
        help="publish a spot interruption notice after this many seconds",
    )
    ap.add_argument(
        "--interrupt-delay",
        type=float,
        default=120.0,
        help="seconds from the notice to the announced termination time",
    )
    ap.add_argument("--rebalance", action="store_true", help="recommend a rebalance at start")
    args = ap.parse_args(argv)
    if not args.host.startswith(("127.", "localhost", "::1")):
        print("refusing to listen on a non-loopback address", file=sys.stderr)
        return 2
    stub = ImdsStub(args.host, args.port)
    if args.interrupt_after is not None:
        stub.schedule_interruption(args.interrupt_delay, after_s=args.interrupt_after)
    if args.rebalance:
        stub.recommend_rebalance()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stub.start()
    print(f"IMDS stand-in listening on {stub.url}", flush=True)
    while not stop.wait(1.0):
        pass
    stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
