"""Run every molecule scenario (`molecule test -s <scenario>`) so `make test` covers the host
roles: bastion, spot_handler, checkpoint_sync on a systemd Debian 12 container (podman).

The image is built once (molecule/image/build.sh: debootstrap base + podman build, and the
podman settings this machine needs in CONTAINERS_CONF); then the scenarios run side by
side (they are mostly waiting on podman exec) and each test reports its own scenario.
Needs root, podman, runc/crun and debootstrap: without them the tests are skipped with the
reason. LMPSPOT_MOLECULE_SERIAL=1 runs the scenarios one after the other instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ["bastion", "spot_handler", "checkpoint_sync"]
TIMEOUT_S = 900


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "molecule scenarios need root (debootstrap, systemd containers)"
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def _run(scenario: str, env: dict[str, str], logdir: Path) -> tuple[int, float, str]:
    t0 = time.monotonic()
    log = logdir / f"molecule-{scenario}.log"
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "molecule"), "test", "-s", scenario],
            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=TIMEOUT_S, check=False,
        )  # fmt: skip
    return proc.returncode, time.monotonic() - t0, str(log)


@pytest.fixture(scope="session")
def molecule_runs(tmp_path_factory) -> dict[str, Future]:
    why = _missing()
    if why:
        pytest.skip(why)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PY_COLORS"] = "0"
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(var, None)
    built = subprocess.run(
        [str(REPO / "molecule" / "image" / "build.sh")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    for line in built.stdout.splitlines():  # export CONTAINERS_CONF=... LMPSPOT_MOLECULE_IMAGE=...
        for word in line.removeprefix("export ").split():
            key, _, value = word.partition("=")
            env[key] = value.strip("'\"")
    assert env.get("LMPSPOT_MOLECULE_IMAGE"), built.stdout
    logdir = tmp_path_factory.mktemp("molecule")
    workers = 1 if os.environ.get("LMPSPOT_MOLECULE_SERIAL") else len(SCENARIOS)
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = {s: pool.submit(_run, s, env, logdir) for s in SCENARIOS}
    yield futures
    pool.shutdown(wait=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(molecule_runs, scenario):
    rc, seconds, log = molecule_runs[scenario].result(timeout=TIMEOUT_S + 60)
    text = Path(log).read_text()
    assert rc == 0, (
        f"molecule test -s {scenario} failed (rc={rc}, {seconds:.0f}s); log {log}:\n{text[-6000:]}"
    )
    # the whole sequence ran, including the idempotence and check-mode passes
    for action in ("create", "prepare", "converge", "idempotence", "check", "verify", "destroy"):
        # "[bastion > converge] Executed: Successful" (no tty) or "bastion ➜ converge: Executed: ..."
        done = re.search(rf"{scenario}\s*(?:>|➜)\s*{action}\]?:?\s+Executed: Successful", text)
        assert done, f"{scenario}: {action} did not run successfully"
    print(f"molecule {scenario}: {seconds:.0f}s")
