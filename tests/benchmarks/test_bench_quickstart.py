"""`make up` from a fresh clone: first run (system + main job + report) vs the re-run.

Both runs in one benchmark, side by side; the ratio is what to compare across machines.
The clone reuses this checkout's .venv (the venv build is PyPI time, not ours); podman's
image cache is whatever this machine has (say so in the table's note).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, free_port
from perfdoc import record, table

pytestmark = pytest.mark.bench
TASK_TIME = re.compile(r"^(?P<name>.+?) -+ (?P<s>[0-9.]+)s$", re.M)


def _make(clone: Path, target: str, ports: tuple[int, int]) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_")) and k != "MAKEFLAGS"}
    args = f"ARGS=-e lmpspot_local_aws_port={ports[0]} -e registry_local_port={ports[1]}"
    venv = Path(sys.executable).parent.parent
    start = time.monotonic()
    p = subprocess.run(
        ["make", "-C", str(clone), target, f"VENV={venv}", args],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    return p.returncode, p.stdout + p.stderr, time.monotonic() - start


def test_make_up_first_vs_rerun(tmp_path):
    clone = tmp_path / "lmpspot"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    ports = (free_port(), free_port())
    try:
        rc1, out1, first = _make(clone, "up", ports)
        assert rc1 == 0, out1[-5000:]
        rc2, out2, second = _make(clone, "up", ports)
        assert rc2 == 0, out2[-5000:]
    finally:
        _make(clone, "local-aws-stop", ports)
    tasks = [(m["name"], float(m["s"])) for m in TASK_TIME.finditer(out1)]
    job = sum(s for n, s in tasks if "local executor in the foreground" in n)
    build = sum(s for n, s in tasks if n.startswith("image : Build and push"))
    rows = [
        ["first `make up` (site.yml + main job + report)", f"{first:.1f}", "1.00"],
        ["  of which: the main job (local executor)", f"{job:.1f}", f"{job / first:.2f}"],
        ["  of which: the cpu image build and push", f"{build:.1f}", f"{build / first:.2f}"],
        ["second `make up` (nothing to do)", f"{second:.1f}", f"{second / first:.2f}"],
    ]
    record(
        "make-up",
        "`make up` from a fresh clone: first run vs re-run",
        table(["run", "wall s", "ratio to first"], rows)
        + "\n\nOne fresh `git clone`, its own local AWS and registry on free ports; the clone reuses"
        " this checkout's `.venv`, and podman's layer cache is this machine's (warm when other"
        " tests built the image before).",
    )
