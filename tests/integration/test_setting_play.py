"""``playbooks/setting.yml`` prints a setting as the plays see it; ``make up`` (scripts/up.sh)
asks it where the main job's log is, to follow the job on the terminal.

``main_job_log_file`` is a shared default (roles/lmpspot_defaults) that an ad-hoc
``ansible -m debug`` does not see: the play must, with the inventory's and the caller's
values over it, and must name the setting when it is not one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def setting(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "playbooks/setting.yml", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def value(res: subprocess.CompletedProcess, name: str) -> str:
    m = re.search(rf'"msg": "{name}=(.*)"', res.stdout)
    assert res.returncode == 0 and m, res.stdout + res.stderr
    return m.group(1)


@pytest.mark.parametrize("inventory", ["inventories/local", "inventories/aws"])
def test_the_main_job_log_as_the_plays_see_it(inventory):
    path = value(setting("-i", inventory, "-e", "setting=main_job_log_file"), "main_job_log_file")
    assert path == str(ROOT / ".state" / "main-job.log")
    moved = setting("-i", inventory, "-e", "setting=main_job_log_file", "-e", "main_job_log_file=/tmp/x.log")
    assert value(moved, "main_job_log_file") == "/tmp/x.log"


def test_up_follows_the_file_the_play_names():
    up = (ROOT / "scripts" / "up.sh").read_text()
    assert "playbooks/setting.yml -e setting=main_job_log_file" in up


@pytest.mark.parametrize("args", [[], ["-e", "setting=no_such_setting"]])
def test_not_a_setting_is_refused_by_name(args):
    res = setting(*args)
    assert res.returncode != 0
    assert "setting: name one lmpspot setting" in res.stdout + res.stderr
