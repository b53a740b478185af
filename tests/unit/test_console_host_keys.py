"""SSH host keys from EC2 console output (module_utils/console_host_keys.py)."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import console_host_keys as chk

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0vYbQm1bGkQ3l0Yx9pD0mC0o8hQ2pWm3tGq1h0b5aE"
ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFw8S5l4m2Y2p6Qy6xq0g6w7k0b1m6s2r9t0u1v2w3x4"
EC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB="
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"


def block(*lines, prefix=""):
    body = [f"{prefix}-----BEGIN SSH HOST KEY KEYS-----", *(prefix + x for x in lines)]
    return "\n".join([*body, f"{prefix}-----END SSH HOST KEY KEYS-----"]) + "\n"


DEBIAN = (
    "[   10.1] cloud-init[512]: Cloud-init v. 22.4.2 running 'modules:final'\n"
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 SHA256:abc root@ip-10-0-0-5 (ED25519)\n"
    "-----END SSH HOST KEY FINGERPRINTS-----\n" + block(f"{EC} root@ip-10-0-0-5", f"{ED} root@ip-10-0-0-5")
)


@pytest.mark.parametrize(
    ("console", "types", "want"),
    [
        (DEBIAN, ("ssh-ed25519",), [ED]),
        (DEBIAN, ("ssh-ed25519", "ecdsa-sha2-nistp256"), [EC, ED]),
        (block(ED, RSA, prefix="ec2: "), ("ssh-ed25519",), [ED]),  # Amazon Linux prefixes lines
        (block(f"{ED} root@h", prefix="[   12.345678] cloud-init[99]: "), ("ssh-ed25519",), [ED]),
        (block(ED) + "reboot\n" + block(ED2), ("ssh-ed25519",), [ED2]),  # the last block
        (block(ED) + "-----BEGIN SSH HOST KEY KEYS-----\n" + ED2, ("ssh-ed25519",), [ED]),  # cut off
        (DEBIAN.replace("-----END SSH HOST KEY KEYS-----", ""), ("ssh-ed25519",), []),
        ("Linux version 2.6.16-xenU\nKernel command line: root=/dev/sda1\n", ("ssh-ed25519",), []),
        ("", ("ssh-ed25519",), []),
        (f"{ED}\n", ("ssh-ed25519",), []),  # a key outside the block does not count
        (block("x" + ED), ("ssh-ed25519",), []),  # not a key token
        (block(ED, ED), ("ssh-ed25519",), [ED]),
    ],
)
def test_host_keys(console, types, want):
    assert chk.host_keys(console, types) == want


def test_known_hosts_lines():
    assert chk.known_hosts_lines("198.51.100.7", [ED]) == [f"198.51.100.7 {ED}"]
    for bad in ("", "a b", "x\ny"):
        with pytest.raises(ValueError, match="not a host address"):
            chk.known_hosts_lines(bad, [ED])
