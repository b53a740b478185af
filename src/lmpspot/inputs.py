"""Fetch a simulation's input files from S3 into its working directory.

``playbooks/submit.yml`` uploads the input script and its data files to
``s3://<bucket>/inputs/<sim_id>/`` with each file's sha256 in the object metadata
``lmpspot-sha256`` (``amazon.aws.s3_object`` cannot send S3's own ``ChecksumAlgorithm``);
before the runner starts, :func:`fetch_inputs` downloads every object under that prefix
into a directory, keeping the relative paths.  An object that carries a SHA256 -- S3's
full-object ``ChecksumSHA256`` or that metadata -- is verified after download (a
mismatch raises :class:`InputChecksumError` and leaves no file behind); a file already
present with the same SHA256 is not downloaded again.

Command line (until ``lmpspot run --inputs`` exists)::

    python -m lmpspot.inputs s3://BUCKET/inputs/SIM_ID/ DEST
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

LogFn = Callable[[str], None]


class InputChecksumError(RuntimeError):
    """A downloaded input does not match the SHA256 checksum S3 holds for it."""


def _log(msg: str) -> None:
    print(f"lmpspot inputs: {msg}", file=sys.stderr, flush=True)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")`` (prefix ends with /)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


SHA_META_KEY = "lmpspot-sha256"  # hex sha256 in the object metadata (as S3Store writes)


def sha256_hex(path: Path) -> str:
    """The file's SHA256, hex."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _relative(key: str, prefix: str) -> PurePosixPath:
    rel = PurePosixPath(key[len(prefix) :])
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"refusing object key {key!r}: it escapes the destination")
    return rel


def _remote_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The object's SHA256 (hex): S3's full-object checksum, else our metadata, else None."""
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    value = head.get("ChecksumSHA256")
    if value and "-" not in value:  # a multipart composite is not the file's digest
        return base64.b64decode(value).hex()
    meta = (head.get("Metadata") or {}).get(SHA_META_KEY)
    return meta.lower() if meta else None


def fetch_inputs(s3: Any, bucket: str, prefix: str, dest: Path | str, *, log: LogFn = _log) -> list[Path]:
    """Download every object under ``prefix`` into ``dest``; return the local paths.

    Objects whose key ends with ``/`` (folder markers) are skipped.  Files already in
    ``dest`` with the object's SHA256 are kept as they are.  Without a stored checksum a
    present file of the same size is kept too (nothing better to compare with).
    """
    dest = Path(dest)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    out: list[Path] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/"):
                continue
            target = dest.joinpath(*_relative(key, prefix).parts)
            want = _remote_sha256(s3, bucket, key)
            if target.is_file():
                same = sha256_hex(target) == want if want else target.stat().st_size == obj["Size"]
                if same:
                    log(f"{target} is up to date")
                    out.append(target)
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            os.close(fd)
            try:
                s3.download_file(bucket, key, tmp)
                if want and sha256_hex(Path(tmp)) != want:
                    raise InputChecksumError(
                        f"s3://{bucket}/{key}: SHA256 of the download does not match S3's"
                    )
                Path(tmp).replace(target)
            finally:
                Path(tmp).unlink(missing_ok=True)
            log(f"fetched s3://{bucket}/{key} -> {target}" + (" (sha256 verified)" if want else ""))
            out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lmpspot.inputs", description=__doc__.split("\n")[0])
    ap.add_argument("url", help="s3://BUCKET/inputs/SIM_ID/")
    ap.add_argument("dest", type=Path, help="directory to download into")
    ap.add_argument("--endpoint-url", help="S3 endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL)")
    args = ap.parse_args(argv)
    import boto3  # noqa: PLC0415

    try:
        bucket, prefix = parse_s3_url(args.url)
    except ValueError as e:
        _log(str(e))
        return 2
    files = fetch_inputs(boto3.client("s3", endpoint_url=args.endpoint_url), bucket, prefix, args.dest)
    if not files:
        _log(f"no objects under {args.url}")
        return 2
    _log(f"{len(files)} input file(s) in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
