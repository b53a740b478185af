"""Small S3 objects read through a cache keyed by their ETag (``lmpspot status`` at scale).

``lmpspot status`` over a sweep reads 5-6 small JSON objects per simulation (attempt
records, ``latest.json``, ``status.json``, the local job record).  Between two runs most of
them have not changed: a finished simulation's records never do.  :class:`CachedReads`
stands in for the S3 client's ``get_object``:

- a key whose ETag a listing gave (the one listing of the checkpoint prefix) and whose
  cached copy has that ETag is answered from the cache, without a request;
- a key under a prefix that was listed completely but that the listing did not show does
  not exist: ``NoSuchKey`` without a request;
- any other key with a cached copy is fetched with ``If-None-Match``: the object when it
  changed, else 304 and the cached copy;
- the rest is a plain ``GetObject``.

S3's listings and reads are strongly consistent, and an object's ETag changes whenever
its content does, so a copy with the listed ETag is the object.  The cache is a JSON file
per endpoint and bucket under ``$XDG_CACHE_HOME/lmpspot/`` (``~/.cache/lmpspot/``),
rewritten atomically with what this run read (``path=None``: in memory only;
``lmpspot status --no-cache`` does not use it at all).  Only objects up to :data:`MAX_BODY` bytes are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MAX_BODY = 256 * 1024
VERSION = 1


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lmpspot"


def cache_file(directory: Path | str, endpoint: str | None, bucket: str) -> Path:
    """The cache of one bucket at one endpoint (AWS's or the local AWS's)."""
    tag = hashlib.sha256(f"{endpoint or 'aws'}|{bucket}".encode()).hexdigest()[:16]
    return Path(directory) / f"status-{bucket}-{tag}.json"


def _missing(key: str) -> Exception:
    from botocore.exceptions import ClientError  # noqa: PLC0415 (botocore only when used)

    return ClientError({"Error": {"Code": "NoSuchKey", "Message": f"{key}: not in the listing"}}, "GetObject")


def _not_modified(exc: BaseException) -> bool:
    resp = getattr(exc, "response", None) or {}
    code = str((resp.get("Error") or {}).get("Code", ""))
    status = (resp.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in ("304", "NotModified") or status == 304


class CachedReads:
    """``get_object`` of ``client`` through the cache; every other call goes to ``client``."""

    def __init__(self, client: Any, path: Path | str | None = None) -> None:
        self.client = client
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._old: dict[str, list[str]] = self._load()
        self._used: dict[str, list[str]] = {}
        self._listed: dict[str, str] = {}
        self._complete: tuple[str, ...] = ()
        # requests: GetObject calls sent (fetched, 304s, and the ones that found nothing)
        self.counts = {"cached": 0, "absent": 0, "not_modified": 0, "fetched": 0, "requests": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _load(self) -> dict[str, list[str]]:
        if self.path is None:
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            return {}
        objects = doc.get("objects")
        return dict(objects) if isinstance(objects, dict) else {}

    def listed(self, etags: Mapping[str, str], complete: Iterable[str] = ()) -> None:
        """ETags from a listing; ``complete``: prefixes the listing covered entirely."""
        with self._lock:
            self._listed.update(etags)
            self._complete = (*self._complete, *complete)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _answer(self, key: str, etag: str, body: str, what: str) -> dict[str, Any]:
        self._count(what)
        with self._lock:
            self._used[key] = [etag, body]
        return {"Body": io.BytesIO(body.encode("utf-8")), "ETag": etag}

    def get_object(self, *, Bucket: str, Key: str, **kw: Any) -> dict[str, Any]:  # boto3's names
        if kw:
            self._count("requests")
            return self.client.get_object(Bucket=Bucket, Key=Key, **kw)
        with self._lock:
            etag = self._listed.get(Key)
            absent = etag is None and any(Key.startswith(p) for p in self._complete)
            hit = self._used.get(Key) or self._old.get(Key)
        if absent:
            self._count("absent")
            raise _missing(Key)
        if hit and etag is not None and hit[0] == etag:
            return self._answer(Key, etag, hit[1], "cached")
        self._count("requests")
        if hit and etag is None:
            try:
                resp = self.client.get_object(Bucket=Bucket, Key=Key, IfNoneMatch=hit[0])
            except Exception as exc:
                if _not_modified(exc):
                    return self._answer(Key, hit[0], hit[1], "not_modified")
                raise
        else:
            resp = self.client.get_object(Bucket=Bucket, Key=Key)
        raw = resp["Body"].read()
        self._count("fetched")
        if len(raw) <= MAX_BODY:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                with self._lock:
                    self._used[Key] = [resp["ETag"], text]
        return {**resp, "Body": io.BytesIO(raw)}

    def save(self) -> None:
        """Keep what this run read (and nothing it no longer needs)."""
        if self.path is None:
            return
        with self._lock:
            doc = {"version": VERSION, "objects": dict(self._used)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".status-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            return  # a cache that cannot be written costs time, never a result
