"""The local executor's night window hold (no podman needed): no attempt starts while the
window is closed; it starts at the opening; a shutdown ends the wait."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from lmpspot.window import CycleWindow
from lmpspot_local.executor import LocalExecutor

SPEC = SimpleNamespace(job_id="job-1")


def executor(window, logs):
    return LocalExecutor(None, window=window, log=logs.append)


def test_open_window_does_not_wait():
    logs: list[str] = []
    ex = executor(f"cycle 60 60 {time.time() - 1}", logs)
    assert isinstance(ex.window, CycleWindow)
    t0 = time.monotonic()
    assert ex.wait_for_window(SPEC, 1)
    assert time.monotonic() - t0 < 0.5 and logs == []


def test_closed_window_holds_until_it_opens():
    logs: list[str] = []
    now = time.time()
    window = CycleWindow(60, 0.8, now - 60.2)  # closed now, opens in 0.6 s
    ex = executor(window, logs)
    assert not window.is_open(time.time())
    assert ex.wait_for_window(SPEC, 2)
    assert window.is_open(time.time())
    assert time.time() - now >= 0.5
    assert "RUNNABLE, night window closed" in logs[0] and "opened" in logs[-1]


def test_stop_waiting_ends_the_hold():
    logs: list[str] = []
    ex = executor(CycleWindow(1, 3600, time.time() - 2), logs)
    threading.Timer(0.2, ex.stop_waiting).start()
    t0 = time.monotonic()
    assert not ex.wait_for_window(SPEC, 1)
    assert time.monotonic() - t0 < 5


def test_no_window_means_always_open():
    ex = LocalExecutor(None)
    assert ex.window is None and ex.wait_for_window(SPEC, 1)
