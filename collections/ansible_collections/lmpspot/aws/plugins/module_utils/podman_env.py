# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detect what podman needs on this machine and write a containers.conf for it.

Some machines (lmpspot's build hosts among them) cannot run containers with podman's
defaults: crun refuses a hybrid/v1 cgroup layout, and root without CAP_SYS_RESOURCE
cannot raise RLIMIT_NOFILE/RLIMIT_NPROC to the 1048576 podman asks for. Other machines
need nothing. So nothing is assumed: every candidate setting is *tried*, by running
``/bin/true`` in a throw-away container whose root filesystem is a copy of the host's
``/bin/true`` and its libraries (no image, no registry, about 0.4 s per try), and the
first that works is written to a containers.conf that ``CONTAINERS_CONF`` points at.

Standard library only: shared by the ``lmpspot.aws.podman_containers_conf`` module,
``scripts/podman-env.sh`` and the test suite.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import tempfile

HEADER = (
    "# Written by lmpspot (lmpspot.aws.podman_containers_conf): what podman needs on this\n"
    "# machine, found by running a test container. Regenerated on each run; do not edit.\n"
    "# Use it with: export CONTAINERS_CONF={path}\n"
)
# What podman (as root) asks for when no default_ulimits are configured.
PODMAN_DEFAULT_RLIMIT = 1048576
# Never go below these while searching (the values ENVIRONMENT.md found to work).
FLOOR = {"nofile": 1024, "nproc": 4096}
# runc/crun name the limit they failed to set by its number (asm-generic resource.h).
RLIMIT_NUMBERS = {"6": "nproc", "7": "nofile"}
_RLIMIT_ERR = re.compile(r"rlimit (?:type )?(\d+)|RLIMIT_(NOFILE|NPROC)", re.I)


class PodmanEnvError(Exception):
    """No setting that lets podman run a container was found."""


def _run(argv: list[str], env: dict | None = None, timeout: float = 60.0) -> tuple[int, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout + proc.stderr)


def podman_info(podman: str = "podman") -> dict:
    """The few facts of ``podman info`` lmpspot reports (runtime, cgroup version)."""
    env = dict(os.environ)
    env.pop("CONTAINERS_CONF", None)  # what podman does without our file
    rc, out = _run([podman, "info", "--format", "json"], env=env)
    if rc != 0:
        raise PodmanEnvError(f"`podman info` failed: {out.strip()[-500:]}")
    host = json.loads(out).get("host", {})
    return {
        "runtime": (host.get("ociRuntime") or {}).get("name", ""),
        "cgroup_version": host.get("cgroupVersion", ""),
        "cgroup_manager": host.get("cgroupManager", ""),
    }


def probe_rootfs(directory: str) -> str:
    """A minimal root filesystem: the host's /bin/true and the libraries it loads."""
    true = shutil.which("true") or "/bin/true"
    real = os.path.realpath(true)
    target = os.path.join(directory, "bin", "true")
    if os.path.exists(target):
        return directory
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(real, target)
    rc, out = _run(["ldd", real])
    if rc == 0:
        for lib in re.findall(r"(/\S+)", out):
            dest = directory + lib
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(lib), dest)
    return directory


def try_run(
    rootfs: str, runtime: str | None, ulimits: dict[str, int] | None, podman: str = "podman"
) -> tuple[bool, str]:
    """Run /bin/true in a container under a candidate containers.conf; (worked, output).

    The candidate goes through a file, exactly as it will be used: podman 4.3 applies
    ``default_ulimits`` from containers.conf where the same values given with
    ``--ulimit`` still fail on some hosts.
    """
    fd, conf = tempfile.mkstemp(prefix=".probe-containers.", suffix=".conf", dir=os.path.dirname(rootfs))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render(conf, runtime, ulimits))
        env = dict(os.environ, CONTAINERS_CONF=conf)
        argv = [podman, "run", "--rm", "--network", "none", "--rootfs", rootfs, "/bin/true"]
        rc, out = _run(argv, env=env)
    finally:
        os.unlink(conf)
    return rc == 0, out


def _failed_limits(output: str) -> set[str]:
    names = set()
    for num, name in _RLIMIT_ERR.findall(output):
        if name:
            names.add(name.lower())
        elif num in RLIMIT_NUMBERS:
            names.add(RLIMIT_NUMBERS[num])
    return names


def _hard_limits() -> dict[str, int]:
    out = {}
    for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(res)[1]
        if hard == resource.RLIM_INFINITY or hard > PODMAN_DEFAULT_RLIMIT:
            hard = PODMAN_DEFAULT_RLIMIT
        out[name] = max(int(hard), FLOOR[name])
    return out


def runtime_candidates(info: dict) -> list[str | None]:
    """The default runtime first; then runc, which copes with v1/hybrid cgroups."""
    cands: list[str | None] = [None]
    if info.get("runtime") != "runc" and shutil.which("runc"):
        cands.append("runc")
    return cands


def detect(work_dir: str, podman: str = "podman") -> dict:
    """Find the settings podman needs here. Returns runtime (or None) and default_ulimits."""
    info = podman_info(podman)
    rootfs = probe_rootfs(os.path.join(work_dir, "podman-probe-rootfs"))
    tried = []
    for runtime in runtime_candidates(info):
        ok, out = try_run(rootfs, runtime, None, podman)
        tried.append((runtime, None, out.strip()[-300:]))
        if ok:
            return {"runtime": runtime, "ulimits": None, "info": info, "tried": tried}
        # Lower only the limits the runtime says it could not set, halving down to FLOOR.
        limits = _hard_limits()
        for _ in range(24):
            ok, out = try_run(rootfs, runtime, limits, podman)
            tried.append((runtime, dict(limits), out.strip()[-300:]))
            if ok:
                return {"runtime": runtime, "ulimits": limits, "info": info, "tried": tried}
            failed = _failed_limits(out)
            if not failed:
                break  # not a limit problem: try the next runtime
            lowered = False
            for name in failed:
                if limits[name] > FLOOR[name]:
                    limits[name] = max(FLOOR[name], limits[name] // 2)
                    lowered = True
            if not lowered:
                break
    lines = "\n".join(f"  runtime={r or 'default'} ulimits={u}: {o}" for r, u, o in tried)
    raise PodmanEnvError(f"podman cannot run a container with any setting tried:\n{lines}")


def render(path: str, runtime: str | None, ulimits: dict[str, int] | None) -> str:
    text = HEADER.format(path=path)
    if ulimits:
        items = ", ".join(f'"{k}={v}:{v}"' for k, v in sorted(ulimits.items()))
        text += (
            "\n[containers]\n"
            "# Raising these rlimits to podman's default (1048576) is not permitted here.\n"
            f"default_ulimits = [{items}]\n"
        )
    if runtime:
        text += (
            "\n[engine]\n"
            "# The default OCI runtime cannot start containers here (cgroup layout).\n"
            f'runtime = "{runtime}"\n'
        )
    if not ulimits and not runtime:
        text += "# Nothing to change on this machine: podman's defaults work.\n"
    return text


def ensure(path: str, podman: str = "podman", check_mode: bool = False) -> dict:
    """Detect, then write ``path`` when its content differs. Returns the facts."""
    path = os.path.abspath(path)
    work = os.path.dirname(path)
    os.makedirs(work, exist_ok=True)
    found = detect(work, podman)
    text = render(path, found["runtime"], found["ulimits"])
    try:
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
    except FileNotFoundError:
        before = ""
    changed = before != text
    if changed and not check_mode:
        fd, tmp = tempfile.mkstemp(dir=work, prefix=".containers.conf.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return {
        "changed": changed,
        "path": path,
        "runtime": found["runtime"] or found["info"]["runtime"],
        "runtime_overridden": found["runtime"] is not None,
        "default_ulimits": [f"{k}={v}:{v}" for k, v in sorted((found["ulimits"] or {}).items())],
        "cgroup_version": found["info"]["cgroup_version"],
        "content": text,
        "before": before,
        "environment": {"CONTAINERS_CONF": path},
    }
