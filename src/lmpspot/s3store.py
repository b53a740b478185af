"""Checkpoints in S3, with an atomically updated ``latest.json`` pointer.

Layout (``prefix`` is e.g. ``checkpoints/``)::

    s3://bucket/<prefix><job_id>/ckpt-0000000007/<file>          checkpoint files
    s3://bucket/<prefix><job_id>/ckpt-0000000007/manifest.json   uploaded LAST
    s3://bucket/<prefix><job_id>/latest.json                     pointer (conditional writes)

Every object is uploaded with ``ChecksumAlgorithm=SHA256`` (S3 validates the bytes it
receives) and re-checked with ``HeadObject(ChecksumMode=ENABLED)`` after upload: the
size must match and the SHA256 checksum must equal the file's sha256 (single part) or
the composite of its parts' sha256 (multipart).  The full-file sha256 is also stored as
object metadata so ``verify(seq)`` can check a remote checkpoint without its local copy.
The manifest goes up only after every file has verified, so a checkpoint whose manifest
is present and whose objects verify is complete.

Checkpoint directories are write-once: before any of its objects is uploaded a writer
creates ``ckpt-<seq>/claim.json`` with ``If-None-Match: *``; a seq claimed by another
writer raises :class:`SeqTaken` (the caller renumbers), and the manifest is created with
``If-None-Match: *`` too, so a committed checkpoint is never replaced.

The pointer is moved with ``If-None-Match: *`` (create) or ``If-Match: <etag>``
(update), ordered by *progress* ``(stage, step)``: it never moves to a checkpoint behind
the one it names.  It carries the writer's lease token (:mod:`lmpspot.lease`); a commit
by a writer whose token is below the pointer's raises :class:`Fenced`.  A writer that
loses a race (HTTP 412) re-reads and decides again.  Pruning keeps the ``keep`` furthest
verified checkpoints, the pointer's, and everything newer than the pointer.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from lmpspot import transfer
from lmpspot.checkpoint import (
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    check_relative_name,
    ckpt_dir_name,
    parse_ckpt_name,
    sha256_file,
    verify_dir,
)
from lmpspot.running import check_job_id
from lmpspot.s3errors import is_not_found, is_precondition_failed
from lmpspot.timefmt import utc_iso

DEFAULT_PREFIX = "checkpoints/"
POINTER_NAME = "latest.json"
CLAIM_NAME = "claim.json"
SHA_META_KEY = "lmpspot-sha256"
MIB = 1024 * 1024
FILE_WORKERS = 4  # files of one checkpoint uploaded at once (each multipart file has its own part threads)
LogFn = Callable[[str], None]

_log = logging.getLogger("lmpspot.s3store")


class S3StoreError(RuntimeError):
    """An S3 checkpoint operation failed in a way a retry will not fix by itself."""


class UploadVerifyError(S3StoreError):
    """An object read back from S3 does not match the local file."""


class LocalCheckpointInvalid(S3StoreError):
    """The local checkpoint to upload does not match its own manifest."""


class PointerConflict(S3StoreError):
    """The pointer could not be moved after several conditional-write retries."""


class SeqTaken(S3StoreError):
    """Another writer claimed this checkpoint number first (directories are write-once)."""


class Fenced(S3StoreError):
    """The pointer was last moved by a newer lease holder: this writer is superseded."""


def progress_of(obj: Any) -> tuple[int, int]:
    """``(stage, step)`` of a Manifest or a pointer dict: how far a checkpoint got."""
    if isinstance(obj, dict):
        return int(obj.get("stage", -1)), int(obj.get("step", -1))
    return int(obj.stage), int(obj.step)


def pointer_summary(data: Any, etag: str | None) -> dict[str, Any] | None:
    """What ``lmpspot status`` shows of a ``latest.json`` (its content ``data``, its ETag,
    None when unknown): ``{etag, seq, stage, step, at}``, stage and step the manifest's,
    ``at`` the checkpoint's creation (else the pointer's update).  None for no pointer or
    one that names no checkpoint."""
    if not isinstance(data, dict) or not isinstance(data.get("seq"), int) or data["seq"] < 0:
        return None
    man = data.get("manifest") if isinstance(data.get("manifest"), dict) else {}
    return {
        "etag": etag or None,
        "seq": data["seq"],
        "stage": man.get("stage"),
        "step": man.get("step"),
        "at": man.get("created_at") or data.get("updated_at"),
    }


def token_of(man: Manifest) -> int:
    """The lease token a checkpoint was written under (0: written without a lease)."""
    try:
        return int(man.extra.get("lease_token") or 0)
    except (TypeError, ValueError):
        return 0


@dataclass
class UploadStats:
    """What one checkpoint upload moved and how long it took."""

    seq: int
    bytes: int
    seconds: float
    files: int

    @property
    def mib_per_s(self) -> float:
        return (self.bytes / MIB) / self.seconds if self.seconds > 0 else 0.0


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _hex_to_b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


def composite_sha256(path: Path, part_size: int) -> tuple[str, int]:
    """S3's COMPOSITE SHA256 of a multipart object: (base64 of sha256(part digests), parts)."""
    outer = hashlib.sha256()
    parts = 0
    with open(path, "rb") as fh:
        while True:
            inner = hashlib.sha256()
            remaining = part_size
            while remaining > 0:
                block = fh.read(min(remaining, 8 * MIB))
                if not block:
                    break
                inner.update(block)
                remaining -= len(block)
            if remaining == part_size:  # nothing read: end of file
                break
            outer.update(inner.digest())
            parts += 1
    return base64.b64encode(outer.digest()).decode(), parts


class S3Store:
    """One job's checkpoints under ``s3://bucket/<prefix><job_id>/``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        job_id: str,
        *,
        multipart_threshold: int = 16 * MIB,
        multipart_chunksize: int = 8 * MIB,
        max_concurrency: int = 10,
        log: LogFn | None = None,
    ) -> None:
        check_job_id(job_id)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.job_id = job_id
        self.base = f"{prefix}{job_id}/"
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.max_concurrency = max_concurrency
        self.log: LogFn = log or _log.info
        # latest.json as this store last wrote or read it while moving it (commit_latest,
        # fence_pointer, replace_pointer): the attempt record carries it, so that
        # ``lmpspot status`` need not read the pointer whose ETag it lists (pointer_summary).
        self.pointer_seen: dict[str, Any] | None = None

    # -- keys --------------------------------------------------------------------------
    def ckpt_prefix(self, seq: int) -> str:
        return f"{self.base}{ckpt_dir_name(seq)}/"

    def key(self, seq: int, name: str) -> str:
        return self.ckpt_prefix(seq) + name

    @property
    def pointer_key(self) -> str:
        return self.base + POINTER_NAME

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key or self.base}"

    def _transfer_config(self) -> TransferConfig:
        kwargs = {
            "multipart_threshold": self.multipart_threshold,
            "multipart_chunksize": self.multipart_chunksize,
            "max_concurrency": self.max_concurrency,
        }
        try:  # keep part sizes predictable (we recompute the composite checksum)
            return TransferConfig(preferred_transfer_client="classic", **kwargs)
        except TypeError:  # older boto3
            return TransferConfig(**kwargs)

    def _part_size(self, size: int) -> int:
        """The part size s3transfer uses for a file of ``size`` bytes (same adjuster)."""
        return ChunksizeAdjuster().adjust_chunksize(self.multipart_chunksize, size)

    # -- upload ------------------------------------------------------------------------
    def upload_file(
        self, path: Path, key: str, sha256_hex: str | None = None, size: int | None = None
    ) -> int:
        """Upload one file with a SHA256 checksum and verify it by HeadObject; returns size.

        ``sha256_hex`` (and ``size``): what the file must hold.  The whole-file sha256 is
        computed while the parts are read for the upload (one pass); a file that does not
        match raises :class:`lmpspot.transfer.ContentMismatch` before its object becomes
        visible (no object, the multipart upload aborted)."""
        path = Path(path)
        extra: dict[str, Any] = {}
        if sha256_hex:
            extra["Metadata"] = {SHA_META_KEY: sha256_hex}
        sent = transfer.upload_file(
            self.client,
            path,
            self.bucket,
            key,
            extra=extra,
            threshold=self.multipart_threshold,
            chunk=self.multipart_chunksize,
            concurrency=self.max_concurrency,
            expect_size=size,
            expect_sha256=sha256_hex or None,
        )
        size = path.stat().st_size if size is None else size
        self._verify_uploaded(path, key, size, sha256_hex, sent)
        return size

    def _verify_uploaded(
        self,
        path: Path,
        key: str,
        size: int,
        sha256_hex: str | None,
        sent: tuple[str, int] | None = None,
    ) -> None:
        """HeadObject: size, S3's SHA256 (``sent``: the checksum and part count the upload
        computed while reading; else computed from the file) and the sha256 metadata."""
        head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        if head.get("ContentLength") != size:
            raise UploadVerifyError(f"{self.url(key)}: size {head.get('ContentLength')} != local {size}")
        remote = head.get("ChecksumSHA256")
        if not remote:
            raise UploadVerifyError(f"{self.url(key)}: S3 returned no SHA256 checksum")
        digest, _, nparts = remote.partition("-")
        multipart = bool(nparts) or head.get("ChecksumType") == "COMPOSITE" or ("-" in head.get("ETag", ""))
        if sent is not None:
            if digest != sent[0] or (nparts and int(nparts) != sent[1]) or multipart != bool(sent[1]):
                raise UploadVerifyError(f"{self.url(key)}: SHA256 checksum mismatch")
        elif multipart:
            expected, parts = composite_sha256(path, self._part_size(size))
            if digest != expected or (nparts and int(nparts) != parts):
                raise UploadVerifyError(f"{self.url(key)}: composite SHA256 mismatch")
        else:
            expected = _hex_to_b64(sha256_hex) if sha256_hex else None
            if expected is None:
                expected = _hex_to_b64(sha256_file(path))
            if digest != expected:
                raise UploadVerifyError(f"{self.url(key)}: SHA256 mismatch")
        if sha256_hex and head.get("Metadata", {}).get(SHA_META_KEY) != sha256_hex:
            raise UploadVerifyError(f"{self.url(key)}: sha256 metadata missing or wrong")

    def upload(self, ckpt_dir: Path, manifest: Manifest) -> UploadStats:
        """Upload a local checkpoint: every file (verified), then ``manifest.json`` last.

        Each file's sha256 is checked against the manifest during the one read that feeds
        its upload (missing files and wrong sizes are refused up front, by ``stat``).  A
        file that does not match raises :class:`LocalCheckpointInvalid`: its object is
        never completed, the manifest is never written, and the objects (and claim) this
        call wrote are deleted again unless the seq already has a manifest."""
        ckpt_dir = Path(ckpt_dir)
        for name, meta in manifest.files.items():
            try:
                size = (ckpt_dir / name).stat().st_size
            except OSError:
                raise LocalCheckpointInvalid(f"refusing to upload {ckpt_dir}: {name}: missing") from None
            if size != meta["size"]:
                raise LocalCheckpointInvalid(
                    f"refusing to upload {ckpt_dir}: {name}: size {size} != {meta['size']} "
                    "(truncated or grown)"
                )
        t0 = time.monotonic()
        created = self.claim(manifest)
        total = self._upload_files(ckpt_dir, manifest, created)
        body = manifest.to_json().encode()
        try:
            self._put_verified(self.key(manifest.seq, MANIFEST_NAME), body, IfNoneMatch="*")
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
            remote = self.get_manifest(manifest.seq)
            if remote is None or remote.files != manifest.files:
                raise SeqTaken(
                    f"{self.url(self.ckpt_prefix(manifest.seq))} holds another checkpoint"
                ) from exc
        total += len(body)
        return UploadStats(manifest.seq, total, time.monotonic() - t0, len(manifest.files) + 1)

    def _upload_files(self, ckpt_dir: Path, manifest: Manifest, created: bool) -> int:
        """Every file of the checkpoint, at the same time (largest first): the small files'
        round trips overlap the large one's parts instead of following them.  Waits for all;
        a file that does not match its manifest undoes what this call wrote."""
        names = sorted(manifest.files, key=lambda n: -manifest.files[n]["size"])
        results: dict[str, Future] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(len(names), FILE_WORKERS))) as pool:
            for name in names:
                meta = manifest.files[name]
                results[name] = pool.submit(
                    self.upload_file,
                    ckpt_dir / name,
                    self.key(manifest.seq, name),
                    meta["sha256"],
                    meta["size"],
                )
        written = [self.key(manifest.seq, n) for n, f in results.items() if f.exception() is None]
        for name, fut in results.items():
            exc = fut.exception()
            if isinstance(exc, transfer.ContentMismatch):
                self._undo_upload(manifest.seq, written, created)
                raise LocalCheckpointInvalid(
                    f"refusing to upload {ckpt_dir}: {name}: sha256 mismatch (corrupted): {exc}"
                ) from exc
        for fut in results.values():
            fut.result()  # any other failure, as it was raised
        return sum(f.result() for f in results.values())

    def _undo_upload(self, seq: int, keys: list[str], claim: bool) -> None:
        """After a refused upload: delete ``keys`` (and the claim when ``claim``), unless
        the seq has a manifest (a committed checkpoint is never touched).  Best effort: a
        seq left without a manifest is an incomplete upload, which readers skip and
        ``prune`` removes once the pointer is past it."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(seq, MANIFEST_NAME))
            return
        except ClientError as exc:
            if not is_not_found(exc):
                self.log(f"s3 checkpoint {seq}: refused upload not cleaned up: {exc}")
                return
        if claim:
            keys = [*keys, self.key(seq, CLAIM_NAME)]
        for key in keys:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                self.log(f"s3 checkpoint {seq}: could not delete {key} of a refused upload: {exc}")

    def claim(self, manifest: Manifest) -> bool:
        """Claim ``ckpt-<seq>/`` for this checkpoint (conditional create); SeqTaken if taken.

        The claim names the checkpoint (its files' sha256 and the lease token), so a
        retry of the same upload finds its own claim and goes on.  Returns True when this
        call created the claim, False when it was already there."""
        body = json.dumps(
            {
                "job_id": self.job_id,
                "seq": manifest.seq,
                "stage": manifest.stage,
                "step": manifest.step,
                "lease_token": token_of(manifest),
                "files": {n: m["sha256"] for n, m in sorted(manifest.files.items())},
            },
            sort_keys=True,
        ).encode()
        key = self.key(manifest.seq, CLAIM_NAME)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            return True
        except ClientError as exc:
            if not is_precondition_failed(exc):
                raise
        have = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if have != body:
            raise SeqTaken(f"{self.url(self.ckpt_prefix(manifest.seq))} is claimed by another checkpoint")
        return False

    def _put_verified(self, key: str, body: bytes, **cond: str) -> str:
        resp = self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ContentType="application/json",
            **cond,
        )
        head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        if head.get("ContentLength") != len(body) or head.get("ChecksumSHA256") != _b64_sha256(body):
            raise UploadVerifyError(f"{self.url(key)}: read-back does not match what was sent")
        return resp.get("ETag", "")

    # -- remote reads ------------------------------------------------------------------
    def get_manifest(self, seq: int) -> Manifest | None:
        """The manifest of remote checkpoint ``seq``; None when absent or invalid."""
        try:
            obj = self.client.get_object(
                Bucket=self.bucket, Key=self.key(seq, MANIFEST_NAME), ChecksumMode="ENABLED"
            )
            man = Manifest.from_json(obj["Body"].read())
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        except ManifestError as exc:
            self.log(f"s3 checkpoint {seq}: invalid manifest: {exc}")
            return None
        if man.seq != seq or man.job_id != self.job_id:
            self.log(f"s3 checkpoint {seq}: manifest names seq {man.seq} job {man.job_id}")
            return None
        return man

    def explain(self, seq: int) -> str:
        """Why remote checkpoint ``seq`` does or does not verify ("ok" when it does)."""
        man = self.get_manifest(seq)
        if man is None:
            return "manifest missing or invalid (incomplete checkpoint)"
        for name, meta in man.files.items():
            problem = self._explain_object(self.key(seq, name), meta)
            if problem:
                return f"{name}: {problem}"
        return "ok"

    def _explain_object(self, key: str, meta: dict[str, Any]) -> str | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if is_not_found(exc):
                return "missing"
            raise
        if head.get("ContentLength") != meta["size"]:
            return f"size {head.get('ContentLength')} != {meta['size']}"
        if head.get("Metadata", {}).get(SHA_META_KEY) != meta["sha256"]:
            return "sha256 metadata does not match the manifest"
        remote = head.get("ChecksumSHA256") or ""
        if not remote:
            return "no SHA256 checksum stored"
        single = (
            "-" not in remote and head.get("ChecksumType") != "COMPOSITE" and "-" not in head.get("ETag", "")
        )
        if single and remote != _hex_to_b64(meta["sha256"]):
            return "SHA256 checksum does not match the manifest"
        return None

    def verify(self, seq: int) -> bool:
        """True when the manifest is present and every object matches it (size, sha256).

        Uses HeadObject only (no download): sizes, the stored full-file sha256 and, for
        single-part objects, S3's own SHA256 checksum.  ``download`` re-hashes the bytes.
        """
        return self.explain(seq) == "ok"

    def _read_pointer(self) -> tuple[dict | None, str | None]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.pointer_key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if is_not_found(exc):
                return None, None
            raise
        etag = obj.get("ETag")
        raw = obj["Body"].read()  # a transfer error raises here (retried by the caller)
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
                raise ValueError("no seq")
        except ValueError:
            self.log(f"{self.url(self.pointer_key)} is unreadable; it will be replaced")
            return {"seq": -1}, etag
        return data, etag

    def latest_seq(self) -> int | None:
        """The seq the pointer names, or None when there is no (valid) pointer."""
        data, _ = self._read_pointer()
        if data is None or data.get("seq", -1) < 0:
            return None
        return int(data["seq"])

    def latest(self) -> Manifest | None:
        """The manifest the pointer names (embedded in the pointer), or None."""
        data, _ = self._read_pointer()
        if data is None or data.get("seq", -1) < 0:
            return None
        try:
            return Manifest.from_dict(data.get("manifest"))
        except ManifestError:
            return self.get_manifest(int(data["seq"]))

    def list_seqs(self) -> list[int]:
        """Seqs that have at least one object under ``ckpt-<seq>/``, newest first."""
        seqs: set[int] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.base + "ckpt-", Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                name = cp["Prefix"][len(self.base) :].rstrip("/")
                seq = parse_ckpt_name(name)
                if seq is not None:
                    seqs.add(seq)
        return sorted(seqs, reverse=True)

    def pointer(self) -> dict | None:
        """The pointer's content (seq, stage, step, lease_token, manifest), None if none."""
        data, _ = self._read_pointer()
        return None if data is None or data.get("seq", -1) < 0 else data

    # -- pointer -----------------------------------------------------------------------
    def _pointer_body(self, manifest: Manifest, token: int) -> bytes:
        return json.dumps(
            {
                "job_id": self.job_id,
                "seq": manifest.seq,
                "key": self.ckpt_prefix(manifest.seq),
                "step": manifest.step,
                "stage": manifest.stage,
                "lease_token": token,
                "updated_at": utc_iso(digits=6),
                "manifest": manifest.to_dict(),
            },
            indent=2,
            sort_keys=True,
        ).encode()

    def _saw_pointer(self, data: dict | None, etag: str | None) -> None:
        self.pointer_seen = pointer_summary(data, etag)

    def commit_latest(
        self, manifest: Manifest, *, verify: bool = True, max_attempts: int = 8, token: int | None = None
    ) -> bool:
        """Move ``latest.json`` to ``manifest`` with a conditional write.

        Returns True when the pointer names this seq afterwards (moved now, or already
        there), False when it names a checkpoint at least as far along (the pointer
        never moves back in progress).  ``token`` is the writer's lease token (default:
        the manifest's); a pointer written under a newer token raises :class:`Fenced`.
        With ``verify`` the remote checkpoint must verify first.  Raises PointerConflict
        when other writers keep winning the race.
        """
        token = token_of(manifest) if token is None else token
        if verify and not self.verify(manifest.seq):
            raise S3StoreError(
                f"checkpoint {manifest.seq} does not verify in {self.url()}; pointer not moved"
            )
        for attempt in range(max_attempts):
            current, etag = self._read_pointer()
            if current is not None and current.get("seq", -1) >= 0:
                cur_token = int(current.get("lease_token") or 0)
                if cur_token > token:
                    raise Fenced(
                        f"{self.url(self.pointer_key)} was moved under lease token {cur_token} > ours "
                        f"({token}): another runner owns this simulation"
                    )
                if int(current["seq"]) == manifest.seq:
                    self._saw_pointer(current, etag)
                    return True
                if progress_of(current) >= progress_of(manifest):
                    self.log(
                        f"pointer at seq {current['seq']} (stage {current.get('stage')}, step "
                        f"{current.get('step')}) is at or past checkpoint {manifest.seq} "
                        f"(stage {manifest.stage}, step {manifest.step}); not moved back"
                    )
                    return False
            cond = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
            body = self._pointer_body(manifest, token)
            try:
                self._saw_pointer(json.loads(body), self._put_verified(self.pointer_key, body, **cond))
                return True
            except ClientError as exc:
                if not is_precondition_failed(exc):
                    raise
                self.log(f"pointer changed under us (attempt {attempt + 1}); re-reading")
                time.sleep(random.uniform(0.01, 0.05 * (attempt + 1)))  # noqa: S311
            except UploadVerifyError:
                # Someone overwrote it between our PUT and HEAD: re-read and decide again.
                continue
        raise PointerConflict(f"could not move {self.url(self.pointer_key)} to {manifest.seq}")

    def replace_pointer(self, manifest: Manifest | None, token: int) -> dict | None:
        """Operator repair only (:mod:`lmpspot.quarantine`, under the lease): point
        ``latest.json`` at ``manifest`` even if that is behind the current pointer, or
        remove it (``None``).  Returns the pointer content it replaced (None if none)."""
        current, etag = self._read_pointer()
        if manifest is None:
            if etag is not None:
                self.client.delete_object(Bucket=self.bucket, Key=self.pointer_key)
            return current
        cond = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        body = self._pointer_body(manifest, token)
        self._saw_pointer(json.loads(body), self._put_verified(self.pointer_key, body, **cond))
        return current

    def fence_pointer(self, token: int) -> bool:
        """Re-write the pointer (same checkpoint) under lease ``token``, so a superseded
        writer's next commit is refused.  True when done or nothing to fence."""
        for _ in range(8):
            current, etag = self._read_pointer()
            if current is None or current.get("seq", -1) < 0 or etag is None:
                return True
            if int(current.get("lease_token") or 0) >= token:
                self._saw_pointer(current, etag)
                return int(current.get("lease_token") or 0) == token
            try:
                man = Manifest.from_dict(current.get("manifest"))
            except ManifestError:
                return False
            body = self._pointer_body(man, token)
            try:
                self._saw_pointer(json.loads(body), self._put_verified(self.pointer_key, body, IfMatch=etag))
                return True
            except ClientError as exc:
                if not is_precondition_failed(exc):
                    raise
            except UploadVerifyError:
                continue
        return False

    # -- download ----------------------------------------------------------------------
    def download(self, seq: int, dest_root: Path, manifest: Manifest | None = None) -> Path:
        """Download checkpoint ``seq`` into ``dest_root/ckpt-<seq>`` and verify every byte.

        Every byte written is hashed as it arrives (in file order) and each file's size
        and sha256 must match the manifest; the staging copy is not read back.
        Downloads into a staging dir and renames into place only after verification;
        an existing verified copy is reused.  Raises S3StoreError when it does not verify.
        """
        dest_root = Path(dest_root)
        dest_root.mkdir(parents=True, exist_ok=True)
        man = manifest or self.get_manifest(seq)
        if man is None:
            raise S3StoreError(f"checkpoint {seq} has no valid manifest in {self.url()}")
        final = dest_root / ckpt_dir_name(seq)
        if final.exists():
            ok, _ = verify_dir(final, man)
            if ok:
                return final
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{seq:010d}-dl-", dir=dest_root))
        try:
            for name, meta in man.files.items():
                check_relative_name(name)
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()  # fed every byte written, in order: no read-back
                size = transfer.download_file(
                    self.client,
                    self.bucket,
                    self.key(seq, name),
                    target,
                    chunk=self.multipart_chunksize,
                    concurrency=self.max_concurrency,
                    hasher=digest,
                )
                if size != meta["size"]:
                    raise S3StoreError(
                        f"s3 checkpoint {seq} does not verify after download: "
                        f"{name}: size {size} != {meta['size']}"
                    )
                if digest.hexdigest() != meta["sha256"]:
                    raise S3StoreError(
                        f"s3 checkpoint {seq} does not verify after download: {name}: sha256 mismatch"
                    )
            (staging / MANIFEST_NAME).write_text(man.to_json())
            if final.exists():
                shutil.rmtree(final)
            staging.rename(final)
            return final
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def candidate_seqs(self) -> list[int]:
        """Seqs to try for a resume, best first: the pointer's, then the others newest first.

        Seqs newer than the pointer (uploaded, pointer not yet moved) come before the
        pointer's seq: the resume orders verified candidates by progress and takes one
        past the pointer only when it is complete, verifies and carries a lease token at
        least the pointer's (not a superseded writer's).  Raises on any S3 error.
        """
        seqs = self.list_seqs()
        ptr = self.latest_seq()
        if ptr is None:
            return seqs
        newer = [s for s in seqs if s > ptr]
        older = [s for s in seqs if s < ptr]
        return [*newer, ptr, *older]

    def download_newest_valid(
        self, dest_root: Path, accept: Callable[[Manifest], bool] | None = None
    ) -> tuple[Path, Manifest] | None:
        """Download the newest checkpoint that verifies (and that ``accept`` approves).

        Tries seqs newest first (a seq newer than the pointer is only taken when it is
        complete and verifies); a corrupt or incomplete one is logged and skipped.
        """
        for seq in self.candidate_seqs():
            man = self.get_manifest(seq)
            if man is None:
                self.log(f"s3 checkpoint {seq}: incomplete (no valid manifest); skipping")
                continue
            if accept is not None and not accept(man):
                self.log(f"s3 checkpoint {seq}: not accepted; skipping")
                continue
            reason = self.explain(seq)
            if reason != "ok":
                self.log(f"s3 checkpoint {seq}: {reason}; skipping")
                continue
            try:
                return self.download(seq, dest_root, man), man
            except S3StoreError as exc:
                self.log(f"s3 checkpoint {seq}: {exc}; skipping")
        return None

    # -- removal -----------------------------------------------------------------------
    def delete(self, seq: int) -> int:
        """Delete every object of checkpoint ``seq`` (manifest first); returns the count."""
        prefix = self.ckpt_prefix(seq)
        with contextlib.suppress(ClientError):
            self.client.delete_object(Bucket=self.bucket, Key=prefix + MANIFEST_NAME)
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            resp = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if resp.get("Errors"):
                raise S3StoreError(f"could not delete {resp['Errors'][:3]} under {prefix}")
        return len(keys) + 1

    def prune(self, keep: int) -> list[int]:
        """Delete checkpoints beyond the ``keep`` furthest VERIFIED ones; returns deleted seqs.

        Only checkpoints numbered below the pointer's and not past it in progress are
        ever deleted; the pointer's own checkpoint, the furthest-progress verified one
        and anything newer than the pointer (an upload in progress) are always kept.
        Without a pointer nothing is deleted.
        """
        if keep < 1:
            raise ValueError("keep must be >= 1")
        ptr = self.pointer()
        if ptr is None:
            return []
        ptr_seq, ptr_prog = int(ptr["seq"]), progress_of(ptr)
        verified: list[tuple[tuple[int, int], int]] = []
        others: list[int] = []
        for seq in self.list_seqs():
            man = self.get_manifest(seq)
            if man is not None and self.verify(seq):
                verified.append((progress_of(man), seq))
            else:
                others.append(seq)
        verified.sort(reverse=True)
        keep_set = {seq for _, seq in verified[:keep]} | {ptr_seq}
        deletable = [seq for prog, seq in verified[keep:] if seq < ptr_seq and prog <= ptr_prog] + [
            seq for seq in others if seq < ptr_seq
        ]
        deleted: list[int] = []
        for seq in sorted(set(deletable) - keep_set, reverse=True):  # newest first
            self.delete(seq)
            deleted.append(seq)
        return deleted
