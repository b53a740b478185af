"""Write ``data.polymer``: bead-spring (Kremer-Grest) chains as self-avoiding walks.

Chains are grown on a simple cubic lattice (spacing 0.97 sigma, the FENE bond length)
in a periodic box at low density, so there are no overlaps; the input script then
compresses the melt with NPT.  Deterministic for a given seed.

    python make_data.py [--chains 50] [--length 20] [--density 0.3] [--seed 12345]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

BOND = 0.97
MOVES = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]


def grow_chains(chains: int, length: int, n: int, rng: random.Random) -> list[list[tuple[int, int, int]]]:
    """Self-avoiding walks on an n^3 periodic lattice, unwrapped coordinates."""
    occupied: set[tuple[int, int, int]] = set()
    out: list[list[tuple[int, int, int]]] = []
    while len(out) < chains:
        for _ in range(1000):
            start = (rng.randrange(n), rng.randrange(n), rng.randrange(n))
            if start not in occupied:
                break
        walk = [start]
        used = {start}
        while len(walk) < length:
            x, y, z = walk[-1]
            options = []
            for dx, dy, dz in MOVES:
                p = (x + dx, y + dy, z + dz)
                w = (p[0] % n, p[1] % n, p[2] % n)
                if w not in occupied and w not in used:
                    options.append((p, w))
            if not options:
                break
            p, w = rng.choice(options)
            walk.append(p)
            used.add(w)
        if len(walk) == length:
            out.append(walk)
            occupied |= used
    return out


def write_data(path: Path, chains: list[list[tuple[int, int, int]]], n: int) -> None:
    box = n * BOND
    natoms = sum(len(c) for c in chains)
    nbonds = sum(len(c) - 1 for c in chains)
    lines = [
        "Bead-spring polymer melt (lmpspot example, make_data.py)",
        "",
        f"{natoms} atoms",
        f"{nbonds} bonds",
        "1 atom types",
        "1 bond types",
        "",
        f"0.0 {box:.6f} xlo xhi",
        f"0.0 {box:.6f} ylo yhi",
        f"0.0 {box:.6f} zlo zhi",
        "",
        "Masses",
        "",
        "1 1.0",
        "",
        "Atoms # bond",
        "",
    ]
    atom_id = 0
    bonds = []
    for mol, walk in enumerate(chains, start=1):
        for k, (x, y, z) in enumerate(walk):
            atom_id += 1
            img = (x // n, y // n, z // n)
            wx, wy, wz = ((x % n) + 0.5) * BOND, ((y % n) + 0.5) * BOND, ((z % n) + 0.5) * BOND
            lines.append(f"{atom_id} {mol} 1 {wx:.6f} {wy:.6f} {wz:.6f} {img[0]} {img[1]} {img[2]}")
            if k > 0:
                bonds.append((atom_id - 1, atom_id))
    lines += ["", "Bonds", ""]
    lines += [f"{i} 1 {a} {b}" for i, (a, b) in enumerate(bonds, start=1)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chains", type=int, default=50)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--density", type=float, default=0.3, help="beads per sigma^3")
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("data.polymer"))
    args = ap.parse_args()
    natoms = args.chains * args.length
    n = max(4, round((natoms / args.density) ** (1 / 3) / BOND))
    chains = grow_chains(args.chains, args.length, n, random.Random(args.seed))  # noqa: S311
    write_data(args.out, chains, n)
    print(f"wrote {args.out}: {natoms} beads in {args.chains} chains, box {n * BOND:.3f}")


if __name__ == "__main__":
    main()
