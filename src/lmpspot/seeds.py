"""Fresh, reproducible random seeds for seeded commands re-issued on resume.

When a run resumes, the settings before the resume point are re-issued (see
:func:`lmpspot.script.resume_text`).  A thermostat such as ``fix langevin`` whose random
state is *not* in the restart file would then restart its stream from the script's seed
and repeat, after every interruption, the random numbers already used from the stage's
start.  Instead the resumed attempt issues it with

    derived = 1 + int.from_bytes(sha256(f"lmpspot-seed:{seed}:{stage}:{step}")[:8], "big")
                  mod (SEED_MAX - 1)

where ``seed`` is the script's seed (after variable substitution), ``stage``/``step`` the
resume checkpoint's stage index and LAMMPS step.  It depends on nothing else, so two
resumes from the same checkpoint draw the same numbers; it lies in ``1..SEED_MAX``, valid
for LAMMPS' Marsaglia generator (``0 < seed + rank <= 900000000``) on up to 100,000 ranks.
``lmpspot run --keep-seeds`` re-issues the seeds as written.

Handled (seed word position in the command): :data:`SEED_POSITIONS`.  Commands in
:data:`NOT_HANDLED` take seeds too but either keep their random state in the restart file
(``fix deposit``/``pour``/``gcmc``...) or have seeds behind keywords; they are re-issued
as written, with a warning in the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

SEED_MAX = 900_000_000 - 100_000
# (command name, style) -> index of the seed in Command.words
SEED_POSITIONS: dict[tuple[str, str], int] = {
    ("fix", "langevin"): 7,  # fix ID group langevin Tstart Tstop damp seed
    ("fix", "temp/csvr"): 7,  # fix ID group temp/csvr Tstart Tstop Tdamp seed
    ("fix", "temp/csld"): 7,
    ("fix", "gld"): 7,  # fix ID group gld Tstart Tstop N_k seed ...
    ("fix", "gle"): 7,  # fix ID group gle Ns Tstart Tstop seed Amatrix
    ("fix", "brownian"): 5,  # fix ID group brownian T seed ...
    ("fix", "brownian/sphere"): 5,
    ("fix", "brownian/asphere"): 5,
    ("fix", "tfmc"): 6,  # fix ID group tfmc Delta Temp seed
    ("pair_style", "dpd"): 3,  # pair_style dpd T cutoff seed
    ("pair_style", "dpd/tstat"): 4,  # pair_style dpd/tstat Tstart Tstop cutoff seed
}
NOT_HANDLED = {
    "langevin/drude",
    "langevin/eff",
    "langevin/spin",
    "deposit",
    "pour",
    "evaporate",
    "gcmc",
    "widom",
    "atom/swap",
    "bond/create",
    "bond/break",
    "bond/swap",
    "charge/regulation",
    "sgcmc",
}
FORMULA = 'seed\' = 1 + int(sha256("lmpspot-seed:{seed}:{stage}:{step}")[:8]) mod (899900000 - 1)'


def derive_seed(seed: int, stage: int, step: int) -> int:
    """The seed a resumed attempt uses in place of ``seed`` (see the module docstring)."""
    digest = hashlib.sha256(f"lmpspot-seed:{seed}:{stage}:{step}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % (SEED_MAX - 1)


def _style(words: list[str]) -> tuple[str, str] | None:
    if words and words[0] == "fix" and len(words) >= 4:
        return ("fix", words[3].split("/kk")[0].split("/omp")[0])
    if words and words[0] == "pair_style" and len(words) >= 2:
        return ("pair_style", words[1].split("/omp")[0])
    return None


def reseed(
    words: list[str],
    resolve: Callable[[str], int],
    stage: int,
    step: int,
    log: Callable[[str], None],
) -> tuple[list[str], dict[str, Any]] | None:
    """``words`` with the seed replaced by its derived value and a record of it, or None
    when the command takes no seed this module handles (warned for :data:`NOT_HANDLED`)."""
    key = _style(words)
    if key is None:
        return None
    pos = SEED_POSITIONS.get(key)
    if pos is None:
        if key[1] in NOT_HANDLED:
            log(
                f"{' '.join(words[:4])}: its random seed is re-issued as written on resume "
                "(the style keeps its random state in the restart file or is not handled)"
            )
        return None
    if len(words) <= pos:
        return None
    seed = resolve(words[pos])
    new = derive_seed(seed, stage, step)
    out = list(words)
    out[pos] = str(new)
    record = {
        "command": " ".join(words[:4]) if key[0] == "fix" else " ".join(words[:2]),
        "seed": seed,
        "derived": new,
        "stage": stage,
        "step": step,
        "formula": FORMULA,
    }
    log(f"{record['command']}: seed {seed} -> {new} for this resume (stage {stage}, step {step})")
    return out, record
