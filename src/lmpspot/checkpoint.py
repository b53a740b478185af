"""Local checkpoint store: atomic, self-verifying checkpoint directories.

Layout under ``root``::

    ckpt-0000000007/            a committed checkpoint (seq 7)
        restart.bin             any files the runner wrote (nested paths allowed)
        manifest.json           written LAST, names every file with sha256 + size
    .staging-0000000008-xxxx/   a checkpoint being written (or a leftover of a crash)

A checkpoint is *complete* only when its ``manifest.json`` parses and every file it
lists is present with the right size and sha256.  ``commit`` fsyncs every file,
writes the manifest via temp file + rename, fsyncs, then renames the staging
directory to its final name, so a crash at any point leaves either a staging
leftover or a directory that fails verification -- never a checkpoint that
silently resumes from half-written data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from lmpspot.timefmt import utc_iso

MANIFEST_NAME = "manifest.json"
CKPT_PREFIX = "ckpt-"
STAGING_PREFIX = ".staging-"
MANIFEST_FORMAT = 1
_CKPT_RE = re.compile(r"^ckpt-(\d{10})$")
_STAGING_RE = re.compile(r"^\.staging-(\d{10})-")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK = 4 * 1024 * 1024


class ManifestError(ValueError):
    """A manifest is missing, unparsable or structurally invalid."""


def ckpt_dir_name(seq: int) -> str:
    """The directory (and S3 key component) name of checkpoint ``seq``."""
    if seq < 0:
        raise ValueError(f"checkpoint seq must be >= 0, got {seq}")
    return f"{CKPT_PREFIX}{seq:010d}"


def parse_ckpt_name(name: str) -> int | None:
    """The seq encoded in a ``ckpt-<seq>`` name, or None for any other name."""
    m = _CKPT_RE.match(name)
    return int(m.group(1)) if m else None


def sha256_file(path: Path, chunk: int = _HASH_CHUNK) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_path(path.parent, directory=True)


def check_relative_name(name: str) -> str:
    """Validate a manifest file name: relative POSIX path, no ``..``, not the manifest."""
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name or str(p) != name:
        raise ManifestError(f"invalid file name in manifest: {name!r}")
    if name == MANIFEST_NAME:
        raise ManifestError("the manifest cannot list itself")
    return name


@dataclass
class Manifest:
    """What a checkpoint is: where in the run it was taken and which files make it up."""

    job_id: str
    seq: int
    attempt: int = 0
    stage: int = 0
    stage_name: str = ""
    step: int = 0
    stage_start_step: int = 0
    stage_target_step: int = 0
    sim_time: float = 0.0
    lammps_version: str = ""
    build_hash: str = ""
    input_hash: str = ""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: utc_iso(digits=6))
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    _INT_FIELDS = ("seq", "attempt", "stage", "step", "stage_start_step", "stage_target_step")
    _STR_FIELDS = ("job_id", "stage_name", "lammps_version", "build_hash", "input_hash", "created_at")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, indented, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Build and validate a manifest from parsed JSON; raises ManifestError."""
        if not isinstance(data, dict):
            raise ManifestError("manifest is not a JSON object")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for required in ("job_id", "seq"):
            if required not in kwargs:
                raise ManifestError(f"manifest lacks {required!r}")
        for k in cls._INT_FIELDS + ("format",):
            if k in kwargs and (not isinstance(kwargs[k], int) or isinstance(kwargs[k], bool)):
                raise ManifestError(f"manifest field {k!r} must be an integer")
        for k in cls._STR_FIELDS:
            if k in kwargs and not isinstance(kwargs[k], str):
                raise ManifestError(f"manifest field {k!r} must be a string")
        if "sim_time" in kwargs:
            if not isinstance(kwargs["sim_time"], (int, float)) or isinstance(kwargs["sim_time"], bool):
                raise ManifestError("manifest field 'sim_time' must be a number")
            kwargs["sim_time"] = float(kwargs["sim_time"])
        if kwargs["seq"] < 0:
            raise ManifestError("manifest seq must be >= 0")
        if kwargs.get("format", MANIFEST_FORMAT) > MANIFEST_FORMAT:
            raise ManifestError(f"manifest format {kwargs['format']} is newer than this lmpspot understands")
        if not isinstance(kwargs.get("extra", {}), dict):
            raise ManifestError("manifest field 'extra' must be an object")
        kwargs["files"] = _checked_files(kwargs.get("files", {}))
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse and validate manifest JSON; raises ManifestError."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @property
    def total_bytes(self) -> int:
        """Sum of the sizes of the checkpoint's files."""
        return sum(int(m["size"]) for m in self.files.values())

    @property
    def name(self) -> str:
        """The checkpoint's directory name, ``ckpt-<seq:010d>``."""
        return ckpt_dir_name(self.seq)


def _checked_files(files: Any) -> dict[str, dict[str, Any]]:
    """A manifest's ``files`` validated (name -> {sha256, size}); raises ManifestError."""
    if not isinstance(files, dict):
        raise ManifestError("manifest field 'files' must be an object")
    clean: dict[str, dict[str, Any]] = {}
    for name, meta in files.items():
        check_relative_name(name)
        if not isinstance(meta, dict):
            raise ManifestError(f"manifest entry for {name!r} is not an object")
        sha, size = meta.get("sha256"), meta.get("size")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            raise ManifestError(f"manifest entry for {name!r} has no valid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"manifest entry for {name!r} has no valid size")
        clean[name] = {"sha256": sha, "size": size}
    return clean


def read_manifest(ckpt_dir: Path) -> Manifest | None:
    """The manifest of a checkpoint directory, or None when missing or invalid."""
    try:
        return Manifest.from_json((Path(ckpt_dir) / MANIFEST_NAME).read_bytes())
    except (OSError, ManifestError):
        return None


def iter_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix name, path) of every regular file below ``directory``, sorted."""
    directory = Path(directory)
    out = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for fn in filenames:
            p = Path(dirpath) / fn
            if p.is_symlink() or not p.is_file():
                continue
            out.append((p.relative_to(directory).as_posix(), p))
    yield from sorted(out)


def verify_dir(ckpt_dir: Path, manifest: Manifest | None = None) -> tuple[bool, str]:
    """Check every file the manifest lists: (ok, reason).  Reads every byte."""
    ckpt_dir = Path(ckpt_dir)
    if manifest is None:
        manifest = read_manifest(ckpt_dir)
        if manifest is None:
            return False, "manifest missing or invalid"
    for name, meta in manifest.files.items():
        p = ckpt_dir / name
        try:
            size = p.stat().st_size
        except OSError:
            return False, f"{name}: missing"
        if size != meta["size"]:
            return False, f"{name}: size {size} != {meta['size']} (truncated or grown)"
        if sha256_file(p) != meta["sha256"]:
            return False, f"{name}: sha256 mismatch (corrupted)"
    return True, "ok"


class LocalStore:
    """Committed checkpoints in a local directory.  Thread-safe for one process."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Verification cache: path -> (stat signature of every file, result).
        self._verified: dict[str, tuple[tuple, bool]] = {}

    # -- writing -----------------------------------------------------------------------
    def staging(self, seq: int) -> Path:
        """A fresh, empty directory under root in which to write checkpoint ``seq``."""
        ckpt_dir_name(seq)  # validates seq
        return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{seq:010d}-", dir=self.root))

    def next_seq(self, at_least: int = 0) -> int:
        """One more than the highest seq seen locally (committed or staging), >= at_least.

        Pass ``at_least = max(S3 seqs) + 1`` on a node whose local disk is empty or
        older than S3, so new checkpoints sort after every uploaded one.
        """
        hi = at_least - 1
        for entry in self._scan():
            name = entry.name
            seq = parse_ckpt_name(name)
            if seq is None and (m := _STAGING_RE.match(name)):
                seq = int(m.group(1))
            if seq is not None:
                hi = max(hi, seq)
        return hi + 1

    def commit(self, staging_dir: Path, **manifest_fields: Any) -> Manifest:
        """Seal a staging directory into ``ckpt-<seq>`` and return its manifest.

        ``manifest_fields`` are Manifest fields (``job_id`` required; ``seq`` defaults to
        the seq the staging dir was created for; ``files`` and ``created_at`` are
        computed).  Every file is hashed and fsynced, ``manifest.json`` is written last
        (temp + rename), then the directory is renamed into place.
        """
        staging_dir = Path(staging_dir)
        if staging_dir.parent.resolve() != self.root.resolve():
            raise ValueError(f"{staging_dir} is not a staging directory of {self.root}")
        m = _STAGING_RE.match(staging_dir.name)
        seq = manifest_fields.pop("seq", None)
        if seq is None:
            if not m:
                raise ValueError(f"cannot tell the seq of {staging_dir}; pass seq=")
            seq = int(m.group(1))
        elif m and int(m.group(1)) != seq:
            raise ValueError(f"seq {seq} does not match staging dir {staging_dir.name}")
        if "job_id" not in manifest_fields:
            raise ValueError("commit needs job_id=")
        manifest_fields.pop("files", None)
        manifest_fields.setdefault("created_at", utc_iso(digits=6))
        stale = staging_dir / MANIFEST_NAME
        if stale.exists():
            stale.unlink()
        files: dict[str, dict[str, Any]] = {}
        for name, path in iter_files(staging_dir):
            if name == MANIFEST_NAME or name.startswith(f".{MANIFEST_NAME}."):
                continue
            h = hashlib.sha256()
            size = 0
            with open(path, "rb+") as fh:
                while block := fh.read(_HASH_CHUNK):
                    h.update(block)
                    size += len(block)
                os.fsync(fh.fileno())
            files[name] = {"sha256": h.hexdigest(), "size": size}
        for dirpath, _dirs, _files in os.walk(staging_dir):
            _fsync_path(Path(dirpath), directory=True)
        manifest = Manifest(seq=seq, files=files, **manifest_fields)
        atomic_write_bytes(staging_dir / MANIFEST_NAME, manifest.to_json().encode())
        final = self.root / ckpt_dir_name(seq)
        with self._lock:
            if final.exists():
                raise FileExistsError(f"checkpoint {final} already exists")
            os.rename(staging_dir, final)
            _fsync_path(self.root, directory=True)
        return manifest

    # -- reading -----------------------------------------------------------------------
    def _scan(self) -> list[os.DirEntry]:
        try:
            with os.scandir(self.root) as it:
                return [e for e in it if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def path_for(self, seq: int) -> Path:
        """The directory checkpoint ``seq`` has (or would have) under root."""
        return self.root / ckpt_dir_name(seq)

    def list(self) -> list[tuple[Path, Manifest | None]]:
        """Every ``ckpt-*`` directory, newest seq first, with its manifest (None if invalid)."""
        out = []
        for entry in self._scan():
            seq = parse_ckpt_name(entry.name)
            if seq is None:
                continue
            man = read_manifest(Path(entry.path))
            if man is not None and man.seq != seq:
                man = None  # a manifest that names another checkpoint is not this one's
            out.append((seq, Path(entry.path), man))
        out.sort(key=lambda t: t[0], reverse=True)
        return [(p, m) for _s, p, m in out]

    def _signature(self, path: Path, manifest: Manifest) -> tuple:
        sig = []
        for name in sorted(manifest.files):
            try:
                st = (path / name).stat()
            except OSError:
                return ()
            sig.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(sig)

    def verify(self, path: Path, *, use_cache: bool = True) -> bool:
        """True when the manifest parses and every listed file has the right size + sha256.

        Results are cached per (file size, mtime, inode) so prune/list loops do not
        re-hash gigabytes; pass ``use_cache=False`` to force a full re-read.
        """
        path = Path(path)
        man = read_manifest(path)
        seq = parse_ckpt_name(path.name)
        if man is None or (seq is not None and man.seq != seq):
            return False
        sig = self._signature(path, man)
        key = str(path.resolve())
        if use_cache and sig:
            cached = self._verified.get(key)
            if cached is not None and cached[0] == sig:
                return cached[1]
        ok, _reason = verify_dir(path, man)
        if sig:
            self._verified[key] = (sig, ok)
        return ok

    def explain(self, path: Path) -> str:
        """Why a checkpoint does or does not verify (full re-read)."""
        path = Path(path)
        man = read_manifest(path)
        if man is None:
            return "manifest missing or invalid (incomplete checkpoint)"
        seq = parse_ckpt_name(path.name)
        if seq is not None and man.seq != seq:
            return f"manifest names seq {man.seq}, directory is seq {seq}"
        return verify_dir(path, man)[1]

    def newest_valid(self, *, use_cache: bool = True) -> tuple[Path, Manifest] | None:
        """The newest checkpoint that verifies, or None."""
        for path, man in self.list():
            if man is not None and self.verify(path, use_cache=use_cache):
                return path, man
        return None

    # -- removal -----------------------------------------------------------------------
    def prune(self, keep: int, protect: Iterable[str] = frozenset()) -> list[Path]:
        """Remove old checkpoints; returns what was removed.

        Keeps the newest ``keep`` valid checkpoints plus every name in ``protect``
        (directory names ``ckpt-<seq>``; plain seq numbers as strings are accepted too).
        Invalid checkpoints are removed only when older than the newest valid one;
        staging leftovers only when their seq is not newer than the newest commit (a
        staging dir with a higher seq may be a checkpoint being written right now).
        """
        if keep < 1:
            raise ValueError("keep must be >= 1: pruning every checkpoint would lose the run")
        protected = set()
        for p in protect:
            s = str(p)
            protected.add(ckpt_dir_name(int(s)) if s.isdigit() else s)
        removed: list[Path] = []
        with self._lock:
            entries = self.list()
            valid_kept = 0
            newest_valid_seq: int | None = None
            newest_commit_seq = -1
            decisions: list[tuple[Path, bool]] = []
            for path, man in entries:
                seq = parse_ckpt_name(path.name)
                assert seq is not None
                newest_commit_seq = max(newest_commit_seq, seq)
                ok = man is not None and self.verify(path)
                if ok:
                    if newest_valid_seq is None:
                        newest_valid_seq = seq
                    if valid_kept < keep:
                        valid_kept += 1
                        continue
                    decisions.append((path, path.name not in protected))
                else:
                    older = newest_valid_seq is not None and seq < newest_valid_seq
                    decisions.append((path, older and path.name not in protected))
            for path, remove in decisions:
                if remove:
                    self._remove(path)
                    removed.append(path)
            for entry in self._scan():
                m = _STAGING_RE.match(entry.name)
                if m and int(m.group(1)) <= newest_commit_seq:
                    self._remove(Path(entry.path))
                    removed.append(Path(entry.path))
        return removed

    def _remove(self, path: Path) -> None:
        # Drop the manifest first: a half-removed checkpoint must read as incomplete.
        with contextlib.suppress(FileNotFoundError):
            (path / MANIFEST_NAME).unlink()
        shutil.rmtree(path, ignore_errors=True)
        self._verified.pop(str(path.resolve()), None)
