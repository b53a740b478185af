"""No role hands podman registry credentials as arguments (its command line is visible to
every local user in ps): podman tasks use an auth file, written 0600 and removed after."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key) or [])


def test_podman_tasks_take_no_credentials_as_arguments():
    checked = 0
    for f in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        for task in _tasks(yaml.safe_load(f.read_text()) or []):
            for module, args in task.items():
                if not module.startswith("containers.podman.") or not isinstance(args, dict):
                    continue
                checked += 1
                assert not {"password", "username"} & set(args), f"{f.relative_to(REPO)}: {task.get('name')}"
            if task.get("ansible.builtin.command") or task.get("ansible.builtin.shell"):
                text = str(task.get("ansible.builtin.command") or task.get("ansible.builtin.shell"))
                assert "--creds" not in text and "--password " not in text, (
                    f"{f.relative_to(REPO)}: {task.get('name')}"
                )
    assert checked >= 1


def test_the_image_push_auth_file_is_private_and_removed():
    build = yaml.safe_load((REPO / "roles/image/tasks/build.yml").read_text())
    (push,) = [t for t in build if t.get("name") == "Push with an auth file"]
    (write,) = [t for t in push["block"] if "ansible.builtin.copy" in t]
    assert write["ansible.builtin.copy"]["mode"] == "0600" and write["no_log"] is True
    (podman,) = [t for t in push["block"] if "containers.podman.podman_image" in t]
    assert podman["containers.podman.podman_image"]["auth_file"] == write["ansible.builtin.copy"]["dest"]
    (remove,) = push["always"]
    assert remove["ansible.builtin.file"] == {
        "path": write["ansible.builtin.copy"]["dest"],
        "state": "absent",
    }
