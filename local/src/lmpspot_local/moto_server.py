"""The local AWS's server: moto's application behind a server that keeps connections open.

``moto_server`` serves its application with werkzeug's development server, which closes
the connection after every response (``Connection: close``, on purpose: it cannot tell
where an unread request body ends, so it cannot find the next request on the same
connection).  Over TLS that costs a handshake per request, which S3 -- it keeps
connections open -- does not; ``lmpspot status`` over a thousand simulations sends
thousands of small requests.

This launcher serves the same application (``moto.moto_server.werkzeug_app``, the same
request handler moto uses) with werkzeug's threaded server, but answers each request in
a way that lets the connection carry the next one (HTTP/1.1 keep-alive):

- the request body is read through a stream that stops at its end (``Content-Length``,
  or the chunked encoding's last chunk); what the application left unread is read and
  dropped after the response, so the next request starts where it should;
- a response with a ``Content-Length`` is sent as is; one without is sent chunked; HEAD,
  1xx, 204 and 304 responses carry no body whatever the application yields;
- the connection is closed instead whenever that cannot be kept exact: an HTTP/1.0 or a
  ``Connection: close`` request, a body sent longer or shorter than its
  ``Content-Length``, an unread request body over :data:`DRAIN_MAX` bytes, a malformed
  ``Content-Length``, an application error after the status line went out, a client gone.

Idle connections are closed after :data:`IDLE_TIMEOUT_S` seconds (clients reconnect).
The command line is ``moto_server``'s (``-H``, ``-p``, ``--ssl-cert``, ``--ssl-key``)::

    python -m lmpspot_local.moto_server -H 127.0.0.1 -p 5000 --ssl-cert c.pem --ssl-key k.pem
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

IDLE_TIMEOUT_S = 120
DRAIN_MAX = 64 * 1024 * 1024  # larger unread bodies: close the connection instead of reading them
NO_BODY_CODES = {204, 304}


class RequestBody(io.RawIOBase):
    """At most ``length`` bytes of ``rfile``: the request's body and not a byte more."""

    def __init__(self, rfile: Any, length: int) -> None:
        super().__init__()
        self._rfile = rfile
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left)
        if n <= 0:
            return 0
        data = self._rfile.read(n)
        if not data:
            raise ConnectionError("the client closed the connection inside a request body")
        b[: len(data)] = data
        self.left -= len(data)
        return len(data)


def drain(stream: Any, limit: int = DRAIN_MAX) -> bool:
    """Read and drop what is left of a request body.  False: it could not be read to its
    end within ``limit`` bytes (the connection must be closed)."""
    if isinstance(stream, RequestBody) and stream.left > limit:
        return False
    total = 0
    try:
        while True:
            data = stream.read(1024 * 1024)
            if not data:
                return True
            total += len(data)
            if total > limit:
                return False
    except (OSError, ValueError):
        return False


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, answering so that the connection can carry the next request."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    # A response's head and a small body leave in one write (one TLS record, one segment),
    # and nothing waits for the client's delayed ACK (Nagle) on a connection kept open.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def _body(self, environ: dict[str, Any]) -> Any:
        if environ.get("wsgi.input_terminated"):
            return environ["wsgi.input"]  # werkzeug's reader of the chunked encoding
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            length = 0
        body = RequestBody(self.rfile, length)
        environ["wsgi.input"] = body
        return body

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        self.environ = environ = self.make_environ()
        body = self._body(environ)
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        response = _Response(self, environ["REQUEST_METHOD"])
        try:
            result = self.server.app(environ, response.start_response)
            try:
                response.send(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        except Exception:
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            if response.status_sent:
                self.close_connection = True
                return
            response.error()
        if not drain(body):
            self.close_connection = True


class _Response:
    """One WSGI response on ``handler``'s connection, framed so the connection stays usable."""

    def __init__(self, handler: KeepAliveHandler, method: str) -> None:
        self.h = handler
        self.method = method
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.status_sent = False
        self.bodyless = False
        self.length: int | None = None
        self.chunked = False
        self.written = 0

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info and self.status_sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, list(headers)
        return self.write

    def _send_head(self) -> None:
        assert self.status is not None, "the application did not call start_response"
        code_str, _, msg = self.status.partition(" ")
        code = int(code_str)
        h = self.h
        self.bodyless = self.method == "HEAD" or code < 200 or code in NO_BODY_CODES
        names = {k.lower() for k, _v in self.headers}
        if not self.bodyless:
            if "content-length" in names:
                try:
                    self.length = int(dict((k.lower(), v) for k, v in self.headers)["content-length"])
                except ValueError:
                    h.close_connection = True
            elif not h.close_connection and "transfer-encoding" not in names:
                self.chunked = True
            else:
                h.close_connection = True  # the body ends where the connection does
        h.send_response(code, msg)
        for k, v in self.headers:
            if k.lower() != "connection":
                h.send_header(k, v)
        if self.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        self.status_sent = True

    def write(self, data: bytes) -> None:
        if not self.status_sent:
            self._send_head()
        if not data or self.bodyless:
            return
        if self.length is not None and self.written + len(data) > self.length:
            self.h.close_connection = True  # more than promised: the client stops at the promise
        self.written += len(data)
        if self.chunked:
            self.h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            self.h.wfile.write(data)

    def send(self, result: Iterable[bytes]) -> None:
        for data in result:
            self.write(data)
        if not self.status_sent:
            self._send_head()
        if self.chunked:
            self.h.wfile.write(b"0\r\n\r\n")
        elif self.length is not None and self.written != self.length:
            self.h.close_connection = True
        self.h.wfile.flush()

    def error(self) -> None:
        body = b"Internal Server Error"
        self.start_response(
            "500 INTERNAL SERVER ERROR",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        self.send([body])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m lmpspot_local.moto_server", description=__doc__.split("\n")[0]
    )
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    p.add_argument("-c", "--ssl-cert")
    p.add_argument("-k", "--ssl-key")
    args = p.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does: moto builds URLs with it

    def _exit(_signum: int, _frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server sets it
    ssl_context = (args.ssl_cert, args.ssl_key) if args.ssl_cert and args.ssl_key else None
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=KeepAliveHandler, ssl_context=ssl_context
    )
    print(f"lmpspot local AWS (moto, keep-alive) on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
