"""Chunk sizing from the boundary cost, and seed derivation/rewriting (pure Python)."""

from __future__ import annotations

import random

from lmpspot.chunking import FIRST_CHUNK, ChunkSizer
from lmpspot.script import parse_script
from lmpspot.seeds import SEED_MAX, derive_seed, reseed


def feed(sizer: ChunkSizer, a: float, b: float, chunks: int, noise: float = 0.0) -> list[int]:
    rng = random.Random(7)  # noqa: S311
    sizes = []
    n = FIRST_CHUNK
    for _ in range(chunks):
        sizer.observe(n, (a + b * n) * (1 + rng.uniform(-noise, noise)))
        n = sizer.next()
        sizes.append(n)
    return sizes


def test_boundary_cost_is_fitted_and_sets_the_chunk_length():
    s = ChunkSizer(min_seconds=0.1, max_seconds=100.0, overhead=0.005)
    feed(s, a=0.02, b=0.001, chunks=20)
    assert abs(s.boundary_seconds - 0.02) < 1e-6 and abs(s.step_seconds - 0.001) < 1e-9
    # boundary cost 0.5 % of the MD time: 0.02 / 0.005 = 4 s = 4000 steps
    assert s.next() == 4000


def test_chunk_length_bounded_by_min_and_max_seconds():
    cheap = ChunkSizer(min_seconds=1.5, max_seconds=5.0)
    feed(cheap, a=0.0001, b=0.001, chunks=20)
    assert cheap.next() == 1500  # boundary nearly free: the minimum, 1.5 s
    dear = ChunkSizer(min_seconds=1.5, max_seconds=5.0)
    feed(dear, a=1.0, b=0.2, chunks=20)
    assert dear.next() == 25  # boundary 1 s would want 200 s chunks: capped at 5 s
    slow = ChunkSizer(min_seconds=1.5, max_seconds=5.0)
    feed(slow, a=0.0, b=10.0, chunks=5)
    assert slow.next() == 1  # one step longer than the cap: one step per chunk


def test_noisy_timings_stay_within_bounds():
    s = ChunkSizer(min_seconds=1.5, max_seconds=5.0)
    sizes = feed(s, a=0.05, b=0.002, chunks=40, noise=0.5)
    assert all(1 <= n <= 4 * 5.0 / 0.002 for n in sizes)
    assert 1.5 / 0.002 / 2 <= sizes[-1] <= 5.0 / 0.002 * 2


def test_no_chunk_outlasts_the_cap_even_before_anything_is_measured():
    """Whatever the step cost b, boundary cost a and LAMMPS setup time: after the stage's
    first (pre yes) chunk, no chunk's MD time exceeds max_seconds (or one step when a step
    is longer), so a spot notice never waits for a blind 10- or 20-step chunk; and the
    boundary cost still settles near 0.5 % of the MD time."""
    rng = random.Random(11)  # noqa: S311
    for _ in range(300):
        a = 10 ** rng.uniform(-4, -0.5)
        b = 10 ** rng.uniform(-5, 1.2)
        setup = 10 ** rng.uniform(-2, 1.5)
        s = ChunkSizer(min_seconds=1.5, max_seconds=5.0)
        s.observe_setup(FIRST_CHUNK, setup + a + b * FIRST_CHUNK)
        for _ in range(40):
            n = s.next()
            assert n >= 1 and b * n <= max(5.0, b) + b / 2, (a, b, setup, n)
            s.observe(n, a + b * n)
        if 1.5 <= a / 0.005 <= 5.0 and b < 0.1:
            assert a / (b * n) < 0.006, (a, b, n)


def test_derive_seed_range_and_determinism():
    got = {
        derive_seed(s, st, step) for s in (1, 12345, 900000000) for st in range(3) for step in (0, 7, 10**7)
    }
    assert len(got) == 27 and all(1 <= x <= SEED_MAX for x in got)
    assert derive_seed(5, 1, 2) == derive_seed(5, 1, 2)


def test_reseed_rewrites_handled_styles_and_warns_for_others(tmp_path):
    (tmp_path / "in.x").write_text(
        "units lj\natom_style atomic\nregion b block 0 1 0 1 0 1\ncreate_box 1 b\n"
        "variable s equal 99\n"
        "fix 1 all langevin 1.0 1.0 0.5 ${s} zero yes\n"
        "fix 2 all temp/csvr 1.0 1.0 0.5 77\n"
        "fix 3 all deposit 10 1 100 555 region b\n"
        "fix 4 all nve\nrun 10\n"
    )
    plan = parse_script(tmp_path / "in.x")
    logs: list[str] = []
    vals = {"${s}": 99, "77": 77, "555": 555}
    out = {}
    for c in plan.commands:
        r = reseed(c.words, vals.__getitem__, 0, 500, logs.append)
        if r is not None:
            out[c.words[1]] = r
    assert set(out) == {"1", "2"}
    words, rec = out["1"]
    assert words[7] == str(derive_seed(99, 0, 500)) and words[8:] == ["zero", "yes"]
    assert rec["seed"] == 99 and rec["stage"] == 0 and rec["step"] == 500
    assert out["2"][0][7] == str(derive_seed(77, 0, 500))
    assert any("deposit" in m and "as written" in m for m in logs)
