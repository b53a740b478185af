"""The local AWS play: start, reuse, check mode, stop, and refusal of routable addresses.

Runs the real ``playbooks/local_aws.yml`` (the ``lmpspot.local.local_aws`` module) on a
free port with its own state directory, separate from the session's moto fixture.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request

import pytest
from conftest import CA_BUNDLE, free_port, run_playbook

pytestmark = pytest.mark.integration


def _config(port: int) -> dict:
    ctx = ssl.create_default_context(cafile=CA_BUNDLE)  # it speaks https, with the local CA
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/moto-api/config", timeout=5, context=ctx) as resp:
        return json.load(resp)


def test_start_reuse_check_and_stop(tmp_path):
    port = free_port()
    ev = {"lmpspot_local_aws_port": port, "lmpspot_state_dir": str(tmp_path)}
    try:
        check = run_playbook("playbooks/local_aws.yml", None, "--check", extra_vars=ev)
        assert check.rc == 0, check
        assert check.changed == 1, check  # check mode predicts the start ...
        assert not (tmp_path / "moto.pid").exists()  # ... without starting anything

        first = run_playbook("playbooks/local_aws.yml", None, extra_vars=ev)
        assert first.rc == 0, first
        assert first.changed == 1, first
        pid = int((tmp_path / "moto.pid").read_text())
        os.kill(pid, 0)  # the recorded process is alive
        # Batch must not try to run containers itself: the local executor does that.
        assert _config(port)["batch"]["use_docker"] is False

        again = run_playbook("playbooks/local_aws.yml", None, extra_vars=ev)
        assert again.rc == 0, again
        assert again.changed == 0, again
        assert int((tmp_path / "moto.pid").read_text()) == pid  # reused, not restarted

        check_again = run_playbook("playbooks/local_aws.yml", None, "--check", extra_vars=ev)
        assert check_again.changed == 0, check_again
    finally:
        stop = run_playbook("playbooks/local_aws.yml", None, extra_vars={**ev, "local_aws_state": "stopped"})
    assert stop.rc == 0, stop
    assert stop.changed == 1, stop
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    stop_again = run_playbook(
        "playbooks/local_aws.yml", None, extra_vars={**ev, "local_aws_state": "stopped"}
    )
    assert stop_again.changed == 0, stop_again


def test_refuses_routable_address(tmp_path):
    ev = {
        "lmpspot_local_aws_port": free_port(),
        "lmpspot_state_dir": str(tmp_path),
        "lmpspot_local_aws_host": "0.0.0.0",
    }
    res = run_playbook("playbooks/local_aws.yml", None, extra_vars=ev)
    assert res.rc != 0
    assert "not a loopback address" in res.stdout
    assert not (tmp_path / "moto.pid").exists()


def test_noop_against_real_cloud_inventory(tmp_path):
    """With inventories/aws the play must not start anything locally."""
    res = run_playbook(
        "playbooks/local_aws.yml",
        None,
        inventory="inventories/aws",
        extra_vars={"lmpspot_state_dir": str(tmp_path)},
    )
    assert res.rc == 0, res
    assert res.changed == 0, res
    assert res.recap["localhost"]["ok"] == 0, res  # every task skipped: nothing started, nothing stopped
    assert not (tmp_path / "moto.pid").exists()
