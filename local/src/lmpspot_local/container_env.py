"""What the local executor hands a job container, and where it may send it.

* **Loopback only.**  The local executor gives containers AWS credentials and pulls
  images without TLS checks from loopback registries, so "local" must mean it: an
  address is loopback when :mod:`ipaddress` says so, a name when every address it
  resolves to is (``localhost``); ``127.example.com`` is a name like any other, not a
  loopback address.
* **No secrets on command lines.**  The container's environment (AWS credentials among
  it) goes to ``podman run --env-file`` through a file only this user can read (mode
  0600), removed after the attempt -- never ``-e KEY=VALUE``, which every local user
  sees in ``ps``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


class NonLoopbackEndpoint(ValueError):
    """The local executor was pointed at something that is not on this machine."""


def is_loopback_host(host: str | None) -> bool:
    """True for a loopback address, or a name whose every resolved address is loopback."""
    if not host:
        return False
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0].split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def is_loopback_url(url: str | None) -> bool:
    """True when the URL's host is loopback (see :func:`is_loopback_host`)."""
    if not url:
        return False
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def is_loopback_registry(image: str) -> bool:
    """True for an image on a loopback registry (``127.0.0.1:5050/...``, ``localhost/...``)."""
    if "/" not in image:
        return False  # a Docker Hub short name
    host = image.split("/", 1)[0]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if "." not in host and ":" not in host and host != "localhost":
        return False  # a Docker Hub namespace (library/debian), not a registry host
    return is_loopback_host(host)


def require_loopback_endpoint(url: str | None, what: str = "AWS endpoint") -> None:
    """Raise :class:`NonLoopbackEndpoint` unless ``url`` is on this machine."""
    if not is_loopback_url(url):
        raise NonLoopbackEndpoint(
            f"the local executor runs jobs against the local AWS only, and hands its containers "
            f"credentials: {what} {url or '(none)'} is not a loopback address; point AWS_ENDPOINT_URL "
            "at the local AWS (127.0.0.1) or submit to AWS Batch instead"
        )


def write_env_file(env: Mapping[str, str], directory: str | Path | None = None) -> Path:
    """A ``podman --env-file`` file (mode 0600) holding ``env``; the caller removes it."""
    bad = [k for k, v in env.items() if "\n" in str(v) or "\n" in k or "=" in k or not k]
    if bad:
        raise ValueError(f"environment variables {bad} cannot go through an env file (newline or '=')")
    fd, name = tempfile.mkstemp(prefix="lmpspot-env-", suffix=".env", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            for k in sorted(env):
                f.write(f"{k}={env[k]}\n")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
