"""Replaying the commands before the resume point (see :func:`lmpspot.script.resume_text`).

The system definition becomes ``read_restart`` of the checkpoint; settings, dumps and logs
are re-issued as :func:`~lmpspot.script.resume_text` rewrites them, with a fresh seed for
seeded fixes (:func:`lmpspot.seeds.reseed`) unless the seeds are kept; dynamic/static
groups are re-created; everything else is already in the restart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot.checkpoint import Manifest, check_relative_name
from lmpspot.checkpointing import RESTART_NAME
from lmpspot.exits import LammpsError, RestartRejected
from lmpspot.script import Command, Kind, Plan, _requote, resume_text
from lmpspot.seeds import reseed


class Replay:
    """Replays ``plan``'s commands on ``session`` (:class:`lmpspot.session.LammpsSession`);
    ``seeds`` collects the seeds derived (the manifests record them)."""

    def __init__(self, session: Any, *, fresh_seeds: bool, log: Callable[[str], None]) -> None:
        self.session = session
        self.fresh_seeds = fresh_seeds
        self.log = log
        self.plan: Plan | None = None
        self.seeds: list[dict[str, Any]] = []  # seeds derived for this resume (lmpspot.seeds)

    def command(self, c: Command, restart_dir: Path, man: Manifest) -> None:
        """Issue (or skip) a command that precedes the resume point."""
        plan = self.plan
        assert plan is not None
        if c.index == plan.create_index:
            name = check_relative_name(str(man.extra.get("restart_file", RESTART_NAME)))
            try:
                self.session.cmd(f"read_restart {restart_dir / name}")
            except LammpsError as e:
                raise RestartRejected(man.seq, f"LAMMPS cannot read checkpoint {man.seq}: {e}") from e
            return
        if c.kind in (Kind.SETTING, Kind.DUMP, Kind.LOG):
            for text in resume_text(c, man.step):
                self.session.cmd(self._reseeded(c, text, man))
        elif c.kind is Kind.GROUP and len(c.words) > 2 and c.words[2] in ("dynamic", "static"):
            self.session.cmd(c.text)
        # CREATE (a second one), STATE, ONCE, GROUP, RUN, MINIMIZE: already in the restart

    def _reseeded(self, c: Command, text: str, man: Manifest) -> str:
        """``text`` with a fresh seed derived from the resume point (lmpspot.seeds)."""
        if not self.fresh_seeds or text != c.text:
            return text
        log = self.log if self.session.world.rank == 0 else (lambda _m: None)
        got = reseed(c.words, self.session.resolve_int, man.stage, man.step, log)
        if got is None:
            return text
        words, record = got
        self.seeds.append(record)
        return " ".join(_requote(w) for w in words)
