# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, check and stop the local image registry (ECR's data-plane stand-in).

The local AWS (moto) implements ECR's API but stores no images, so in the embedded mode
images go to a registry v2 server on loopback (Debian's ``docker-registry``), started
here the same way ``local_aws`` starts moto: reuse a healthy one, record the pid of the
one we start, stop only our own. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from ansible_collections.lmpspot.local.plugins.module_utils.local_aws import (
    LOOPBACK_PREFIXES,
    _alive,
    _read_pid,
    _terminate,
)

CONFIG_TEMPLATE = """\
# Written by lmpspot (lmpspot.local.local_registry): the local ECR data-plane stand-in.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data_dir}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


class LocalRegistryError(Exception):
    """The local registry could not be started, reached or stopped."""


def registry_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def is_healthy(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a registry v2 server answers ``GET /v2/`` on host:port."""
    try:
        with urllib.request.urlopen(registry_url(host, port) + "/v2/", timeout=timeout) as resp:
            return resp.status == 200 and "registry/2.0" in resp.headers.get(
                "Docker-Distribution-Api-Version", ""
            )
    except (urllib.error.URLError, OSError, ValueError):
        return False


def render_config(host: str, port: int, data_dir: str) -> str:
    return CONFIG_TEMPLATE.format(host=host, port=port, data_dir=data_dir)


def status(host: str, port: int, pid_file: str) -> dict:
    pid = _read_pid(pid_file)
    return {
        "healthy": is_healthy(host, port),
        "pid": pid if pid is not None and _alive(pid) else None,
        "url": registry_url(host, port),
        "address": f"{host}:{port}",
    }


def _write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def start(
    host: str,
    port: int,
    config_file: str,
    data_dir: str,
    pid_file: str,
    log_file: str,
    executable: str = "docker-registry",
    wait_s: float = 30.0,
    check_mode: bool = False,
) -> dict:
    """Ensure a healthy registry on host:port. Returns {'changed', 'pid', 'url', 'address'}."""
    if not host.startswith(LOOPBACK_PREFIXES):
        raise LocalRegistryError(
            f"local registry host {host!r} is not a loopback address: the registry has no "
            "authentication and must never listen on a routable interface"
        )
    text = render_config(host, port, data_dir)
    ours = _read_pid(pid_file)
    ours = ours if ours is not None and _alive(ours) else None
    healthy = is_healthy(host, port)
    try:
        with open(config_file, encoding="utf-8") as fh:
            config_same = fh.read() == text
    except FileNotFoundError:
        config_same = False
    # A healthy registry we did not start (or ours, with the same config) is reused.
    if healthy and (ours is None or config_same):
        return {"changed": False, "pid": ours, **_where(host, port)}
    if check_mode:
        return {"changed": True, "pid": ours, **_where(host, port)}
    binary = shutil.which(executable)
    if binary is None:
        raise LocalRegistryError(
            f"{executable} not found: install the Debian package docker-registry (scripts/bootstrap.sh does)"
        )
    if ours is not None:
        _terminate(ours)  # ours, but unhealthy or with an old config: replace it
    for path in (config_file, pid_file, log_file):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    _write_if_changed(config_file, text)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [binary, "serve", config_file],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlive the Ansible task / test that started it
            close_fds=True,
        )
    with open(pid_file, "w", encoding="ascii") as fh:
        fh.write(str(proc.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalRegistryError(
                f"docker-registry exited with code {proc.returncode} during start; see {log_file}"
            )
        if is_healthy(host, port, timeout=1.0):
            return {"changed": True, "pid": proc.pid, **_where(host, port)}
        time.sleep(0.1)
    _terminate(proc.pid)
    raise LocalRegistryError(f"docker-registry did not answer within {wait_s:.0f}s; see {log_file}")


def _where(host: str, port: int) -> dict:
    return {"url": registry_url(host, port), "address": f"{host}:{port}"}


def stop(pid_file: str, check_mode: bool = False) -> dict:
    """Stop the registry recorded in pid_file. One we did not start is left alone."""
    pid = _read_pid(pid_file)
    alive = pid is not None and _alive(pid)
    if alive and not check_mode:
        _terminate(pid)
    if not check_mode:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pid_file)
    return {"changed": alive, "pid": pid}
