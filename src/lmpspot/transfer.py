"""Parallel S3 uploads with the SHA256 checksum computed once, while reading.

:func:`upload_file` reads each part once (``os.pread``), hashes it, and sends it with its
``ChecksumSHA256`` -- S3 checks the bytes it receives against it.  Parts go up in
parallel threads.  The object's checksum is the one S3 reports: the part's own sha256 for
a single ``PutObject``, else the COMPOSITE ``sha256(part digests...)-N`` of the multipart
upload, and :func:`upload_file` returns it computed from the digests it already has, so
verifying the upload (``HeadObject``) needs no second pass over the file.

:func:`download_file` fetches byte ranges in parallel threads into a pre-sized file.
"""

from __future__ import annotations

import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit
MIN_PART = 5 * MIB  # S3's smallest part (but the last)


def part_size(size: int, preferred: int = 8 * MIB) -> int:
    """The part size for ``size`` bytes: ``preferred``, doubled until <= 10,000 parts."""
    p = max(preferred, MIN_PART)
    while -(-size // p) > MAX_PARTS:
        p *= 2
    return p


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _read(fd: int, offset: int, length: int) -> bytes:
    out = bytearray()
    while len(out) < length:
        block = os.pread(fd, length - len(out), offset + len(out))
        if not block:
            raise OSError(f"file shrank while uploading (offset {offset + len(out)})")
        out += block
    return bytes(out)


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
) -> tuple[str, int]:
    """Upload ``path`` to ``bucket/key``; returns (S3's ``ChecksumSHA256`` for it, parts).

    ``parts`` is 0 for a single PutObject.  ``extra`` goes to PutObject /
    CreateMultipartUpload (e.g. ``Metadata``)."""
    extra = dict(extra or {})
    size = Path(path).stat().st_size
    fd = os.open(path, os.O_RDONLY)
    try:
        if size < threshold:
            body = _read(fd, 0, size)
            raw = hashlib.sha256(body).digest()
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(raw),
                **extra,
            )
            return _b64(raw), 0
        return _multipart(client, fd, size, bucket, key, extra, part_size(size, chunk), concurrency)
    finally:
        os.close(fd)


def _multipart(
    client: Any, fd: int, size: int, bucket: str, key: str, extra: dict[str, Any], psize: int, workers: int
) -> tuple[str, int]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)[
        "UploadId"
    ]

    def send(n: int) -> tuple[bytes, dict[str, Any]]:
        off = (n - 1) * psize
        body = _read(fd, off, min(psize, size - off))
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

    nparts = -(-size // psize)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, nparts))) as pool:
            done = list(pool.map(send, range(1, nparts + 1)))
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [p for _, p in done]}
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    composite = hashlib.sha256(b"".join(d for d, _ in done)).digest()
    return _b64(composite), nparts


def download_file(
    client: Any, bucket: str, key: str, dest: Path, *, chunk: int = 8 * MIB, concurrency: int = 10
) -> int:
    """Download ``bucket/key`` into ``dest`` with parallel ranged GETs; returns its size."""
    size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    with open(dest, "wb") as fh:
        fh.truncate(size)
    if size == 0:
        return 0
    fd = os.open(dest, os.O_WRONLY)

    def fetch(off: int) -> None:
        end = min(off + chunk, size) - 1
        body = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={off}-{end}")["Body"].read()
        if len(body) != end - off + 1:
            raise OSError(f"s3://{bucket}/{key}: short range read at {off}")
        os.pwrite(fd, body, off)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, -(-size // chunk)))) as pool:
            list(pool.map(fetch, range(0, size, chunk)))
    finally:
        os.close(fd)
    return size
