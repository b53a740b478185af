# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, check and stop the local AWS (a moto server on loopback).

One implementation shared by the ``lmpspot.aws.local_aws`` module (used by the
``local_aws`` play) and by the test suite's fixtures, so tests exercise the same
code path an operator does.  Standard library only: it must run in any Python
that Ansible picks as the module interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

# What the local AWS is told after start: Batch must not try to run jobs itself
# (that would need a Docker engine); lmpspot's local executor runs them instead.
DEFAULT_CONFIG = {"batch": {"use_docker": False}}
LOOPBACK_PREFIXES = ("127.", "localhost", "::1")


class LocalAwsError(Exception):
    """A local AWS could not be started, reached or stopped."""


def endpoint_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def is_healthy(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a moto server answers its management API on host:port.

    Probes ``/moto-api/config`` (a small JSON document; moto answers 201): the
    dashboard's ``data.json`` answers 500 once Batch resources exist, which would make
    a live server with state look dead.
    """
    url = endpoint_url(host, port) + "/moto-api/config"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300 and "batch" in json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def configure(host: str, port: int, config: dict | None = None) -> None:
    body = json.dumps(config if config is not None else DEFAULT_CONFIG).encode()
    req = urllib.request.Request(
        endpoint_url(host, port) + "/moto-api/config",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            if not 200 <= resp.status < 300:
                raise LocalAwsError(f"moto config POST answered HTTP {resp.status}")
    except urllib.error.URLError as exc:
        raise LocalAwsError(f"could not configure the local AWS at {host}:{port}: {exc}") from exc


def _read_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_moto_server(python: str | None = None) -> list[str]:
    """The argv prefix that runs moto's server: the venv's script, else ``python -m moto.server``."""
    python = python or sys.executable
    candidate = os.path.join(os.path.dirname(python), "moto_server")
    if os.access(candidate, os.X_OK):
        return [candidate]
    return [python, "-m", "moto.server"]


def status(host: str, port: int, pid_file: str) -> dict:
    pid = _read_pid(pid_file)
    return {
        "healthy": is_healthy(host, port),
        "pid": pid if pid is not None and _alive(pid) else None,
        "endpoint_url": endpoint_url(host, port),
    }


def start(
    host: str,
    port: int,
    pid_file: str,
    log_file: str,
    python: str | None = None,
    wait_s: float = 60.0,
    config: dict | None = None,
) -> dict:
    """Ensure a healthy moto server on host:port.  Returns {'changed', 'pid', 'endpoint_url'}.

    A healthy server already listening there is reused (and re-configured, which is
    idempotent).  Only loopback addresses are accepted: the local AWS has no
    authentication and must never listen on a routable interface.
    """
    if not host.startswith(LOOPBACK_PREFIXES):
        raise LocalAwsError(
            f"local AWS host {host!r} is not a loopback address; set lmpspot_local_aws_host "
            "to 127.0.0.1 (the local AWS has no authentication)"
        )
    if is_healthy(host, port):
        configure(host, port, config)
        return {
            "changed": False,
            "pid": _read_pid(pid_file),
            "endpoint_url": endpoint_url(host, port),
        }

    old = _read_pid(pid_file)
    if old is not None and _alive(old):
        # Our own server is alive but not answering: replace it rather than pile up.
        _terminate(old)
    for path in (pid_file, log_file):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    env = dict(os.environ)
    # AWS managed policies (AmazonEC2ContainerServiceforEC2Role, ...) must exist for IAM attach.
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    argv = [*find_moto_server(python), "-H", host, "-p", str(port)]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlive the Ansible task / test that started it
            close_fds=True,
        )
    with open(pid_file, "w", encoding="ascii") as fh:
        fh.write(str(proc.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalAwsError(
                f"moto server exited with code {proc.returncode} during start; see {log_file}"
            )
        if is_healthy(host, port, timeout=1.0):
            configure(host, port, config)
            return {"changed": True, "pid": proc.pid, "endpoint_url": endpoint_url(host, port)}
        time.sleep(0.2)
    _terminate(proc.pid)
    raise LocalAwsError(f"moto server did not become healthy within {wait_s:.0f}s; see {log_file}")


def _terminate(pid: int, grace_s: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            # Reap it if it is our child; otherwise just poll for its exit.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not _alive(pid):
                return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(pid_file: str) -> dict:
    """Stop the server recorded in pid_file.  A server we did not start is left alone."""
    pid = _read_pid(pid_file)
    changed = False
    if pid is not None and _alive(pid):
        _terminate(pid)
        changed = True
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)
    return {"changed": changed, "pid": pid}
