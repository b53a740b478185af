"""A fault-injection layer in front of the local AWS, as botocore event hooks.

:class:`S3Faults` hooks ``before-send`` of one boto3 S3 client: a request that matches an
armed (operation point, fault kind) never reaches moto, or its real response is
damaged on the way back, the way a network or S3 itself would:

===============  ================================================================
kind             what the client sees
===============  ================================================================
refused          ``EndpointConnectionError`` (connection refused)
http500/http503  a 500 InternalError / 503 ServiceUnavailable response
forbidden        a 403 AccessDenied response
slowdown         a 503 SlowDown response (throttling)
timeout          ``ReadTimeoutError`` (the request may or may not have been applied)
truncated        the real response with its body cut in half (Content-Length kept)
badsum           the real response with a flipped byte (body) or a wrong
                 ``x-amz-checksum-sha256`` header (HEAD); for a write, a 400 BadDigest
===============  ================================================================

Operation points (what the runner does, by request):

resume-listing  ListObjectsV2 under ``<base>ckpt-``
pointer-read    GetObject ``latest.json``
manifest-read   GetObject ``ckpt-*/manifest.json``
download        GetObject of any other checkpoint file
upload          PUT/multipart of checkpoint files, claims and manifests
pointer-commit  PutObject ``latest.json`` (and the HeadObject that verifies it)
prune           DeleteObject(s) of checkpoints
"""

from __future__ import annotations

import io
import re
import threading
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

KINDS = ("refused", "http500", "http503", "forbidden", "slowdown", "timeout", "truncated", "badsum")
POINTS = ("resume-listing", "pointer-read", "manifest-read", "download", "upload", "pointer-commit", "prune")
_ERR = {
    "http500": (500, "InternalError"),
    "http503": (503, "ServiceUnavailable"),
    "forbidden": (403, "AccessDenied"),
    "slowdown": (503, "SlowDown"),
    "badsum": (400, "BadDigest"),
}


class _Raw:
    """What botocore reads a response body from (``stream``/``read``)."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def stream(self, **_kw: Any):
        yield self._buf.read()

    def read(self, amt: int | None = None) -> bytes:
        return self._buf.read(amt)

    def close(self) -> None:
        pass


def point_of(method: str, url: str) -> str | None:  # noqa: PLR0911 - one return per point
    """Which operation point an S3 request belongs to (None: not a checkpoint request)."""
    path = url.split("?", 1)[0]
    query = url.split("?", 1)[1] if "?" in url else ""
    if method == "GET" and "list-type=2" in query and "prefix=" in query and "ckpt-" in query:
        return "resume-listing"
    if path.endswith("/latest.json"):
        return "pointer-read" if method == "GET" else "pointer-commit" if method in ("PUT", "HEAD") else None
    if "/ckpt-" not in path:
        return "prune" if method == "POST" and "delete" in query else None
    if method == "DELETE" or (method == "POST" and "delete" in query):
        return "prune"
    if method in ("PUT", "POST"):
        return "upload"
    if method == "GET" and path.endswith("/manifest.json"):
        return "manifest-read"
    if method == "GET" and "list-type" not in query:
        return "download"
    return None


class S3Faults:
    """Arm faults on a boto3 S3 client: ``arm(point, kind, times)``; thread-safe."""

    def __init__(self, client: Any, verify: str | bool = True) -> None:
        self.client = client
        self._armed: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.fired: list[tuple[str, str, str, str]] = []  # (point, kind, method, url)
        self._http = URLLib3Session(verify=verify)
        client.meta.events.register_first("before-send.s3", self._before_send)

    def arm(self, point: str, kind: str, times: int = 1) -> None:
        assert point in POINTS and kind in KINDS, (point, kind)
        with self._lock:
            self._armed[point] = [kind, times]

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()

    def _take(self, point: str | None) -> str | None:
        with self._lock:
            slot = self._armed.get(point or "")
            if not slot or slot[1] <= 0:
                return None
            slot[1] -= 1
            return slot[0]

    def _before_send(self, request: Any, **_kw: Any) -> AWSResponse | None:
        point = point_of(request.method, request.url)
        kind = self._take(point)
        if kind is None:
            return None
        self.fired.append((str(point), kind, request.method, request.url))
        if kind == "refused":
            raise EndpointConnectionError(endpoint_url=request.url)
        if kind == "timeout":
            if request.method != "GET":
                self._http.send(request)  # applied, but the answer never comes
            raise ReadTimeoutError(endpoint_url=request.url)
        if kind in ("truncated", "badsum") and (kind == "truncated" or request.method in ("GET", "HEAD")):
            return self._damaged(request, kind)
        status, code = _ERR[kind]
        body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))

    def _damaged(self, request: Any, kind: str) -> AWSResponse:
        real = self._http.send(request)
        data = real.content
        headers = dict(real.headers.items())
        if kind == "truncated":
            data = data[: len(data) // 2]
        elif data:
            data = bytes([data[0] ^ 0x01]) + data[1:]
        else:
            for h in list(headers):
                if h.lower() == "x-amz-checksum-sha256":
                    headers[h] = re.sub(r"^.", lambda m: "B" if m.group(0) != "B" else "C", headers[h])
        return AWSResponse(request.url, real.status_code, headers, _Raw(data))
