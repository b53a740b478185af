"""A module-scoped fixture: the real cpu image, built and pushed by the real plays.

Same approach as tests/integration/test_image.py (registry play, then image play, into a
registry of its own on a free port, with a state directory of its own), but once per test
module so several tests share one image. Use it with::

    from image_fixture import cpu_image  # noqa: F401 (a fixture)

The Debian base image and podman's layer cache are reused across runs (as in
test_image.py); the image tags this fixture creates, the registry and its data are
removed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import LocalAws, free_port, run_playbook

PODMAN = shutil.which("podman")


@dataclass
class CpuImage:
    ref: str  # <address>/<repo>:cpu-<16 hex>
    address: str  # 127.0.0.1:<port> (the local registry v2)
    repository: str
    containers_conf: Path
    state_dir: Path
    extra_vars: dict
    created: list[str] = field(default_factory=list)

    def podman(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ, CONTAINERS_CONF=str(self.containers_conf))
        proc = subprocess.run(
            [PODMAN, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check:
            assert proc.returncode == 0, f"podman {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def derive(self, tag: str, containerfile: str) -> str:
        """Build ``<address>/<repo>:<tag>`` FROM this image, push it, return its reference."""
        ref = f"{self.address}/{self.repository}:{tag}"
        ctx = self.state_dir / f"derive-{tag}"
        ctx.mkdir(exist_ok=True)
        (ctx / "Containerfile").write_text(f"FROM {self.ref}\n{containerfile}")
        self.podman("build", "--network", "none", "-t", ref, str(ctx), timeout=600)
        self.created.append(ref)
        self.podman("push", "--quiet", "--tls-verify=false", ref, timeout=600)
        return ref


@pytest.fixture(scope="module")
def cpu_image(moto_server: LocalAws, tmp_path_factory) -> CpuImage:
    """The cpu image in a local registry of its own (built only when its tag is missing)."""
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/bootstrap.sh)")
    state = tmp_path_factory.mktemp("image-state")
    state.chmod(0o755)
    ev = {
        "registry_repository_name": f"lmpspot-test-{uuid.uuid4().hex[:8]}",
        "registry_local_port": free_port(),
        "lmpspot_state_dir": str(state),
    }
    moto_server.reset()
    up = run_playbook("playbooks/registry.yml", moto_server, extra_vars=ev)
    assert up.rc == 0, up
    built = run_playbook("playbooks/image.yml", moto_server, extra_vars=ev, timeout=1500)
    assert built.rc == 0, built
    address = f"127.0.0.1:{ev['registry_local_port']}"
    repo = ev["registry_repository_name"]
    m = re.search(rf"{re.escape(address)}/{re.escape(repo)}:(cpu-[0-9a-f]{{16}})", built.stdout)
    assert m, built
    image = CpuImage(
        ref=f"{address}/{repo}:{m.group(1)}",
        address=address,
        repository=repo,
        containers_conf=state / "containers.conf",
        state_dir=state,
        extra_vars=ev,
    )
    image.created.append(image.ref)
    yield image
    for ref in image.created:
        image.podman("rmi", "--force", "--ignore", ref, check=False)
    # The tests reset the local AWS (the ECR repository may be gone); absent tolerates it
    # and stops the local registry.
    down = run_playbook("playbooks/registry.yml", moto_server, extra_vars={**ev, "registry_state": "absent"})
    assert down.rc == 0, down
