"""S3Store reads each checkpoint file once: the manifest's sha256 is checked while uploading
(and while downloading), against the real local S3 (moto server).

A local file that does not match its manifest -- corrupted after the manifest was written,
before or during the upload -- is refused with ``LocalCheckpointInvalid``: no manifest, no
object of that file, nothing ``latest``/``verify``/a resume would accept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lmpspot.checkpoint import LocalStore, ckpt_dir_name
from lmpspot.s3store import MIB, LocalCheckpointInvalid, S3Store

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-test-onepass"
FIELDS = dict(job_id="job-1", lammps_version="22 Jul 2025", build_hash="bh", input_hash="ih")
SIZE = 12 * MIB + 123  # three parts of 5 MiB


def new_bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    return s3


def store_for(client) -> S3Store:
    return S3Store(
        client, BUCKET, "checkpoints/", "job-1", multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB
    )


def make_ckpt(local: LocalStore, seq: int, size: int = SIZE):
    d = local.staging(seq)
    (d / "restart.bin").write_bytes(os.urandom(size))
    (d / "state.json").write_text(f'{{"seq": {seq}}}')
    man = local.commit(d, **FIELDS, step=seq * 10)
    return local.path_for(seq), man


def flip(path: Path, offset: int) -> bytes:
    """Flip one byte in place (same size); returns the file's original bytes."""
    data = path.read_bytes()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([data[offset] ^ 0xFF]), offset)
    finally:
        os.close(fd)
    return data


OFFSETS = {"first-part": 100, "middle-part": 7 * MIB + 5, "last-part": SIZE - 10}


def assert_nothing_usable(client, st: S3Store, seq: int, tmp_path: Path) -> None:
    """No manifest, no object, no open multipart upload: nothing a reader would take."""
    assert st.get_manifest(seq) is None
    assert not st.verify(seq)
    assert st.latest() is None and st.latest_seq() is None
    objs = client.list_objects_v2(Bucket=BUCKET, Prefix=st.ckpt_prefix(seq)).get("Contents", [])
    assert [o["Key"] for o in objs] == []
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert st.download_newest_valid(tmp_path / "resume") is None


@pytest.mark.parametrize("where", list(OFFSETS))
def test_file_corrupted_after_manifest_is_refused(aws, tmp_path: Path, where: str):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    original = flip(path / "restart.bin", OFFSETS[where])
    assert (path / "restart.bin").stat().st_size == man.files["restart.bin"]["size"]
    with pytest.raises(LocalCheckpointInvalid, match="restart.bin: sha256 mismatch"):
        st.upload(path, man)
    assert_nothing_usable(client, st, 1, tmp_path)
    # repaired, the same checkpoint uploads and verifies (the claim was removed with the rest)
    (path / "restart.bin").write_bytes(original)
    st.upload(path, man)
    assert st.verify(1)


def test_small_file_corrupted_after_manifest_is_refused(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    flip(path / "state.json", 0)  # single PutObject; uploaded after restart.bin (smaller)
    with pytest.raises(LocalCheckpointInvalid, match="state.json: sha256 mismatch"):
        st.upload(path, man)
    assert_nothing_usable(client, st, 1, tmp_path)


class CorruptOnCreate:
    """Wraps a boto3 client: flips a byte of ``path`` when its multipart upload starts
    (after any up-front check of the local file, before its parts are read)."""

    def __init__(self, inner, path: Path, offset: int):
        self._inner, self._path, self._offset = inner, path, offset

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_multipart_upload(self, **kw):
        resp = self._inner.create_multipart_upload(**kw)
        if self._path is not None:
            flip(self._path, self._offset)
            self._path = None
        return resp


@pytest.mark.parametrize("where", list(OFFSETS))
def test_file_corrupted_during_upload_is_refused(aws, tmp_path: Path, where: str):
    """The sha256 compared with the manifest is that of the bytes actually sent."""
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    path, man = make_ckpt(local, 1)
    st = store_for(CorruptOnCreate(client, path / "restart.bin", OFFSETS[where]))
    with pytest.raises(LocalCheckpointInvalid):
        st.upload(path, man)
    assert_nothing_usable(client, store_for(client), 1, tmp_path)


def test_missing_or_resized_file_refused_before_any_request(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    with open(path / "restart.bin", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(LocalCheckpointInvalid, match="size"):
        st.upload(path, man)
    (path / "restart.bin").unlink()
    with pytest.raises(LocalCheckpointInvalid, match="missing"):
        st.upload(path, man)
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


class ReadOpens:
    """Counts opens for reading of files under ``root`` (audit hook: ``open`` and ``os.open``)."""

    hooked = False
    active: ReadOpens | None = None

    def __init__(self, root: Path):
        self.root = str(root)
        self.paths: list[str] = []
        if not ReadOpens.hooked:
            sys.addaudithook(ReadOpens._hook)
            ReadOpens.hooked = True

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        me = ReadOpens.active
        if me is None or event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
            return
        path, mode, flags = os.fsdecode(args[0]), args[1], args[2]
        # open(): a mode string; os.open(): mode None and the flags
        reading = ("r" in mode or "+" in mode) if mode is not None else flags & os.O_ACCMODE != os.O_WRONLY
        if reading and path.startswith(me.root):
            me.paths.append(path)

    def __enter__(self) -> ReadOpens:
        ReadOpens.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        ReadOpens.active = None


def test_upload_and_download_read_each_file_once(aws, tmp_path: Path):
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    with ReadOpens(path) as opens:
        stats = st.upload(path, man)
    assert stats.files == 3 and st.verify(1)
    # each file opened for reading exactly once: the read that feeds its upload
    assert sorted(Path(p).name for p in opens.paths) == ["restart.bin", "state.json"], opens.paths
    dest = tmp_path / "dl"
    with ReadOpens(dest) as opens:
        got = st.download(1, dest, man)
    assert got == dest / ckpt_dir_name(1)
    assert opens.paths == []  # hashed while writing: the downloaded copy is not read back
    assert (got / "restart.bin").read_bytes() == (path / "restart.bin").read_bytes()
    assert LocalStore(dest).verify(got)


def test_checksummed_bodies_are_hashed_once_not_again_for_the_signature(aws, tmp_path: Path):
    """Every PutObject/UploadPart body carries its own x-amz-checksum-sha256 (S3 rejects a
    body that does not match it), so over https its SigV4 payload is UNSIGNED-PAYLOAD: the
    body is not hashed a third time.  Requests without that header are signed as before."""
    client = new_bucket(aws)
    sent: list[tuple[str, str, bytes | None, bytes | None]] = []

    def capture(request, **_):
        sent.append(
            (
                request.method,
                request.url,
                request.headers.get("x-amz-checksum-sha256"),
                request.headers.get("X-Amz-Content-SHA256"),
            )
        )

    client.meta.events.register("before-send.s3", capture)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    st.upload(path, man)
    assert aws.endpoint_url.startswith("https")
    bodies = [s for s in sent if s[0] == "PUT" and s[2]]
    # restart.bin in 3 parts and state.json (transfer.upload_file's bodies)
    assert sum("partNumber=" in url for _, url, _, _ in bodies) == 3
    assert any(url.endswith("/state.json") for _, url, _, _ in bodies)
    assert {s[3] for s in bodies} == {b"UNSIGNED-PAYLOAD"}, bodies
    # a request without our checksum header keeps botocore's own signing decision
    sent.clear()
    client.put_object(Bucket=BUCKET, Key="plain", Body=b"plain body")
    (plain,) = [s for s in sent if s[0] == "PUT"]
    assert plain[3] != b"UNSIGNED-PAYLOAD" or plain[2] is None
    assert st.verify(1)
    dest = tmp_path / "dl"
    got = st.download(1, dest, man)
    assert (got / "restart.bin").read_bytes() == (path / "restart.bin").read_bytes()


def test_download_refuses_same_size_corrupt_multipart_object(aws, tmp_path: Path):
    """HeadObject cannot see a same-size multipart object with copied metadata; the
    download's hash does, and nothing is left behind."""
    client = new_bucket(aws)
    local = LocalStore(tmp_path / "local")
    st = store_for(client)
    path, man = make_ckpt(local, 1)
    st.upload(path, man)
    key = st.key(1, "restart.bin")
    meta = client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    bad = tmp_path / "bad.bin"
    data = bytearray((path / "restart.bin").read_bytes())
    data[7 * MIB] ^= 0xFF
    bad.write_bytes(bytes(data))
    client.upload_file(str(bad), BUCKET, key, ExtraArgs={"Metadata": meta, "ChecksumAlgorithm": "SHA256"})
    assert st.verify(1)  # HeadObject-only check passes: sizes and metadata agree
    with pytest.raises(Exception, match="does not verify after download: restart.bin: sha256"):
        st.download(1, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []
