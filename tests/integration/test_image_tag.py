"""The image's content tag follows the product's sources and ignores the local stand-ins.

Runs the image role's real ``tag.yml`` (what the image play and the compute layer run to
name the image) against three copies of the sources: as they are, with a stand-in changed
(``local/src/lmpspot_local/executor.py``) and with a product file changed
(``src/lmpspot/runner.py``). A changed stand-in must not make a new image; a changed
product file must. No AWS, no podman: the tag is a digest of files.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.integration

# What a source tree needs for tag.yml, and the stand-ins beside it.
TREE = ("container", "src/lmpspot", "pyproject.toml", "local")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _copy_sources(dest: Path) -> Path:
    for rel in TREE:
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=IGNORE)
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _append(path: Path, text: str) -> None:
    assert path.is_file(), path
    path.write_text(path.read_text() + text)


def test_tag_ignores_stand_ins_and_follows_the_product(playbook, tmp_path):
    trees = {name: _copy_sources(tmp_path / name) for name in ("same", "stand_in", "product")}
    _append(trees["stand_in"] / "local/src/lmpspot_local/executor.py", "\n# a change to the stand-in only\n")
    _append(trees["product"] / "src/lmpspot/runner.py", "\n# a change to the product\n")

    tasks = []
    for name, tree in trees.items():
        tasks += [
            f"    - name: Compute the tag of {name}\n"
            "      ansible.builtin.include_role:\n"
            "        name: image\n"
            "        tasks_from: tag.yml\n"
            "      vars:\n"
            "        image_target: cpu\n"
            f"        image_source_dir: {tree}\n",
            f"    - name: Show the tag of {name}\n"
            "      ansible.builtin.debug:\n"
            f'        msg: "TAG {name} {{{{ image__tag }}}}"\n',
        ]
    play = tmp_path / "tag.yml"
    play.write_text(
        "- name: Image tags of three source trees\n"
        "  hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: false\n"
        "  tasks:\n" + "".join(tasks)
    )
    res = playbook(str(play), None, extra_vars={"lmpspot_state_dir": str(tmp_path / "state")})
    assert res.rc == 0, res.stdout + res.stderr
    tags = dict(re.findall(r"TAG (\w+) (cpu-[0-9a-f]{16})", res.stdout))
    assert set(tags) == set(trees), res.stdout

    assert tags["stand_in"] == tags["same"], "a change to a local stand-in changed the image tag"
    assert tags["product"] != tags["same"], "a change to src/lmpspot left the image tag as it was"
