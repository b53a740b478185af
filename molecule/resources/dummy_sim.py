"""A stand-in simulation for the molecule scenarios: registers itself the way the runner
does (lmpspot.running.register) and records the signals it gets, like the runner would
react to them (SIGUSR1: checkpoint and continue; SIGTERM: checkpoint and exit 75).

    python dummy_sim.py JOB_ID WORKDIR   (run with the host's lmpspot venv)
"""

import signal
import sys
import time
from pathlib import Path

from lmpspot.running import register

job_id, workdir = sys.argv[1], Path(sys.argv[2])
workdir.mkdir(parents=True, exist_ok=True)
events = workdir / "signals.log"
state = {"stop": False}


def on_signal(signum, _frame):
    with events.open("a") as fh:
        fh.write(f"{signal.Signals(signum).name}\n")
    if signum == signal.SIGTERM:
        state["stop"] = True


signal.signal(signal.SIGUSR1, on_signal)
signal.signal(signal.SIGTERM, on_signal)
with register(job_id, workdir, workdir / "checkpoints"):
    (workdir / "ready").write_text("registered\n")
    while not state["stop"]:
        time.sleep(0.1)
sys.exit(75)
