# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, check and stop the local AWS (a moto server on loopback).

One implementation shared by the ``lmpspot.local.local_aws`` module (used by the
``local_aws`` play) and by the test suite's fixtures, so tests exercise the same
code path an operator does.

The local AWS speaks **https** with a certificate from a local CA (``ensure_tls``): the
results bucket's policy denies every request that is not over TLS, exactly as in a real
account, and that policy must hold in local mode too.  Clients trust the CA through
``AWS_CA_BUNDLE`` (botocore) or an explicit ``cafile``.  Generating the CA needs the
``cryptography`` package, which moto itself depends on.

The server is moto's application behind ``lmpspot_local.moto_server``, which keeps
connections open between requests as S3 does (moto's own server closes each one, so
every request would pay a new TLS handshake); see :func:`find_moto_server`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# What the local AWS is told after start: Batch must not try to run jobs itself
# (that would need a Docker engine); lmpspot's local executor runs them instead.
DEFAULT_CONFIG = {"batch": {"use_docker": False}}
LOOPBACK_PREFIXES = ("127.", "localhost", "::1")
# moto's application behind a keep-alive server (local/src/lmpspot_local/moto_server.py).
KEEPALIVE_SERVER = "lmpspot_local.moto_server"


class LocalAwsError(Exception):
    """A local AWS could not be started, reached or stopped."""


def endpoint_url(host: str, port: int, tls: bool = True) -> str:
    return f"{'https' if tls else 'http'}://{host}:{port}"


def tls_paths(tls_dir: str) -> dict[str, str]:
    """Where the local CA and the server's certificate live inside ``tls_dir``."""
    return {
        "ca_cert": os.path.join(tls_dir, "ca.pem"),
        "ca_key": os.path.join(tls_dir, "ca.key"),
        "server_cert": os.path.join(tls_dir, "server.pem"),
        "server_key": os.path.join(tls_dir, "server.key"),
    }


def ensure_tls(tls_dir: str, hosts: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")) -> tuple[bool, dict]:
    """Create a local CA and a server certificate for the loopback names, once.

    Returns (created, paths).  Existing material is reused as long as the server
    certificate still has more than a day to run, so clients that already trust the CA
    keep working across restarts.
    """
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    # Two processes (test workers, a play and a test) may ask at once: one creates, the
    # other waits and reuses, so the CA and the server certificate always belong together.
    with open(os.path.join(tls_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_tls_locked(tls_dir, hosts)


def _ensure_tls_locked(tls_dir: str, hosts: tuple[str, ...]) -> tuple[bool, dict]:
    paths = tls_paths(tls_dir)
    now = dt.datetime.now(dt.timezone.utc)
    if all(os.path.exists(v) for v in paths.values()):
        with open(paths["server_cert"], "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        if cert.not_valid_after_utc - now > dt.timedelta(days=1):
            return False, paths

    def _write(path: str, data: bytes, mode: int) -> None:
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(path + ".tmp", path)

    def _key_pem(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lmpspot local AWS CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lmpspot local AWS")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths["ca_key"], _key_pem(ca_key), 0o600)
    _write(paths["server_key"], _key_pem(server_key), 0o600)
    _write(paths["server_cert"], server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["ca_cert"], ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return True, paths


def _ssl_context(tls_dir: str | None) -> ssl.SSLContext | None:
    if not tls_dir:
        return None
    return ssl.create_default_context(cafile=tls_paths(tls_dir)["ca_cert"])


def is_healthy(host: str, port: int, timeout: float = 2.0, tls_dir: str | None = None) -> bool:
    """True when a moto server answers its management API on host:port.

    Probes ``/moto-api/config`` (a small JSON document; moto answers 201): the
    dashboard's ``data.json`` answers 500 once Batch resources exist, which would make
    a live server with state look dead.
    """
    url = endpoint_url(host, port, tls=bool(tls_dir)) + "/moto-api/config"
    if tls_dir and not os.path.exists(tls_paths(tls_dir)["ca_cert"]):
        return False  # no CA yet, so no server of ours can be answering with it
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_ssl_context(tls_dir)) as resp:
            return 200 <= resp.status < 300 and "batch" in json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def configure(host: str, port: int, config: dict | None = None, tls_dir: str | None = None) -> None:
    body = json.dumps(config if config is not None else DEFAULT_CONFIG).encode()
    req = urllib.request.Request(
        endpoint_url(host, port, tls=bool(tls_dir)) + "/moto-api/config",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10, context=_ssl_context(tls_dir)) as resp:
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
    """The argv prefix that runs the local AWS's server.

    ``python -m lmpspot_local.moto_server`` where that interpreter has it (the development
    venv installs ``local/``): moto's application on a server that keeps connections open,
    as S3 does.  Else moto's own server (it closes the connection after every response):
    the venv's ``moto_server`` script, else ``python -m moto.server``.
    """
    python = python or sys.executable
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({KEEPALIVE_SERVER!r}) is None)"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if (
            subprocess.run([python, "-c", probe], capture_output=True, timeout=30, check=False).returncode
            == 0
        ):
            return [python, "-m", KEEPALIVE_SERVER]
    candidate = os.path.join(os.path.dirname(python), "moto_server")
    if os.access(candidate, os.X_OK):
        return [candidate]
    return [python, "-m", "moto.server"]


def status(host: str, port: int, pid_file: str, tls_dir: str | None = None) -> dict:
    pid = _read_pid(pid_file)
    return {
        "healthy": is_healthy(host, port, tls_dir=tls_dir),
        "pid": pid if pid is not None and _alive(pid) else None,
        "endpoint_url": endpoint_url(host, port, tls=bool(tls_dir)),
    }


def start(
    host: str,
    port: int,
    pid_file: str,
    log_file: str,
    python: str | None = None,
    wait_s: float = 60.0,
    config: dict | None = None,
    tls_dir: str | None = None,
) -> dict:
    """Ensure a healthy moto server on host:port.  Returns {'changed', 'pid', 'endpoint_url'}.

    A healthy server already listening there is reused (and re-configured, which is
    idempotent).  Only loopback addresses are accepted: the local AWS has no
    authentication and must never listen on a routable interface.  With ``tls_dir`` the
    server speaks https with a certificate from the local CA kept there (``ensure_tls``).
    """
    if not host.startswith(LOOPBACK_PREFIXES):
        raise LocalAwsError(
            f"local AWS host {host!r} is not a loopback address; set lmpspot_local_aws_host "
            "to 127.0.0.1 (the local AWS has no authentication)"
        )
    url = endpoint_url(host, port, tls=bool(tls_dir))
    tls_created = False
    if tls_dir:
        tls_created, _ = ensure_tls(tls_dir)
    if not tls_created and is_healthy(host, port, tls_dir=tls_dir):
        configure(host, port, config, tls_dir=tls_dir)
        return {"changed": False, "pid": _read_pid(pid_file), "endpoint_url": url}

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
    if tls_dir:
        paths = tls_paths(tls_dir)
        argv += ["--ssl-cert", paths["server_cert"], "--ssl-key", paths["server_key"]]
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
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
        if is_healthy(host, port, timeout=1.0, tls_dir=tls_dir):
            configure(host, port, config, tls_dir=tls_dir)
            return {"changed": True, "pid": proc.pid, "endpoint_url": url}
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
