"""The bastion's effective sshd settings (`sshd -T`), accounts, protection services, and
real SSH logins from the controller with throwaway keys (the container shares the host's
network; sshd listens on 2222)."""

import os
import subprocess
from pathlib import Path

import pytest

PORT = 2222
KEYS = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "keys"


def sshd_t(host) -> dict[str, str]:
    out = host.check_output("sshd -T -C user=alice,host=localhost,addr=127.0.0.1")
    conf: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        conf.setdefault(key, value)
    return conf


def ssh(user: str, key: str, *extra: str, command: str = "id -un") -> subprocess.CompletedProcess:
    argv = [
        "ssh", "-p", str(PORT), "-i", str(KEYS / key), "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=10", *extra, f"{user}@127.0.0.1", command,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "2222"),
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("authenticationmethods", "publickey"),
        ("allowgroups", "lmpspot-ssh"),
        ("maxauthtries", "3"),
        ("logingracetime", "30"),
        ("allowagentforwarding", "no"),
        ("x11forwarding", "no"),
        ("allowtcpforwarding", "local"),
        ("permitopen", "*:22 127.0.0.1:2222"),  # converge.yml adds the container's own sshd
        ("permittunnel", "no"),
        ("gatewayports", "no"),
        ("hostkeyalgorithms", "ssh-ed25519"),
        (
            "kexalgorithms",
            "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
        ),
        ("ciphers", "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com"),
        ("macs", "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com"),
    ],
)
def test_sshd_effective_settings(host, key, value):
    assert sshd_t(host)[key] == value


def test_loosening_drop_in_is_read_but_loses(host):
    """prepare.yml's drop-in (password logins, root, X11, any forward) is in place and sshd
    reads it, yet every keyword it sets keeps the hardened value (asserted above)."""
    drop_in = host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf")
    assert drop_in.exists and "PasswordAuthentication yes" in drop_in.content_string
    assert "Include /etc/ssh/sshd_config.d/*.conf" in host.file("/etc/ssh/sshd_config").content_string
    conf = sshd_t(host)
    keys = ("passwordauthentication", "permitrootlogin", "x11forwarding", "allowtcpforwarding")
    assert [conf[k] for k in keys] == ["no", "no", "no", "local"]


def test_sshd_config_file_and_service(host):
    cfg = host.file("/etc/ssh/sshd_config")
    assert cfg.user == "root" and cfg.group == "root" and cfg.mode == 0o600
    hostkey = host.file("/etc/ssh/ssh_host_ed25519_key")
    assert hostkey.user == "root" and hostkey.mode == 0o600
    ssh_svc = host.service("ssh")
    assert ssh_svc.is_enabled and ssh_svc.is_running
    assert host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_operators(host):
    alice = host.user("alice")
    assert alice.exists and "lmpspot-ssh" in alice.groups
    keys = host.file("/home/alice/.ssh/authorized_keys")
    assert keys.user == "alice" and keys.mode == 0o600
    assert keys.content_string.strip() == (KEYS / "alice.pub").read_text().strip()
    assert host.file("/home/alice/.ssh").mode == 0o700
    assert not host.user("former").exists  # in the group but no longer listed
    assert not host.file("/home/former").exists
    assert not host.user("bob").exists


def test_fail2ban_and_unattended_upgrades(host):
    assert host.service("fail2ban").is_enabled and host.service("fail2ban").is_running
    jail = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in jail
    auto = host.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert host.package("unattended-upgrades").is_installed
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_operator_key_logs_in():
    res = ssh("alice", "alice")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "alice"


@pytest.mark.parametrize(
    ("user", "key", "extra"),
    [
        ("alice", "stranger", ()),  # a key that is not alice's
        ("root", "alice", ()),  # root never logs in
        ("former", "alice", ()),  # removed operator
        ("alice", "alice", ("-c", "aes128-cbc")),  # legacy cipher
        ("alice", "alice", ("-o", "KexAlgorithms=diffie-hellman-group14-sha1")),  # legacy kex
        ("alice", "alice", ("-o", "HostKeyAlgorithms=ssh-rsa")),  # RSA host keys are not offered
        ("alice", "alice", ("-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password")),
    ],
)
def test_refused_logins(user, key, extra):
    res = ssh(user, key, *extra)
    assert res.returncode == 255, res.stdout + res.stderr
