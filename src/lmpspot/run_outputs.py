"""The run's outputs (LAMMPS log, thermo/ave files, dumps, written data) across attempts.

At every checkpoint the dump sizes go into the manifest and the work directory is queued
for ``<results_prefix><job_id>/`` in the bucket; a resumed attempt on a fresh node fetches
the earlier outputs from there and cuts the dumps back to their size at the checkpoint.
Rank 0 only.  The uploads themselves: :mod:`lmpspot.sync` and :mod:`lmpspot.outputs`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import Manifest, check_relative_name


def _inside_workdir(name: str) -> bool:
    """A manifest's file name is a plain relative name inside the work directory."""
    try:
        check_relative_name(name)
    except ValueError:
        return False
    return True


class RunOutputs:
    """``session`` is the :class:`lmpspot.session.LammpsSession` (its dump files); ``s3``
    an optional :class:`lmpspot.s3store.S3Store`; ``results_prefix`` None: not synced."""

    def __init__(
        self,
        session: Any,
        *,
        workdir: Path,
        checkpoint_dir: Path | None,
        job_id: str,
        results_prefix: str | None,
        s3: Any,
        log: Callable[[str], None],
    ) -> None:
        self.session = session
        self.workdir = workdir
        self.checkpoint_dir = checkpoint_dir
        self.job_id = job_id
        self.results_prefix = results_prefix
        self.s3 = s3
        self.log = log

    def sizes(self) -> dict[str, int]:
        """Sizes of the dump files now (dumps flush every snapshot by default)."""
        out: dict[str, int] = {}
        for name in self.session.dumps.values():
            p = Path(name)
            if p.is_file():
                out[str(p)] = p.stat().st_size
        return out

    def sync(self, syncer: Any) -> None:
        """Queue the run directory's outputs for ``<results_prefix><job_id>/`` (S3 only).

        Everything in the work directory except the checkpoints and hidden files: the
        LAMMPS log, thermo/ave files, dumps, written data.  The syncer uploads only what
        changed since its last upload, after pending checkpoints.
        """
        if self.s3 is None or self.results_prefix is None or syncer is None:
            return
        with contextlib.suppress(Exception):  # older lammps modules lack flush_buffers
            self.session.lmp.flush_buffers()  # the log and dumps as far as LAMMPS has got
        wd = self.workdir.resolve()
        ckpt = (self.checkpoint_dir or wd / "checkpoints").resolve()
        paths = [p for p in sorted(wd.iterdir()) if not p.name.startswith(".") and p.resolve() != ckpt]
        syncer.sync_outputs(paths, f"{self.results_prefix}{self.job_id}/")

    def restore(self, man: Manifest, wd: Path) -> None:
        """Fetch the earlier attempts' outputs from ``<results_prefix><job_id>/`` when this
        work directory lacks them (a fresh node or container resuming from S3), so the
        resumed run appends to them instead of overwriting their S3 copies with a tail.

        The LAMMPS log and the dumps the checkpoint recorded; dumps are then cut back to
        their size at the checkpoint by :meth:`truncate`.
        """
        if self.s3 is None or self.results_prefix is None:
            return
        prefix = f"{self.results_prefix}{self.job_id}/"
        sizes = {str(k): int(v) for k, v in dict(man.extra.get("outputs", {})).items()}
        for name in ["log.lammps", *sizes]:
            path = wd / name
            if path.exists() or not _inside_workdir(name):
                continue
            try:
                self.s3.client.download_file(self.s3.bucket, prefix + name, str(path))
            except Exception as e:  # nothing there yet (S3 had no copy), or S3 unreachable
                self.log(f"outputs: no earlier {name} restored from s3://{self.s3.bucket}/{prefix}: {e}")
                continue
            have = path.stat().st_size
            if name in sizes and have < sizes[name]:
                self.log(
                    f"WARNING: {name} from S3 has {have} bytes, {sizes[name]} at the checkpoint: "
                    "the frames in between were not uploaded before the last attempt ended"
                )
            self.log(f"outputs: restored {name} ({have} bytes) from s3://{self.s3.bucket}/{prefix}")

    def truncate(self, man: Manifest) -> None:
        """Cut dump files back to their size at the checkpoint (frames written after it
        by a killed attempt would otherwise appear twice)."""
        for name, size in dict(man.extra.get("outputs", {})).items():
            if not _inside_workdir(name):
                self.log(f"checkpoint names output {name!r} outside the work directory: ignored")
                continue
            p = Path(name)
            if p.is_file() and p.stat().st_size > int(size):
                with open(p, "r+b") as fh:
                    fh.truncate(int(size))
                self.log(f"truncated {name} to its size at the checkpoint ({size} bytes)")
