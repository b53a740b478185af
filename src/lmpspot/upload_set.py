"""Which files ``playbooks/submit.yml`` uploads with an input script.

Inputs go to a versioned bucket that every job can read, so the set is as small as the
run needs and never picks up what merely lies next to the script:

* the script, every file a word of one of its commands names (``read_data``,
  ``include`` -- whose file is read the same way --, ``molecule``, the potential files of
  ``pair_coeff``, tables, ``variable ... file`` ...), and the files listed explicitly
  (``submit_files``); a name computed from variables (``$x``) cannot be seen here: list
  that file explicitly;
* only files inside the script's directory; a referenced file outside it is not uploaded
  (reported, the job would not find it either);
* never anything under a dot-directory or named with a leading dot (``.aws/credentials``,
  ``.ssh/id_rsa``, ``.git/config``): a script or a list that names one is refused;
* never a symbolic link that leads out of the directory (refused; one that stays inside
  uploads its target's content under the link's name).

The script is parsed first (:func:`lmpspot.script.parse_script`), so a script the runner
would refuse -- ``shell``, ``plugin`` without the opt-in -- is refused before anything is
uploaded.

Command line (the submit role's; prints JSON, exit 2 with the reason on a refusal)::

    python -m lmpspot.upload_set SCRIPT [--file REL ...] [--allow-unsafe-commands]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lmpspot.inputs import sha256_hex
from lmpspot.script import ScriptError, logical_lines, parse_script, split_words

# Commands whose file arguments are outputs: a stale output lying next to the script from
# a local run is not an input.
OUTPUT_COMMANDS = frozenset(
    {
        "log",
        "dump",
        "dump_modify",
        "write_data",
        "write_restart",
        "write_dump",
        "write_coeff",
        "restart",
        "print",
    }
)


class UploadRefused(ValueError):
    """A file the script or the list names must not be uploaded."""


@dataclass
class UploadSet:
    """The files to upload: relative path -> absolute source path."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "dir": str(self.root),
            "files": [
                {"path": rel, "src": str(src), "sha256": sha256_hex(src)}
                for rel, src in sorted(self.files.items())
            ],
            "ignored": self.ignored,
        }


def _candidate(word: str) -> bool:
    """A word that may name a file (no variables, wildcards or bare numbers)."""
    if not word or "$" in word or "*" in word or word in (".", ".."):
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def _resolve(root: Path, name: str, what: str, *, explicit: bool) -> tuple[str, Path] | None:
    """``(relative path, path)`` of a file inside ``root``; None when it is not one.

    Raises :class:`UploadRefused` for a hidden path or a link leading out of ``root``.
    """
    lexical = Path(os.path.normpath(root / name))
    rel = os.path.relpath(lexical, root)
    inside = not (rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel))
    if not inside or not (lexical.is_file() or lexical.is_symlink()):
        if explicit:
            raise UploadRefused(f"{what} {name}: not a file in {root}")
        if inside is False and lexical.is_file():
            return ("outside", lexical)
        return None
    if any(part.startswith(".") for part in Path(rel).parts):
        raise UploadRefused(
            f"{what} {name}: under a dot-directory or hidden; lmpspot never uploads those (credentials, "
            "keys, .git); move the file to a plain directory next to the script"
        )
    real = lexical.resolve()
    if real != root and root not in real.parents:
        raise UploadRefused(
            f"{what} {name}: a symbolic link leading out of {root} (to {real}); copy the file into "
            "the directory instead"
        )
    if not real.is_file():
        if explicit:
            raise UploadRefused(f"{what} {name}: not a file in {root}")
        return None
    return rel, lexical


def _scan(root: Path, source: Path, out: UploadSet, seen: set[Path]) -> None:
    """Add every file the commands of ``source`` name; follow ``include``."""
    if source in seen:
        return
    seen.add(source)
    for lineno, line in logical_lines(source.read_text()):
        words = split_words(line)
        if words[0] in OUTPUT_COMMANDS:
            continue
        for word in words[1:]:
            if not _candidate(word):
                continue
            found = _resolve(root, word, f"{source.name}:{lineno}:", explicit=False)
            if found is None:
                continue
            rel, path = found
            if rel == "outside":
                out.ignored.append(f"{source.name}:{lineno}: {word} is outside {root}: not uploaded")
                continue
            out.files[rel] = path
            if words[0] == "include":
                _scan(root, path.resolve(), out, seen)


def upload_set(
    script: Path | str, explicit: list[str] | None = None, *, allow_unsafe: bool = False
) -> UploadSet:
    """The files to upload with ``script`` (see the module doc); raises on a refusal."""
    script = Path(script).resolve()
    parse_script(script, allow_unsafe=allow_unsafe)  # ScriptError: the runner would refuse it
    root = script.parent
    out = UploadSet(root)
    out.files[script.name] = script
    _scan(root, script, out, set())
    for name in explicit or []:
        found = _resolve(root, name, "submit_files", explicit=True)
        assert found is not None  # explicit=True raises instead
        out.files[found[0]] = found[1]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lmpspot.upload_set", description=__doc__.split("\n")[0])
    ap.add_argument("script", type=Path)
    ap.add_argument(
        "--file", action="append", default=[], help="a file to upload too (relative to the script)"
    )
    ap.add_argument("--allow-unsafe-commands", action="store_true", help="accept shell, plugin, ...")
    args = ap.parse_args(argv)
    try:
        result = upload_set(args.script, args.file, allow_unsafe=args.allow_unsafe_commands)
    except (ScriptError, UploadRefused, OSError) as e:
        print(f"lmpspot upload: refused: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
