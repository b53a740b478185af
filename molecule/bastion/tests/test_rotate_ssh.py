"""Operator key rotation: the real playbooks/rotate.yml --tags ssh against the converged
bastion container (molecule's inventory puts it in lmpspot_bastion; inventories/local gives
the rest), with real logins from the controller: --check changes nothing, a rotation
whose only proven key is being retired is refused before anything is removed, the real
rotation proves the new key by a login THROUGH the bastion (ProxyCommand ssh -W, as
ProxyJump) and then removes the old key, and a second run changes nothing.

Runs after test_bastion.py (file order): it changes alice's keys."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
KEYS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "keys"
PORT = 2222
RECAP = re.compile(
    r"^lmpspot-mol-bastion\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def rotate(identity: str, *args: str) -> tuple[int, int, str]:
    """Run the ssh rotation to alice = [alice2.pub], proving a login with ``identity``."""
    ev = {
        "rotate_ssh_operators": [{"name": "alice", "keys": [(KEYS / "alice2.pub").read_text().strip()]}],
        "rotate_ssh_verify": [{"user": "alice", "identity_file": str(KEYS / identity)}],
        "rotate_ssh_address": "127.0.0.1",
        "rotate_ssh_port": PORT,
        "rotate_ssh_verify_through": f"127.0.0.1:{PORT}",
        "rotate_ssh_strict_host_key_checking": "no",
        "rotate_ssh_known_hosts_file": "/dev/null",
    }
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE") or str(
        Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory"
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local", "-i", inventory,
         "playbooks/rotate.yml", "--tags", "ssh", "-e", json.dumps(ev), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    m = RECAP.search(proc.stdout)
    assert m, proc.stdout[-4000:] + proc.stderr[-2000:]
    changed, unreachable, failed = map(int, m.groups())
    assert unreachable == 0, proc.stdout[-4000:]
    return changed, failed, proc.stdout


def keys_of(host) -> set[str]:
    text = host.file("/home/alice/.ssh/authorized_keys").content_string
    return {" ".join(line.split()[:2]) for line in text.splitlines() if line.strip()}


def pub(name: str) -> str:
    return " ".join((KEYS / f"{name}.pub").read_text().split()[:2])


def login(key: str) -> int:
    argv = [
        "ssh", "-p", str(PORT), "-i", str(KEYS / key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
        "alice@127.0.0.1", "true",
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def test_rotation(host):
    assert keys_of(host) == {pub("alice")}

    changed, failed, out = rotate("alice2", "--check")
    assert failed == 0 and changed >= 2, out  # add + remove predicted
    assert keys_of(host) == {pub("alice")}  # nothing changed

    # the only login proven is with the key being retired: refused, nothing removed
    changed, failed, out = rotate("alice")
    assert failed == 1 and "Refusing to remove the retired keys" in out, out
    assert keys_of(host) == {pub("alice"), pub("alice2")}
    assert login("alice") == 0

    changed, failed, out = rotate("alice2")
    assert failed == 0 and changed == 1, out  # only the removal is left to do
    assert keys_of(host) == {pub("alice2")}
    assert login("alice2") == 0
    assert login("alice") == 255

    changed, failed, out = rotate("alice2")
    assert failed == 0 and changed == 0, out
