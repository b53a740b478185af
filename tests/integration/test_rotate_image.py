"""Image rotation (playbooks/rotate.yml --tags images) against the local AWS, the local
registry v2 and real podman builds: a new base image rolls the job definition forward by
exactly one revision (the previous one kept ACTIVE), a second run changes nothing,
--check predicts without touching, a rollback re-registers the kept image, and the
lifecycle preview reports the older image that the policy will expire.

The "new base" is the same Debian base under a second name, so every layer comes from
podman's cache and only the content tag (which hashes the build arguments) changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import REPO, free_port

pytestmark = pytest.mark.integration

BASE = "localhost/lmpspot-base:bookworm"
JOBDEF = "lmpspot-local-lammps-gpu"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def _podman(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if (state / "containers.conf").exists():
        env["CONTAINERS_CONF"] = str(state / "containers.conf")
    return subprocess.run(
        [shutil.which("podman") or "podman", *args], env=env, capture_output=True, text=True, check=False
    )


def _revisions(aws) -> list[tuple[int, str]]:
    defs = aws.client("batch").describe_job_definitions(jobDefinitionName=JOBDEF, status="ACTIVE")
    return sorted(
        (d["revision"], d["containerProperties"]["image"].rsplit(":", 1)[1]) for d in defs["jobDefinitions"]
    )


def _digest(address: str, repo: str, tag: str) -> str:
    """The manifest digest the local registry serves for ``tag``."""
    req = urllib.request.Request(
        f"http://{address}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": ",".join(MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # loopback http
        return resp.headers["Docker-Content-Digest"]


def test_rotate_images_forward_and_back(aws, playbook, tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    repo = f"lmpspot-rot-{uuid.uuid4().hex[:8]}"
    ev = {
        "registry_repository_name": repo,
        "registry_local_port": free_port(),
        "lmpspot_state_dir": str(state),
        "network_interface_endpoints_enabled": False,
        "registry_keep_tagged_count": 1,  # so the preview has something to report
    }
    new_base = f"localhost/lmpspot-base:rotate-{uuid.uuid4().hex[:8]}"
    prereq = tmp_path / "prereq.yml"
    prereq.write_text(
        "---\n"
        + "".join(
            f"- ansible.builtin.import_playbook: {REPO}/playbooks/{p}.yml\n"
            for p in ("network", "identity", "storage")
        )
    )
    refs: list[str] = []
    try:
        up = playbook(str(prereq), aws, extra_vars=ev)
        assert up.rc == 0, up

        first = playbook("playbooks/rotate.yml", aws, "--tags", "images", extra_vars=ev, timeout=1500)
        assert first.rc == 0, first
        revs = _revisions(aws)
        assert len(revs) == 1, revs
        tag_a = revs[0][1]
        refs.append(f"127.0.0.1:{ev['registry_local_port']}/{repo}:{tag_a}")
        assert _podman(state, "tag", BASE, new_base).returncode == 0

        fwd = {**ev, "image_cpu_base": new_base}
        check = playbook("playbooks/rotate.yml", aws, "--tags", "images", "--check", extra_vars=fwd)
        assert check.rc == 0 and check.changed > 0, check
        assert _revisions(aws) == revs  # --check registered nothing

        roll = playbook("playbooks/rotate.yml", aws, "--tags", "images", extra_vars=fwd, timeout=1500)
        assert roll.rc == 0, roll
        revs = _revisions(aws)
        assert [r for r, _ in revs] == [1, 2], revs  # exactly one new revision; the old one ACTIVE
        tag_b = revs[1][1]
        refs.append(f"127.0.0.1:{ev['registry_local_port']}/{repo}:{tag_b}")
        assert tag_b != tag_a and tag_b.startswith("cpu-")
        assert f"roll back with -e rotate_image_rollback_tag={tag_a}" in roll.stdout, roll
        # keep 1 tagged image: the older image (A) is what the policy will expire -- unless
        # podman's cache made B byte-identical to A (one image, two tags: nothing expires)
        address = f"127.0.0.1:{ev['registry_local_port']}"
        if _digest(address, repo, tag_a) == _digest(address, repo, tag_b):
            preview = f"0 of 1 image(s) will expire []; kept [{' '.join(sorted([tag_a, tag_b]))}]"
        else:
            preview = f"1 of 2 image(s) will expire [{tag_a}]; kept [{tag_b}]"
        said = [line.strip() for line in roll.stdout.splitlines() if "lifecycle preview" in line]
        assert f"lifecycle preview (computed from the policy rules): {preview}" in roll.stdout, said

        again = playbook("playbooks/rotate.yml", aws, "--tags", "images", extra_vars=fwd)
        assert again.rc == 0 and again.changed == 0, again

        back = {**fwd, "rotate_image_rollback_tag": tag_a}
        rb = playbook("playbooks/rotate.yml", aws, "--tags", "images", extra_vars=back)
        assert rb.rc == 0, rb
        assert _revisions(aws) == [(1, tag_a), (2, tag_b), (3, tag_a)]
        rb2 = playbook("playbooks/rotate.yml", aws, "--tags", "images", extra_vars=back)
        assert rb2.rc == 0 and rb2.changed == 0, rb2

        bad = playbook(
            "playbooks/rotate.yml",
            aws,
            "--tags",
            "images",
            extra_vars={**fwd, "rotate_image_rollback_tag": "cpu-0000000000000000"},
        )
        assert bad.rc != 0 and "no ACTIVE revision" in bad.stdout, bad
        assert len(_revisions(aws)) == 3
    finally:
        for ref in [*refs, new_base]:
            _podman(state, "rmi", "--ignore", ref)
        playbook("playbooks/registry.yml", aws, extra_vars={**ev, "registry_state": "absent"})
