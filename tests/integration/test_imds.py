"""SpotNoticeWatcher against the local IMDSv2 stand-in (a real HTTP server)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from lmpspot.imds import (
    REASON_INTERRUPTION,
    REASON_REBALANCE,
    SpotNoticeWatcher,
    resolve_endpoint,
)
from lmpspot_local.imds_stub import ImdsStub

pytestmark = pytest.mark.integration


def http(method: str, url: str, headers: dict | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:  # loopback
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stub():
    with ImdsStub() as s:
        yield s


def test_stub_requires_imdsv2_token(stub: ImdsStub):
    path = stub.url + "/latest/meta-data/spot/instance-action"
    assert http("GET", path)[0] == 401  # IMDSv1 style: refused
    assert http("PUT", stub.url + "/latest/api/token")[0] == 400  # no TTL header
    assert (
        http(
            "PUT",
            stub.url + "/latest/api/token",
            {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"},
        )[0]
        == 403
    )
    status, token = http(
        "PUT", stub.url + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    assert status == 200 and token
    auth = {"X-aws-ec2-metadata-token": token}
    assert http("GET", path, auth)[0] == 404
    assert http("GET", path, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
    assert http("GET", stub.url + "/latest/meta-data/instance-life-cycle", auth) == (200, "spot")
    stub.schedule_interruption(120)
    status, body = http("GET", path, auth)
    assert status == 200
    data = json.loads(body)
    assert data["action"] == "terminate" and data["time"].endswith("Z")
    stub.expire_tokens()
    assert http("GET", path, auth)[0] == 401


def test_watcher_sets_notice_within_interval(stub: ImdsStub):
    fired = []
    interval = 0.3
    w = SpotNoticeWatcher(
        stub.url, interval=interval, on_notice=lambda w: fired.append(w.reason), log=lambda m: None
    )
    with w:
        time.sleep(3 * interval)
        assert w.polls >= 2 and not w.notice.is_set()  # 404s: nothing scheduled
        assert w.errors == 0
        t0 = time.monotonic()
        stub.schedule_interruption(120)
        assert w.notice.wait(timeout=interval + 1.0)
        latency = time.monotonic() - t0
    assert latency <= interval + 0.5
    assert w.reason == REASON_INTERRUPTION and w.exit_required
    assert w.action == "terminate" and w.notice_time.endswith("Z")
    assert fired == [REASON_INTERRUPTION]
    # one token served all polls (refreshed only near expiry)
    puts = [r for r in stub.requests if r[0] == "PUT"]
    assert len(puts) == 1


def test_rebalance_checkpoints_and_continues_then_interruption(stub: ImdsStub):
    w = SpotNoticeWatcher(stub.url, interval=0.2, log=lambda m: None)
    with w:
        stub.recommend_rebalance()
        assert w.notice.wait(2)
        assert w.reason == REASON_REBALANCE and not w.exit_required
        w.acknowledge()  # the runner checkpointed
        assert not w.notice.is_set()
        time.sleep(0.6)
        assert not w.notice.is_set()  # a rebalance fires once
        stub.schedule_interruption(120)
        assert w.notice.wait(2)
        assert w.reason == REASON_INTERRUPTION and w.exit_required
        w.acknowledge()
        assert w.notice.is_set()  # an interruption cannot be acknowledged away

    # rebalance configured as "log only"
    stub.reset()
    w2 = SpotNoticeWatcher(stub.url, interval=0.2, checkpoint_on_rebalance=False, log=lambda m: None)
    with w2:
        stub.recommend_rebalance()
        assert w2.rebalance_seen.wait(2)
        time.sleep(0.3)
        assert not w2.notice.is_set()


def test_imds_down_or_failing_is_not_fatal(stub: ImdsStub):
    logs: list[str] = []
    # nothing listens on this port
    w = SpotNoticeWatcher(f"http://127.0.0.1:{free_port()}", interval=0.1, timeout=0.5, log=logs.append)
    with w:
        time.sleep(0.6)
        assert w._thread is not None and w._thread.is_alive()
    assert w.errors >= 2 and not w.notice.is_set()
    assert len(logs) < w.errors + 1  # rate-limited: same error not logged every poll
    # an IMDS answering 500 for a while, then recovering, then a notice
    stub.fail_with(500)
    logs.clear()
    w = SpotNoticeWatcher(stub.url, interval=0.1, log=logs.append)
    with w:
        time.sleep(0.5)
        assert w.errors >= 2 and not w.notice.is_set()
        stub.fail_with(0)
        stub.schedule_interruption(60)
        assert w.notice.wait(2)
    assert any("reachable again" in m for m in logs)


def test_token_refetched_after_expiry(stub: ImdsStub):
    w = SpotNoticeWatcher(stub.url, interval=0.1, log=lambda m: None)
    w.poll_once()
    stub.expire_tokens()  # e.g. IMDS restarted: old token now answers 401
    w.poll_once()
    assert len([r for r in stub.requests if r[0] == "PUT"]) == 2
    assert w.errors == 0 and not w.notice.is_set()


def test_endpoint_resolution_and_disable(monkeypatch, stub: ImdsStub):
    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", raising=False)
    assert resolve_endpoint() == "http://169.254.169.254"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", stub.url + "/")
    assert resolve_endpoint() == stub.url
    assert resolve_endpoint("http://x:1") == "http://x:1"
    w = SpotNoticeWatcher(interval=0.1, log=lambda m: None)
    assert w.endpoint == stub.url
    monkeypatch.setenv("LMPSPOT_IMDS_DISABLED", "1")
    stub.schedule_interruption(10)
    w = SpotNoticeWatcher(interval=0.1, log=lambda m: None)
    with w:
        time.sleep(0.3)
    assert w.polls == 0 and not w.notice.is_set()


def test_stub_as_module_with_control_endpoint():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmpspot_local.imds_stub", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        url = f"http://127.0.0.1:{port}"
        w = SpotNoticeWatcher(url, interval=0.2, log=lambda m: None)
        done = threading.Event()
        w.on_notice = lambda _w: done.set()
        with w:
            time.sleep(0.3)
            assert not w.notice.is_set()
            status, body = http(
                "POST",
                url + "/lmpspot/interrupt",
                {"Content-Type": "application/json"},
                json.dumps({"delay_s": 30}).encode(),
            )
            assert status == 200 and json.loads(body)["interrupt"]["action"] == "terminate"
            assert done.wait(2)
        assert w.reason == REASON_INTERRUPTION
        assert json.loads(http("GET", url + "/lmpspot/state")[1])["tokens"] >= 1
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
