# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH host keys from an EC2 instance's console output.

cloud-init prints the host keys it generated at first boot between
``-----BEGIN SSH HOST KEY KEYS-----`` and ``-----END SSH HOST KEY KEYS-----`` on the serial
console (lines may carry an ``ec2:`` or a kernel-timestamp prefix).  GetConsoleOutput is an
authenticated EC2 API call, so these keys can be trusted for the first SSH contact with a
new instance -- instead of accepting whatever key answers.
"""

from __future__ import annotations

import re

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
_KEY = re.compile(
    r"(?<![A-Za-z0-9@.-])(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\s+(AAAA[0-9A-Za-z+/]+={0,3})(?=\s|$)"
)


def host_keys(console: str, key_types: tuple[str, ...] = ("ssh-ed25519",)) -> list[str]:
    """``"<type> <base64>"`` of each host key in the console's last complete key block
    (a reboot prints a new one), limited to ``key_types``, in the order printed."""
    text = console or ""
    end = text.rfind(END)
    if end < 0:
        return []
    begin = text.rfind(BEGIN, 0, end)
    if begin < 0:
        return []
    out = []
    for line in text[begin + len(BEGIN) : end].splitlines():
        m = _KEY.search(line)
        if m and m.group(1) in key_types and f"{m.group(1)} {m.group(2)}" not in out:
            out.append(f"{m.group(1)} {m.group(2)}")
    return out


def known_hosts_lines(address: str, keys: list[str]) -> list[str]:
    """known_hosts lines for ``address`` (an IP or a name) and each key."""
    if not address or any(c.isspace() for c in address):
        raise ValueError(f"not a host address: {address!r}")
    return [f"{address} {k}" for k in keys]
