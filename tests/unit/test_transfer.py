"""lmpspot.transfer against an in-memory fake client: one read per byte, bounded parts in
memory, a sha256 mismatch never completes the upload, downloads hashed in file order."""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from lmpspot import transfer

MIB = transfer.MIB


class FakeS3:
    def __init__(self, data: bytes = b"", delay: float = 0.0):
        self.data, self.delay = data, delay
        self.lock = threading.Lock()
        self.in_memory = 0  # parts read and not yet sent
        self.max_in_memory = 0
        self.completed = self.aborted = False
        self.parts: dict[int, bytes] = {}
        self.hooks: list[str] = []  # botocore event names registered on this client
        self.meta = SimpleNamespace(
            events=SimpleNamespace(register=lambda name, *a, **k: self.hooks.append(name))
        )

    # upload side
    def create_multipart_upload(self, **kw):
        return {"UploadId": "u1"}

    def upload_part(self, **kw):
        time.sleep(random.uniform(0, self.delay))  # noqa: S311
        with self.lock:
            self.parts[kw["PartNumber"]] = kw["Body"]
            self.in_memory -= 1
        return {"ETag": f'"{kw["PartNumber"]}"'}

    def complete_multipart_upload(self, **kw):
        self.completed = True

    def abort_multipart_upload(self, **kw):
        self.aborted = True

    # download side
    def head_object(self, **kw):
        return {"ContentLength": len(self.data)}

    def get_object(self, Range: str, **kw):
        time.sleep(random.uniform(0, self.delay))  # noqa: S311
        lo, hi = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        return {"Body": io.BytesIO(self.data[lo : hi + 1])}


def counting_reads(monkeypatch, fake: FakeS3) -> list[int]:
    """Wrap transfer._read: count bytes read and parts held in memory."""
    read: list[int] = []
    real = transfer._read

    def wrapped(fd, offset, length):
        body = real(fd, offset, length)
        with fake.lock:
            read.append(len(body))
            fake.in_memory += 1
            fake.max_in_memory = max(fake.max_in_memory, fake.in_memory)
        return body

    monkeypatch.setattr(transfer, "_read", wrapped)
    return read


def test_multipart_reads_once_and_bounds_parts_in_memory(tmp_path: Path, monkeypatch):
    data = os.urandom(40 * MIB + 7)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    fake = FakeS3(delay=0.02)
    read = counting_reads(monkeypatch, fake)
    sha, parts = transfer.upload_file(
        fake, f, "b", "k", chunk=5 * MIB, concurrency=3, expect_sha256=hashlib.sha256(data).hexdigest()
    )
    assert parts == 9 and sum(read) == len(data)  # every byte read exactly once
    assert fake.max_in_memory <= 3 + 1
    assert fake.completed and not fake.aborted
    assert b"".join(fake.parts[n] for n in sorted(fake.parts)) == data
    digests = b"".join(hashlib.sha256(fake.parts[n]).digest() for n in sorted(fake.parts))
    assert sha == transfer._b64(hashlib.sha256(digests).digest())


@pytest.mark.parametrize("size", [1000, 20 * MIB + 3])
def test_sha256_mismatch_never_completes(tmp_path: Path, size: int):
    f = tmp_path / "f.bin"
    f.write_bytes(os.urandom(size))
    fake = FakeS3()
    fake.put_object = lambda **kw: pytest.fail("a mismatching single part was sent")
    with pytest.raises(transfer.ContentMismatch, match="sha256"):
        transfer.upload_file(fake, f, "b", "k", chunk=5 * MIB, expect_sha256="0" * 64)
    assert not fake.completed and fake.aborted == (size > 16 * MIB)
    with pytest.raises(transfer.ContentMismatch, match="size"):
        transfer.upload_file(fake, f, "b", "k", expect_size=size + 1)


def test_download_hashes_in_file_order(tmp_path: Path):
    data = os.urandom(30 * MIB + 11)
    fake = FakeS3(data, delay=0.02)
    h = hashlib.sha256()
    dest = tmp_path / "out.bin"
    assert transfer.download_file(fake, "b", "k", dest, chunk=MIB, concurrency=4, hasher=h) == len(data)
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
