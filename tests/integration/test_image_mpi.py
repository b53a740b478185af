"""The cpu image's entrypoint with ``--mpi-ranks 2``: the mpich wheel's hydra ``mpiexec``
inside the image (found next to the venv's python), as the image's unprivileged user,
without a network."""

from __future__ import annotations

import re

import pytest
from image_fixture import cpu_image  # noqa: F401 (a fixture)
from lmp_helpers import lj_fcc

pytestmark = pytest.mark.integration

TINY = f"""\
units           lj
atom_style      atomic
{lj_fcc(4, "1.5", 4711)}\
fix             1 all nve
thermo          50
run             200
run             200
"""


def test_cpu_image_runs_two_mpi_ranks(cpu_image, tmp_path):  # noqa: F811 (the fixture)
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)
    (work / "in.lj").write_text(TINY)
    p = cpu_image.podman(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{work}:/work",
        cpu_image.ref,
        "run",
        "/work/in.lj",
        "--job-id",
        "image-mpi",
        "--workdir",
        "/work/run",
        "--mpi-ranks",
        "2",
        check=False,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"launching 2 MPI ranks: /opt/lmpspot/bin/mpiexec -n 2", p.stderr), p.stderr
    assert "finished at step 400" in p.stderr
    log = (work / "run" / "log.lammps").read_text()
    assert re.search(r"Loop time of \S+ on 2 procs for \d+ steps", log), log[-1500:]
    # the stage-end checkpoints (written by rank 0 from both ranks' atoms) are committed
    manifests = sorted((work / "run" / "checkpoints").glob("ckpt-*/manifest.json"))
    assert manifests, sorted(p.name for p in (work / "run").rglob("*"))
    assert '"mpi_ranks": 2' in manifests[-1].read_text()
