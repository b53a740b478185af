"""``stages._inside``: the per-rank half of the MPI stage-end exactness check, on a
``double **`` laid out as LAMMPS' ``extract_atom("x")`` returns it (no numpy)."""

from __future__ import annotations

import ctypes

from lmpspot.stages import _inside


def as_lammps_x(rows: list[tuple[float, float, float]]):
    flat = (ctypes.c_double * (3 * max(1, len(rows))))(*[v for r in rows for v in r])
    rowptrs = (ctypes.POINTER(ctypes.c_double) * max(1, len(rows)))()
    for i in range(len(rows)):
        rowptrs[i] = ctypes.cast(ctypes.byref(flat, 8 * 3 * i), ctypes.POINTER(ctypes.c_double))
    keep = (flat, rowptrs)  # the arrays must outlive the pointer
    return ctypes.cast(rowptrs, ctypes.POINTER(ctypes.POINTER(ctypes.c_double))), keep


LO, HI = [0.0, 0.0, 0.0], [5.0, 10.0, 10.0]


def test_all_inside_the_split_dimension():
    x, _keep = as_lammps_x([(0.0, 1, 1), (4.999, 9, 9), (2.5, 5, 5)])
    assert _inside(x, 3, LO, HI, [0])


def test_an_atom_past_the_upper_bound_of_a_split_dimension():
    x, _keep = as_lammps_x([(0.0, 1, 1), (5.0, 9, 9)])  # hi is exclusive, as read_restart's test
    assert not _inside(x, 2, LO, HI, [0])
    x, _keep = as_lammps_x([(-1e-12, 1, 1), (1.0, 9, 9)])
    assert not _inside(x, 2, LO, HI, [0])


def test_dimensions_this_rank_spans_whole_are_not_checked():
    x, _keep = as_lammps_x([(1.0, 10.5, -0.2)])  # outside in y and z: periodic remap, same rank
    assert _inside(x, 1, LO, HI, [0])
    assert not _inside(x, 1, LO, HI, [0, 1])


def test_only_the_first_n_rows_count():
    x, _keep = as_lammps_x([(1.0, 1, 1), (7.0, 1, 1)])  # row 2: a ghost atom beyond nlocal
    assert _inside(x, 1, LO, HI, [0])
    assert not _inside(x, 2, LO, HI, [0])


def test_no_atoms_or_no_split_dimension():
    x, _keep = as_lammps_x([])
    assert _inside(x, 0, LO, HI, [0, 1, 2])
    x, _keep = as_lammps_x([(99.0, 99, 99)])
    assert _inside(x, 1, LO, HI, [])
