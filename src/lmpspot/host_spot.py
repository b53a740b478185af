"""The spot handler of a simulation host (``python -m lmpspot.hostagent spot-handler``).

A daemon (a systemd service) that polls IMDSv2 with :class:`lmpspot.imds.SpotNoticeWatcher`
and signals every simulation registered in the run directory (:mod:`lmpspot.running`):

* rebalance recommendation -> ``SIGUSR1`` (checkpoint now, keep running), once;
* spot interruption notice -> ``SIGTERM`` (checkpoint at the next step boundary, upload,
  exit 75).  After a notice the handler keeps watching the run directory and sends
  ``SIGTERM`` to simulations that register later (the instance is going away), each pid
  once.

An entry of the running-simulations register is honoured only when the file's owner is
root or owns the process it names (a user cannot have another user's process signalled),
and never for pid 1 or the handler itself.  Logs go to stdout (the journal).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmpspot import running
from lmpspot.imds import REASON_INTERRUPTION, REASON_REBALANCE, SpotNoticeWatcher

LogFn = Callable[[str], None]


def stdout_log(msg: str) -> None:
    print(f"lmpspot-hostagent: {msg}", flush=True)


# -- spot handler ------------------------------------------------------------------------


def may_signal(entry: dict[str, Any], entry_file: Path) -> tuple[bool, str]:
    """Whether the handler may signal the entry's pid (see module doc); with the reason."""
    pid = entry["pid"]
    if pid <= 1 or pid == os.getpid():
        return False, f"refusing to signal pid {pid}"
    try:
        file_uid = entry_file.stat().st_uid
        proc_uid = Path(f"/proc/{pid}").stat().st_uid
    except FileNotFoundError:
        return False, f"pid {pid} is gone"
    except OSError as exc:
        return False, f"cannot check pid {pid}: {exc}"
    if file_uid not in (0, proc_uid):
        return False, f"{entry_file.name} (uid {file_uid}) names pid {pid} of uid {proc_uid}"
    return True, "ok"


def signal_registered(
    run_dir: str | os.PathLike,
    sig: signal.Signals,
    log: LogFn = stdout_log,
    skip: set[int] | None = None,
) -> list[int]:
    """Send ``sig`` to every live registered simulation (pids in ``skip`` excepted)."""
    rd = Path(run_dir)
    sent: list[int] = []
    for entry in running.list_running(rd):
        pid = entry["pid"]
        if skip is not None and pid in skip:
            continue
        ok, why = may_signal(entry, rd / f"{entry['job_id']}.json")
        if not ok:
            log(f"not signalling job {entry['job_id']}: {why}")
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        except PermissionError as exc:
            log(f"cannot signal job {entry['job_id']} (pid {pid}): {exc}")
            continue
        sent.append(pid)
        log(f"sent {sig.name} to job {entry['job_id']} (pid {pid})")
    return sent


class SpotHandler:
    """The spot-handler loop; ``run()`` blocks until ``stop()`` (or SIGTERM in ``main``)."""

    def __init__(
        self,
        run_dir: str | os.PathLike | None = None,
        endpoint: str | None = None,
        interval: float = 5.0,
        log: LogFn = stdout_log,
    ) -> None:
        self.run_dir = running.run_dir_from_env(run_dir)
        self.interval = interval
        self.log = log
        self.watcher = SpotNoticeWatcher(endpoint=endpoint, interval=interval, log=log)
        self.interrupted = False
        self.rebalanced = False
        self.terminated: set[int] = set()
        self._stop = threading.Event()
        self._errors = 0
        self._last_error: str | None = None

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> str | None:
        """One poll (IMDS errors are logged, never raised); returns the reason fired."""
        fired = None
        if not self.interrupted:
            try:
                fired = self.watcher.poll_once()
                if self._last_error is not None:
                    self.log("IMDS reachable again")
                    self._last_error = None
            except Exception as exc:  # soft: no IMDS yet, throttled, restarted ...
                self._errors += 1
                msg = str(exc)
                if msg != self._last_error or self._errors % 60 == 1:
                    self.log(f"IMDS poll failed (#{self._errors}, will keep polling): {msg}")
                self._last_error = msg
        if fired == REASON_REBALANCE:
            self.rebalanced = True
            sent = signal_registered(self.run_dir, signal.SIGUSR1, self.log)
            self.log(f"rebalance recommendation: asked {len(sent)} simulation(s) to checkpoint now")
            self.watcher.acknowledge()
        elif fired == REASON_INTERRUPTION:
            self.interrupted = True
            self.log(
                f"spot interruption ({self.watcher.action} at {self.watcher.notice_time}): "
                "stopping every simulation with a checkpoint"
            )
        if self.interrupted:  # also late registrations: the instance is going away
            self.terminated.update(
                signal_registered(self.run_dir, signal.SIGTERM, self.log, skip=self.terminated)
            )
        return fired

    def run(self) -> None:
        self.log(
            f"spot handler: watching {self.watcher.endpoint} every {self.interval:g}s, run dir {self.run_dir}"
        )
        if self.watcher.disabled:
            self.log("IMDS polling disabled (LMPSPOT_IMDS_DISABLED): idle")
        while not self._stop.is_set():
            if not self.watcher.disabled:
                self.step()
            self._stop.wait(self.interval)
        self.log("spot handler stopped")


def run_spot_handler(
    run_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
    interval: float = 5,
    log: LogFn = stdout_log,
    stop_event: threading.Event | None = None,
) -> SpotHandler:
    """Run the spot handler until ``stop_event`` is set (forever without one)."""
    handler = SpotHandler(run_dir, endpoint, interval, log)
    if stop_event is not None:
        handler._stop = stop_event
    handler.run()
    return handler


# -- checkpoint sync ---------------------------------------------------------------------
