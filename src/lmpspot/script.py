"""Parse a LAMMPS input script into a resumable :class:`Plan`.

lmpspot does not re-implement LAMMPS: it feeds the script's commands to LAMMPS one by one
(LAMMPS itself does variable substitution), but it must know, for every command, what to
do with it when a run is resumed from a restart file.  This module splits the script into
logical commands (``&`` continuations joined, ``#`` comments dropped, quotes honoured) and
classifies each one by its first word.

Supported forms
---------------
* Any sequence of ordinary commands with one or more ``run N`` and/or ``minimize``
  commands.  Every ``run``/``minimize`` is a *stage* (e.g. minimize -> NVT -> NPT -> NVE).
* ``run N [upto] [start S] [stop T] [pre yes|no] [post yes|no]``; ``N`` (and ``S``/``T``)
  may be a literal, ``$x``, ``${name}`` or ``$(expr)`` (resolved by LAMMPS at run time).
* ``include FILE`` with a literal file name: the file is inlined at parse time.
* ``if "cond" then "cmd" ... [else "cmd" ...]`` when every command inside is a plain
  setting (``fix``, ``variable``, ``thermo`` ...): it is re-issued on resume like any setting.
* The system is created once, by the first ``read_data``/``create_box``/``read_restart``.

Rejected at start (exit code 2, :class:`ScriptError` with file:line):
``jump``, ``label``, ``next``, ``clear``, ``quit``, ``python``, ``partition``, ``rerun``,
multi-replica commands (``temper``, ``neb``, ``prd``, ``tad``, ``hyper``), ``run ... every``,
``timer timeout``, ``shell cd``, ``include`` of a computed file name, ``if`` containing
anything but settings, multi-line triple-quoted strings, a ``run``/``minimize`` before the
system exists, and any command that is not in :data:`COMMAND_KINDS`.

Refused unless the caller opts in (``allow_unsafe=True``; ``lmpspot run
--allow-unsafe-commands``): the commands in :func:`unsafe_reason` -- ``shell``, ``plugin``,
``pair_style python``, ``fix python/...`` and ``python``-style variables -- which run code
of the script author's choosing inside the job (see the README's trust model).
"""

from __future__ import annotations

import enum
import hashlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class ScriptError(ValueError):
    """The input script uses a form the runner cannot checkpoint and resume."""


class Kind(enum.Enum):
    """What a command means for resuming from a restart file."""

    SETTING = "setting"  # not stored in restart files: re-issued on resume
    CREATE = "create"  # defines the box: replaced by read_restart on resume
    STATE = "state"  # changes atoms/box/timestep: skipped before the resume point
    ONCE = "once"  # one-shot output/side effect: skipped before the resume point
    GROUP = "group"  # membership is in the restart file: skipped unless dynamic/static
    DUMP = "dump"  # re-issued with append yes
    LOG = "log"  # re-issued with append
    RUN = "run"  # a stage
    MINIMIZE = "minimize"  # a stage


_SETTINGS = [
    "angle_coeff",
    "angle_style",
    "angle_write",
    "atom_modify",
    "atom_style",
    "bond_coeff",
    "bond_style",
    "bond_write",
    "boundary",
    "comm_modify",
    "comm_style",
    "compute",
    "compute_modify",
    "dielectric",
    "dihedral_coeff",
    "dihedral_style",
    "dimension",
    "dump_modify",
    "echo",
    "fix",
    "fix_modify",
    "improper_coeff",
    "improper_style",
    "kim",
    "kspace_modify",
    "kspace_style",
    "labelmap",
    "lattice",
    "mass",
    "min_modify",
    "min_style",
    "molecule",
    "neigh_modify",
    "neighbor",
    "newton",
    "package",
    "pair_coeff",
    "pair_modify",
    "pair_style",
    "pair_write",
    "plugin",
    "processors",
    "region",
    "restart",
    "run_style",
    "special_bonds",
    "suffix",
    "thermo",
    "thermo_modify",
    "thermo_style",
    "timer",
    "timestep",
    "uncompute",
    "undump",
    "unfix",
    "units",
    "variable",
    "if",
]
_STATE = [
    "balance",
    "change_box",
    "create_atoms",
    "create_bonds",
    "delete_atoms",
    "delete_bonds",
    "displace_atoms",
    "read_dump",
    "replicate",
    "reset_atom_ids",
    "reset_atoms",
    "reset_mol_ids",
    "reset_timestep",
    "set",
    "velocity",
]
_ONCE = ["print", "info", "shell", "write_coeff", "write_data", "write_dump", "write_restart"]

COMMAND_KINDS: dict[str, Kind] = {
    **{c: Kind.SETTING for c in _SETTINGS},
    **{c: Kind.STATE for c in _STATE},
    **{c: Kind.ONCE for c in _ONCE},
    "read_data": Kind.CREATE,
    "create_box": Kind.CREATE,
    "read_restart": Kind.CREATE,
    "group": Kind.GROUP,
    "dump": Kind.DUMP,
    "log": Kind.LOG,
    "run": Kind.RUN,
    "minimize": Kind.MINIMIZE,
}

REJECTED: dict[str, str] = {
    "jump": "jump/label loops cannot be checkpointed; unroll the loop into explicit stages",
    "label": "jump/label loops cannot be checkpointed; unroll the loop into explicit stages",
    "next": "'next' advances loop variables, which restart files do not record; unroll it",
    "clear": "'clear' wipes the system; split the script into separate jobs",
    "quit": "'quit' is not supported; end the script instead",
    "python": "'python' can change anything at run time; it cannot be replayed safely",
    "partition": "multi-partition runs are not supported",
    "rerun": "'rerun' post-processes dumps; run it outside lmpspot",
    "temper": "multi-replica commands are not supported",
    "temper/grem": "multi-replica commands are not supported",
    "temper/npt": "multi-replica commands are not supported",
    "neb": "multi-replica commands are not supported",
    "neb/spin": "multi-replica commands are not supported",
    "prd": "multi-replica commands are not supported",
    "tad": "multi-replica commands are not supported",
    "hyper": "'hyper' is not supported",
    "minimize/kk": "use 'minimize' (the suffix applies it)",
}

# Commands that run code the script's author chooses: refused unless allow_unsafe.
UNSAFE: dict[str, str] = {
    "shell": "runs any program in the job's container, with the job role's S3 access",
    "plugin": "loads a shared library into LAMMPS (any code; re-loaded on every resume)",
}
ALLOW_UNSAFE_HINT = (
    "input scripts are untrusted by default (README, 'Trust model'); to allow it, run "
    "'lmpspot run --allow-unsafe-commands' (jobs: compute_allow_unsafe_commands or "
    "submit_allow_unsafe_commands: true)"
)


def unsafe_reason(words: list[str]) -> str | None:
    """Why a command runs arbitrary code (``None`` when it does not)."""
    if not words:
        return None
    name = words[0]
    if name in UNSAFE:
        return UNSAFE[name]
    if name == "pair_style" and any(w == "python" for w in words[1:]):
        return "imports a Python module of the script's choosing (pair_style python)"
    if name == "fix" and len(words) >= 4 and words[3].startswith("python"):
        return f"calls Python code ({words[3]})"
    if name == "variable" and len(words) >= 3 and words[2] == "python":
        return "calls Python code (python-style variable)"
    return None


# Dump styles whose output file cannot be appended to (image/movie, per-snapshot cfg).
NO_APPEND_DUMP_STYLES = {"image", "movie", "cfg", "cfg/gz", "cfg/zstd", "cfg/mpiio"}
# Fix styles that make a restart statistically, not bitwise, exact: random forces or
# constraint iterations whose state is not in restart files, or box-changing
# barostats (measured: a re-setup of fix npt perturbs the last bits at most steps).
NON_BITWISE_FIX_PREFIXES = (
    "langevin",
    "shake",
    "rattle",
    "temp/csvr",
    "temp/csld",
    "gld",
    "gle",
    "dpd",
    "npt",
    "nph",
    "press/",
    "box/relax",
    "deposit",
    "pour",
    "evaporate",
    "gcmc",
    "bond/create",
    "bond/break",
    "bond/swap",
    "atom/swap",
    "widom",
    "charge/regulation",
    "ttm",
    "brownian",
    "sgcmc",
)
# Commands whose (literal) file arguments are inputs, hashed into the input hash.
_INPUT_FILE_ARG = {"read_data": 0, "read_restart": 0, "molecule": 1, "read_dump": 0}


@dataclass
class RunSpec:
    """The arguments of a ``run`` command (step values unresolved when they use variables)."""

    nsteps: str
    upto: bool = False
    start: str | None = None
    stop: str | None = None
    pre: bool = True
    post: bool = True


@dataclass
class Command:
    """One logical command of the script."""

    index: int
    lineno: int
    source: str  # file it came from (include-aware)
    text: str  # the command as passed to LAMMPS (comments stripped, continuations joined)
    name: str
    words: list[str]
    kind: Kind
    stage: int | None = None
    run: RunSpec | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.lineno}"


@dataclass
class Stage:
    """A ``run`` or ``minimize`` command."""

    index: int
    command: int  # index into Plan.commands
    kind: str  # "run" or "minimize"
    name: str  # e.g. "run#2 (fix 1 nvt)" -- human readable
    run: RunSpec | None = None


@dataclass
class Plan:
    """A parsed, validated input script."""

    path: Path
    commands: list[Command]
    stages: list[Stage]
    input_files: list[Path] = field(default_factory=list)  # data files, includes, molecules
    create_index: int = -1  # index of the command that defines the box

    @property
    def bitwise_restartable(self) -> bool:
        """False if a fix makes restarts statistically exact only (see NON_BITWISE...)."""
        for c in self.commands:
            if c.name == "fix" and len(c.words) >= 4:
                style = c.words[3].split("/kk")[0].split("/omp")[0].split("/gpu")[0]
                if style.startswith(NON_BITWISE_FIX_PREFIXES):
                    return False
        return True

    def input_hash(self, variables: dict[str, list[str]] | None = None) -> str:
        """sha256 over the script, every referenced input file and ``-var`` overrides."""
        h = hashlib.sha256()
        h.update(b"script\0" + self.path.read_bytes())
        for f in self.input_files:
            h.update(f"\0file\0{f.name}\0".encode())
            h.update(f.read_bytes())
        for k in sorted(variables or {}):
            h.update(f"\0var\0{k}\0{' '.join((variables or {})[k])}".encode())
        return h.hexdigest()


def split_words(text: str) -> list[str]:
    """Split a command like LAMMPS does: whitespace, with '...', "..." and \"\"\"...\"\"\"."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith('"""', i):
            j = text.find('"""', i + 3)
            if j < 0:
                raise ScriptError("unterminated triple quote")
            words.append(text[i + 3 : j])
            i = j + 3
        elif text[i] in "'\"":
            q = text[i]
            j = text.find(q, i + 1)
            if j < 0:
                raise ScriptError(f"unterminated quote {q}")
            words.append(text[i + 1 : j])
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            words.append(text[i:j])
            i = j
    return words


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment that is not inside quotes."""
    q: str | None = None
    i = 0
    while i < len(line):
        if line.startswith('"""', i):
            if q == '"""':
                q = None
            elif q is None:
                q = '"""'
            i += 3
            continue
        c = line[i]
        if q is None and c in "'\"":
            q = c
        elif q == c:
            q = None
        elif q is None and c == "#":
            return line[:i]
        i += 1
    return line


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``&`` continuations, strip comments; return (first line number, text) pairs."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if raw.count('"""') % 2 == 1:
            raise ScriptError(f"line {lineno}: multi-line triple-quoted strings are not supported")
        line = _strip_comment(raw).rstrip()
        if not buf:
            start = lineno
        if line.endswith("&"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        buf = []
        if joined:
            out.append((start, joined))
    if buf:
        joined = " ".join(part.strip() for part in buf).strip()
        if joined:
            out.append((start, joined))
    return out


def parse_run(words: list[str], where: str) -> RunSpec:
    """Parse ``run N [keywords]``."""
    if len(words) < 2:
        raise ScriptError(f"{where}: 'run' needs a step count")
    spec = RunSpec(nsteps=words[1])
    i = 2
    while i < len(words):
        kw = words[i]
        if kw == "every":
            raise ScriptError(
                f"{where}: 'run ... every' executes commands between chunks; it cannot be "
                "checkpointed. Write the repeated runs out as separate stages"
            )
        if kw == "upto":
            spec.upto = True
            i += 1
        elif kw in ("start", "stop", "pre", "post"):
            if i + 1 >= len(words):
                raise ScriptError(f"{where}: 'run' keyword {kw} needs a value")
            val = words[i + 1]
            if kw == "start":
                spec.start = val
            elif kw == "stop":
                spec.stop = val
            elif val not in ("yes", "no"):
                raise ScriptError(f"{where}: 'run' keyword {kw} must be yes or no")
            elif kw == "pre":
                spec.pre = val == "yes"
            else:
                spec.post = val == "yes"
            i += 2
        else:
            raise ScriptError(f"{where}: unknown 'run' keyword {kw!r}")
    return spec


def _check_if(words: list[str], where: str, allow_unsafe: bool = False) -> None:
    """Allow ``if`` only when every command it may execute is a plain setting."""
    i = 2  # words[0] == "if", words[1] == condition
    while i < len(words):
        w = words[i]
        if w in ("then", "else"):
            i += 1
            continue
        if w == "elif":
            i += 2
            continue
        inner = split_words(w)
        name = inner[0] if inner else ""
        _refuse_unsafe(inner, where, allow_unsafe)
        if COMMAND_KINDS.get(name) is not Kind.SETTING or name == "if":
            raise ScriptError(
                f"{where}: 'if' may only contain settings (fix, variable, thermo, ...); "
                f"{name!r} inside 'if' cannot be replayed on resume"
            )
        i += 1


def _refuse_unsafe(words: list[str], where: str, allow_unsafe: bool) -> None:
    reason = None if allow_unsafe else unsafe_reason(words)
    if reason:
        raise ScriptError(f"{where}: '{words[0]}' is refused: it {reason}; {ALLOW_UNSAFE_HINT}")


def _stage_name(kind: str, index: int, commands: list[Command]) -> str:
    """A readable stage name: the kind plus the integrator fixes defined so far."""
    fixes: dict[str, str] = {}
    for c in commands:
        if c.name == "fix" and len(c.words) >= 4:
            fixes[c.words[1]] = c.words[3]
        elif c.name == "unfix" and len(c.words) >= 2:
            fixes.pop(c.words[1], None)
    styles = [s for s in fixes.values() if s.startswith(("nve", "nvt", "npt", "nph", "langevin"))]
    return f"{kind}{index}" + (f"-{'+'.join(styles)}" if styles and kind == "run" else "")


def parse_script(path: str | Path, *, allow_unsafe: bool = False) -> Plan:
    """Read, inline includes, classify and validate an input script.

    Raises :class:`ScriptError` (with ``file:line``) for any unsupported form, and for
    the commands :func:`unsafe_reason` names unless ``allow_unsafe``.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise ScriptError(f"input script {path} does not exist")
    reader = _ScriptReader(path, allow_unsafe)
    reader.add(path, 0)
    if reader.create_index < 0:
        raise ScriptError(f"{path.name}: no read_data/create_box/read_restart defines the system")
    if not reader.stages:
        raise ScriptError(f"{path.name}: no run or minimize command: nothing to do")
    # de-duplicate while keeping order
    seen: set[Path] = set()
    files = [f for f in reader.input_files if not (f in seen or seen.add(f))]
    return Plan(path, reader.commands, reader.stages, files, reader.create_index)


class _ScriptReader:
    """The state :func:`parse_script` builds while it reads a script and its includes."""

    def __init__(self, path: Path, allow_unsafe: bool) -> None:
        self.path = path  # the top-level script: data file names are relative to its directory
        self.allow_unsafe = allow_unsafe
        self.commands: list[Command] = []
        self.stages: list[Stage] = []
        self.input_files: list[Path] = []
        self.create_index = -1

    def add(self, source: Path, depth: int) -> None:
        """Classify and validate every command of ``source`` (includes inlined)."""
        if depth > 8:
            raise ScriptError(f"{source}: include nesting deeper than 8")
        for lineno, line in _source_lines(source):
            where = f"{source.name}:{lineno}"
            try:
                words = split_words(line)
            except ScriptError as e:
                raise ScriptError(f"{where}: {e}") from e
            name = words[0]
            if name in REJECTED:
                raise ScriptError(f"{where}: '{name}' is not supported: {REJECTED[name]}")
            if name == "include":
                self._include(source, words, where, depth)
                continue
            kind = self._checked_kind(words, where)
            cmd = Command(len(self.commands), lineno, source.name, line, name, words, kind)
            if kind is Kind.CREATE:
                self._define_system(cmd, where)
            self._note_input_file(words)
            if kind in (Kind.RUN, Kind.MINIMIZE):
                self._add_stage(cmd, where)
            self.commands.append(cmd)

    def _include(self, source: Path, words: list[str], where: str, depth: int) -> None:
        if len(words) != 2 or "$" in words[1]:
            raise ScriptError(f"{where}: 'include' needs one literal file name")
        inc = (source.parent / words[1]).resolve()
        if not inc.is_file():
            raise ScriptError(f"{where}: included file {words[1]} not found")
        self.input_files.append(inc)
        self.add(inc, depth + 1)

    def _checked_kind(self, words: list[str], where: str) -> Kind:
        """The command's kind; raises ScriptError for a command lmpspot cannot replay or refuses."""
        name = words[0]
        kind = COMMAND_KINDS.get(name)
        if kind is None:
            raise ScriptError(
                f"{where}: command {name!r} is not supported by lmpspot (it does not know "
                "how to replay it on resume); see docs/RUNNER.md for the supported commands"
            )
        if name == "timer" and "timeout" in words:
            raise ScriptError(f"{where}: 'timer timeout' conflicts with checkpointing")
        if name == "shell" and len(words) > 1 and words[1] == "cd":
            raise ScriptError(f"{where}: 'shell cd' changes the working directory")
        _refuse_unsafe(words, where, self.allow_unsafe)
        if name == "if":
            _check_if(words, where, self.allow_unsafe)
        return kind

    def _define_system(self, cmd: Command, where: str) -> None:
        """The first CREATE command defines the system; ``read_data ... add`` later is a state change."""
        if self.create_index < 0:
            self.create_index = cmd.index
        elif cmd.name == "read_data" and "add" in cmd.words:
            cmd.kind = Kind.STATE
        else:
            raise ScriptError(f"{where}: the system is defined twice ({cmd.name})")

    def _note_input_file(self, words: list[str]) -> None:
        """Record a literal data file the command reads (it is part of the input's identity)."""
        name = words[0]
        if name in _INPUT_FILE_ARG and len(words) > _INPUT_FILE_ARG[name] + 1:
            fname = words[_INPUT_FILE_ARG[name] + 1]
            if "$" not in fname and "*" not in fname:
                f = (self.path.parent / fname).resolve()
                if f.is_file():
                    self.input_files.append(f)

    def _add_stage(self, cmd: Command, where: str) -> None:
        """A ``run`` or ``minimize`` command starts a stage."""
        if self.create_index < 0:
            raise ScriptError(f"{where}: '{cmd.name}' before the system is defined")
        if cmd.kind is Kind.RUN:
            cmd.run = parse_run(cmd.words, where)
        elif len(cmd.words) < 5:
            raise ScriptError(f"{where}: 'minimize' needs etol ftol maxiter maxeval")
        cmd.stage = len(self.stages)
        self.stages.append(
            Stage(cmd.stage, cmd.index, cmd.name, _stage_name(cmd.name, cmd.stage, self.commands), cmd.run)
        )


def _source_lines(source: Path) -> list[tuple[int, str]]:
    """The logical lines of one script file, as (line number, text)."""
    try:
        text = source.read_text()
    except UnicodeDecodeError as e:
        raise ScriptError(f"{source}: not a text file ({e})") from e
    try:
        return logical_lines(text)
    except ScriptError as e:
        raise ScriptError(f"{source}: {e}") from e


def resume_text(cmd: Command, resume_step: int) -> list[str]:
    """The command(s) to issue for ``cmd`` when replaying settings on resume.

    Dumps and logs append instead of truncating; fix ave/* and fix print files append;
    a dump does not write the resume step twice (``dump_modify delay``).
    """
    w = cmd.words
    if cmd.kind is Kind.LOG:
        if len(w) >= 2 and w[1] != "none" and "append" not in w[2:]:
            return [f"log {shlex.quote(w[1])} append"]
        return [cmd.text]
    if cmd.kind is Kind.DUMP:
        out = [cmd.text]
        if len(w) >= 6 and w[3] not in NO_APPEND_DUMP_STYLES and "*" not in w[5]:
            out.append(f"dump_modify {w[1]} append yes")
        if len(w) >= 2:
            out.append(f"dump_modify {w[1]} delay {resume_step + 1}")
        return out
    if cmd.name == "fix" and len(w) >= 4 and (w[3].startswith("ave/") or w[3] == "print"):
        new = list(w)
        for i in range(4, len(new) - 1):
            if new[i] == "file" and "append" not in new:
                new[i] = "append"
        if new != w:
            return [" ".join(_requote(x) for x in new)]
    return [cmd.text]


def _requote(word: str) -> str:
    """Quote a word again for LAMMPS if it contains whitespace."""
    if word and not any(c.isspace() for c in word) and "#" not in word:
        return word
    if '"' not in word:
        return f'"{word}"'
    if "'" not in word:
        return f"'{word}'"
    return f'"""{word}"""'
