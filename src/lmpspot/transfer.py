"""Parallel S3 transfers that read (or write) every byte once and hash it on the way.

:func:`upload_file` reads the file once, in order, in the calling thread: each part
(``os.pread``) updates the whole-file sha256 there and is handed to a worker thread that
hashes it and sends it with its ``ChecksumSHA256`` -- S3 checks the bytes it receives
against it.  At most ``concurrency + 1`` parts are in memory at a time.  The object's
checksum is the one S3 reports: the part's own sha256 for a single ``PutObject``, else the
COMPOSITE ``sha256(part digests...)-N`` of the multipart upload, and :func:`upload_file`
returns it computed from the digests it already has, so verifying the upload
(``HeadObject``) needs no second pass over the file.  Given ``expect_sha256`` it compares
the whole-file sha256 of the bytes it read before the object becomes visible: on a
mismatch the single ``PutObject`` is never sent, or the multipart upload is aborted
instead of completed, and :class:`ContentMismatch` is raised.

:func:`download_file` fetches byte ranges in parallel threads into a pre-sized file and,
given a ``hasher``, feeds it the bytes in file order as they arrive (``concurrency + 1``
ranges in flight at most), so the file is never read back to be verified.

A request that carries its own ``ChecksumSHA256`` is not hashed a second time for its
SigV4 signature: botocore signs the payload whenever it did not compute the checksum
itself, so :func:`_checksum_signs_payload` tells it, per request, that the checksum header
protects the body -- what botocore decides on its own for a checksum it computed (TLS
plus a checksum S3 verifies; ``UNSIGNED-PAYLOAD``).  Over plain http the payload is
still signed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit
MIN_PART = 5 * MIB  # S3's smallest part (but the last)


class ContentMismatch(OSError):
    """The file's bytes do not match the expected size or sha256; nothing of it is in S3."""


def part_size(size: int, preferred: int = 8 * MIB) -> int:
    """The part size for ``size`` bytes: ``preferred``, doubled until <= 10,000 parts."""
    p = max(preferred, MIN_PART)
    while -(-size // p) > MAX_PARTS:
        p *= 2
    return p


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _read(fd: int, offset: int, length: int) -> bytes:
    block = os.pread(fd, length, offset)
    if len(block) == length:  # the usual case: one read, no copy
        return block
    out = bytearray(block)
    while len(out) < length:
        block = os.pread(fd, length - len(out), offset + len(out))
        if not block:
            raise OSError(f"file shrank while uploading (offset {offset + len(out)})")
        out += block
    return bytes(out)


_SIGNS_PAYLOAD_ID = "lmpspot-checksum-signs-payload"


def _mark_checksum_header(request: Any, **_: Any) -> None:
    """``before-sign`` for PutObject/UploadPart: a body that carries our x-amz-checksum-sha256
    header over https is protected by it, as botocore assumes for checksums it adds."""
    if request.url.startswith("https") and "x-amz-checksum-sha256" in request.headers:
        checksum = request.context.setdefault("checksum", {})
        checksum.setdefault(
            "request_algorithm", {"in": "header", "name": "x-amz-checksum-sha256", "algorithm": "sha256"}
        )


def _checksum_signs_payload(client: Any) -> None:
    """Register :func:`_mark_checksum_header` on ``client`` (idempotent)."""
    for op in ("PutObject", "UploadPart"):
        client.meta.events.register(
            f"before-sign.s3.{op}", _mark_checksum_header, unique_id=f"{_SIGNS_PAYLOAD_ID}-{op}"
        )


def upload_file(
    client: Any,
    path: Path,
    bucket: str,
    key: str,
    *,
    extra: dict[str, Any] | None = None,
    threshold: int = 16 * MIB,
    chunk: int = 8 * MIB,
    concurrency: int = 10,
    expect_size: int | None = None,
    expect_sha256: str | None = None,
) -> tuple[str, int]:
    """Upload ``path`` to ``bucket/key``; returns (S3's ``ChecksumSHA256`` for it, parts).

    ``parts`` is 0 for a single PutObject.  ``extra`` goes to PutObject /
    CreateMultipartUpload (e.g. ``Metadata``).  ``expect_size`` / ``expect_sha256`` (hex):
    raise :class:`ContentMismatch`, leaving no object and no multipart upload behind,
    when the file is not that size or the bytes read do not hash to that."""
    extra = dict(extra or {})
    _checksum_signs_payload(client)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if expect_size is not None and size != expect_size:
            raise ContentMismatch(f"{path}: size {size} != expected {expect_size}")
        if size < threshold:
            body = _read(fd, 0, size)
            raw = hashlib.sha256(body).digest()
            if expect_sha256 is not None and raw.hex() != expect_sha256:
                raise ContentMismatch(f"{path}: sha256 {raw.hex()} != expected {expect_sha256}")
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(raw),
                **extra,
            )
            return _b64(raw), 0
        return _multipart(
            client, fd, size, bucket, key, extra, part_size(size, chunk), concurrency, expect_sha256, path
        )
    finally:
        os.close(fd)


def _multipart(
    client: Any,
    fd: int,
    size: int,
    bucket: str,
    key: str,
    extra: dict[str, Any],
    psize: int,
    workers: int,
    expect_sha256: str | None,
    path: Path,
) -> tuple[str, int]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)[
        "UploadId"
    ]
    nparts = -(-size // psize)
    workers = max(1, min(workers, nparts))
    slots = threading.BoundedSemaphore(workers + 1)  # parts read but not yet sent
    failed = threading.Event()

    def send(n: int, body: bytes) -> tuple[bytes, dict[str, Any]]:
        try:
            digest = hashlib.sha256(body).digest()
            resp = client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=n,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(digest),
            )
            return digest, {"PartNumber": n, "ETag": resp["ETag"], "ChecksumSHA256": _b64(digest)}
        except BaseException:
            failed.set()
            raise
        finally:
            slots.release()

    whole = hashlib.sha256()
    futures: list[Future] = []
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for n in range(1, nparts + 1):
                    slots.acquire()
                    if failed.is_set():
                        slots.release()
                        break
                    off = (n - 1) * psize
                    try:
                        body = _read(fd, off, min(psize, size - off))
                    except BaseException:
                        slots.release()
                        raise
                    whole.update(body)
                    futures.append(pool.submit(send, n, body))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
            done = [f.result() for f in futures]  # raises the first part that failed
        if expect_sha256 is not None and whole.hexdigest() != expect_sha256:
            raise ContentMismatch(f"{path}: sha256 {whole.hexdigest()} != expected {expect_sha256}")
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [p for _, p in done]}
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    composite = hashlib.sha256(b"".join(d for d, _ in done)).digest()
    return _b64(composite), nparts


def download_file(
    client: Any,
    bucket: str,
    key: str,
    dest: Path,
    *,
    chunk: int = 8 * MIB,
    concurrency: int = 10,
    hasher: Any = None,
) -> int:
    """Download ``bucket/key`` into ``dest`` with parallel ranged GETs; returns its size.

    ``hasher`` (e.g. ``hashlib.sha256()``) is updated with every byte written, in file
    order, as the ranges arrive: at most ``concurrency + 1`` ranges are in memory."""
    size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    with open(dest, "wb") as fh:
        fh.truncate(size)
    if size == 0:
        return 0
    fd = os.open(dest, os.O_WRONLY)

    def fetch(off: int) -> bytes:
        end = min(off + chunk, size) - 1
        body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={off}-{end}")["Body"].read()
        if len(body) != end - off + 1:
            raise OSError(f"s3://{bucket}/{key}: short range read at {off}")
        view, at = memoryview(body), 0
        while at < len(body):  # every byte hashed must be on disk: no short write goes unseen
            at += os.pwrite(fd, view[at:], off + at)
        return body

    workers = max(1, min(concurrency, -(-size // chunk)))
    window: deque[Future] = deque()

    def settle() -> None:  # the oldest range: wait for it, hash it (file order)
        body = window.popleft().result()
        if hasher is not None:
            hasher.update(body)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                for off in range(0, size, chunk):
                    window.append(pool.submit(fetch, off))
                    if len(window) > workers:
                        settle()
                while window:
                    settle()
            except BaseException:
                for f in window:
                    f.cancel()
                raise
    finally:
        os.close(fd)
    return size
