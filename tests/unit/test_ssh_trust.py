"""No play trusts an SSH host key it has not verified: nothing under roles/, playbooks/ or
inventories/ turns host key checking off or points known_hosts at /dev/null, and the
bastion replacement's first contact uses the known_hosts it writes from the console key."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BLIND = re.compile(r"StrictHostKeyChecking[= ]+(no|off|accept-new)\b|UserKnownHostsFile[= ]+/dev/null", re.I)


def test_no_blind_host_key_trust():
    hits = []
    for top in ("roles", "playbooks", "inventories"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2", ".cfg", ".sh"):
                for n, line in enumerate(path.read_text().splitlines(), 1):
                    if BLIND.search(line):
                        hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert hits == [], "\n".join(hits)


def test_replacement_first_contact_uses_the_console_key():
    tasks = yaml.safe_load((REPO / "roles/rotate_bastion/tasks/launch.yml").read_text())
    by_name = {t["name"]: t for t in tasks}
    keys = by_name["Read the replacement's host key from its console output (real AWS only)"]
    assert "lmpspot.aws.ec2_console_host_keys" in keys
    host = by_name["Configure the replacement over SSH next (real AWS only)"]["ansible.builtin.add_host"]
    args = host["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in args and "rotate_bastion_bootstrap_known_hosts" in args
    defaults = yaml.safe_load((REPO / "roles/rotate_bastion/defaults/main.yml").read_text())
    assert defaults["rotate_bastion_bootstrap_known_hosts"] != "/dev/null"
