"""Loopback decided by ipaddress (and name resolution), and the 0600 env file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import boto3
import pytest

from lmpspot_local.container_env import (
    NonLoopbackEndpoint,
    is_loopback_host,
    is_loopback_url,
    require_loopback_endpoint,
    write_env_file,
)
from lmpspot_local.executor import LocalExecutor


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("https://127.0.0.1:5000", True),
        ("http://127.8.9.10:5000/", True),
        ("http://[::1]:5000", True),
        ("http://localhost:5000", True),
        ("http://127.example.com:5000", False),  # a name starting with 127. is just a name
        ("http://127.0.0.1.nip.invalid:5000", False),
        ("http://localhost.invalid:5000", False),
        ("https://batch.us-east-2.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
        ("http://[::ffff:127.0.0.1]:5000", False),
        ("http://0.0.0.0:5000", False),
        ("", False),
        (None, False),
        ("not a url", False),
    ],
)
def test_loopback_urls(url, loopback):
    assert is_loopback_url(url) is loopback
    if loopback:
        require_loopback_endpoint(url)
    else:
        with pytest.raises(NonLoopbackEndpoint, match="not a loopback address"):
            require_loopback_endpoint(url)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback_host(host)


def test_the_executor_refuses_a_non_loopback_endpoint():
    batch = boto3.client(
        "batch",
        region_name="us-east-2",
        endpoint_url="http://127.example.com:5000",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(NonLoopbackEndpoint, match="127.example.com"):
        LocalExecutor(batch)


def test_the_executor_command_refuses_real_aws(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL="http://127.example.com:1", AWS_DEFAULT_REGION="us-east-2",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "lmpspot_local.executor", "run", "job-1", "--bucket", "b"],
        env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "refused" in proc.stderr and "not a loopback address" in proc.stderr


def test_env_file_is_private_and_exact(tmp_path):
    path = write_env_file({"B": "2", "AWS_SECRET_ACCESS_KEY": "x y=z"}, tmp_path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "AWS_SECRET_ACCESS_KEY=x y=z\nB=2\n"
    finally:
        path.unlink()


@pytest.mark.parametrize("env", [{"A": "line\nbreak"}, {"A=B": "x"}, {"": "x"}])
def test_env_file_refuses_what_it_cannot_hold(tmp_path, env):
    with pytest.raises(ValueError, match="env file"):
        write_env_file(env, tmp_path)
    assert list(tmp_path.iterdir()) == []
