"""Upload a run's outputs to S3 one file at a time, appended bytes only, and step aside
for checkpoints.

For each output key the uploader remembers how many bytes S3 holds (``synced``) and a
sha256 of the last KiB of them (``tail``).  A file that is unchanged is skipped.  A file
that grew and still has the same tail at ``synced`` (logs, dumps, ``fix ave/*`` and
``fix print`` files are append-only) is rebuilt in S3 from a server-side copy of what is
there (``UploadPartCopy``, when that is at least S3's 5 MiB minimum part size) plus its
new bytes; otherwise the file is uploaded whole.  Only the file's first ``size`` bytes at
the moment it is looked at are sent (no copy of a growing file is made), in parts of
``part_size``; between parts ``should_yield()`` is asked and, when a checkpoint is
waiting, the upload is aborted (:class:`Preempted`) and redone later.  The object's
size is checked after every upload; whole small files also carry a SHA256 checksum that
S3 validates.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
MIN_PART = 5 * MIB
TAIL = 1024


class Preempted(Exception):
    """A checkpoint is waiting: the output upload stepped aside."""


def _read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def _tail(path: Path, size: int) -> str:
    return hashlib.sha256(_read(path, max(0, size - TAIL), min(TAIL, size))).hexdigest()


class OutputUploader:
    """Append-aware, preemptible uploads of output files (see module doc)."""

    def __init__(
        self, s3: Any, tmp_root: Path, should_yield: Callable[[], bool], *, part_size: int = 32 * MIB
    ) -> None:
        self.s3 = s3
        self.should_yield = should_yield
        self.part_size = max(MIN_PART, part_size)
        self.seen: dict[str, tuple[int, int, str]] = {}  # key -> (size, mtime_ns, tail sha)

    @property
    def client(self) -> Any:
        return self.s3.client

    @property
    def bucket(self) -> str:
        return self.s3.bucket

    def upload(self, path: Path, key: str) -> int | None:
        """Bring ``key`` up to date with ``path``; bytes sent, or None when unchanged."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        size = st.st_size
        prev = self.seen.get(key)
        if prev is not None and prev[0] == size and prev[1] == st.st_mtime_ns:
            return None
        appended = (
            prev is not None and prev[0] <= size and prev[0] >= MIN_PART and _tail(path, prev[0]) == prev[2]
        )
        if appended and prev is not None and prev[0] == size:
            sent = 0  # touched, not changed
        elif appended and prev is not None:
            sent = self._append(path, key, prev[0], size)
        elif size <= self.part_size:
            sent = self._put_whole(path, key, size)
        else:
            sent = self._multipart(path, key, 0, size)
        self._check_size(key, size)
        self.seen[key] = (size, st.st_mtime_ns, _tail(path, size))
        return sent

    def _put_whole(self, path: Path, key: str, size: int) -> int:
        body = _read(path, 0, size)
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumSHA256=digest)
        return size

    def _append(self, path: Path, key: str, synced: int, size: int) -> int:
        return self._multipart(path, key, synced, size, copy_upto=synced)

    def _multipart(self, path: Path, key: str, start: int, size: int, copy_upto: int = 0) -> int:
        """Parts: server-side copies of ``key``'s first ``copy_upto`` bytes, then the
        file's bytes ``[start, size)``; aborted if a checkpoint starts waiting."""
        up = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        uid = up["UploadId"]
        parts: list[dict[str, Any]] = []
        sent = 0
        try:
            off = 0
            while off < copy_upto:  # copies of up to 1 GiB each (every part >= 5 MiB)
                n = min(1024 * MIB, copy_upto - off)
                if 0 < copy_upto - off - n < MIN_PART:
                    n = copy_upto - off - MIN_PART
                r = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=uid,
                    PartNumber=len(parts) + 1,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    CopySourceRange=f"bytes={off}-{off + n - 1}",
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": r["CopyPartResult"]["ETag"]})
                off += n
            off = start
            while off < size:
                if self.should_yield():
                    raise Preempted()
                n = min(self.part_size, size - off)
                if 0 < size - off - n < MIN_PART:
                    n = size - off
                body = _read(path, off, n)
                r = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=uid, PartNumber=len(parts) + 1, Body=body
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": r["ETag"]})
                off += n
                sent += n
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):  # best effort; a lifecycle rule cleans up leftovers
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=uid)
            raise
        return sent

    def _check_size(self, key: str, size: int) -> None:
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        if head.get("ContentLength") != size:
            raise OSError(
                f"s3://{self.bucket}/{key}: {head.get('ContentLength')} bytes after upload, expected {size}"
            )


__all__ = ["MIB", "OutputUploader", "Preempted"]
