# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may reach SSH: the checks on ``network_ssh_allowed_cidrs`` and the security-group rules.

Shared by the preflight filter (``config_problems``), the network role's own guard
(``ssh_cidr_problems``) and its rules (``sg_cidr_rules``), so they cannot disagree.
A range wider than the minimum prefix length (``network_ssh_min_prefix_ipv4``/``_ipv6``)
counts as "anywhere": ``0.0.0.0/1`` + ``128.0.0.0/1`` open SSH to the internet as surely
as ``0.0.0.0/0`` does.
"""

from __future__ import annotations

import ipaddress

DEFAULT_MIN_PREFIX = {4: 16, 6: 48}
_SETTING = {4: "network_ssh_min_prefix_ipv4", 6: "network_ssh_min_prefix_ipv6"}


def parse(value):
    """An ``ip_network`` or a message saying what is wrong with ``value``."""
    if not isinstance(value, str) or "/" not in value:
        return None, f"{value!r} is not a CIDR block; write it as ADDRESS/PREFIX (e.g. 203.0.113.0/24)"
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None, f"{value!r} is not a valid CIDR block; fix its address or prefix"
    if str(net) != value.strip():
        host = value.split("/")[0].strip()
        return None, (
            f"{value!r} has host bits set; write the network address {net} "
            f"(or {host}/{net.max_prefixlen} for that one address)"
        )
    return net, None


def min_prefix_problems(min_v4, min_v6) -> list:
    """Problems of the two minimum-prefix settings themselves."""
    out = []
    for version, value, top in ((4, min_v4, 32), (6, min_v6, 128)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            out.append(f"{_SETTING[version]}: must be a whole number from 1 to {top}, got {value!r}")
    return out


def problems(cidrs, allow_anywhere=False, min_v4=None, min_v6=None) -> list:
    """Every problem of ``network_ssh_allowed_cidrs`` (a list of strings), as messages.

    An empty list is valid: port 22 closed, access through Session Manager (docs/ACCESS.md)."""
    min_v4 = DEFAULT_MIN_PREFIX[4] if min_v4 is None else min_v4
    min_v6 = DEFAULT_MIN_PREFIX[6] if min_v6 is None else min_v6
    out = min_prefix_problems(min_v4, min_v6)
    if out:
        return out
    if not isinstance(cidrs, (list, tuple)) or not all(isinstance(c, str) for c in cidrs):
        return [
            f"network_ssh_allowed_cidrs: must be a list of CIDR strings, got {cidrs!r}; "
            "write e.g. [203.0.113.0/24]"
        ]
    minimum = {4: min_v4, 6: min_v6}
    for item in cidrs:
        net, problem = parse(item)
        if problem:
            out.append(f"network_ssh_allowed_cidrs: {problem}")
        elif net.prefixlen < minimum[net.version] and not allow_anywhere:
            out.append(
                f"network_ssh_allowed_cidrs: {net} (/{net.prefixlen}) is wider than "
                f"{_SETTING[net.version]} (/{minimum[net.version]})"
                + (" and opens SSH to the whole internet" if net.prefixlen == 0 else "")
                + f"; list your network's CIDR instead, or lower {_SETTING[net.version]} if that range "
                "really is yours (network_allow_ssh_from_anywhere: true lifts the limit, not recommended)"
            )
    return out


def rules(cidrs, ports=(22,), description="SSH from an allowed CIDR") -> list:
    """``amazon.aws.ec2_security_group`` rules: IPv4 ranges as ``cidr_ip``, IPv6 as ``cidr_ipv6``."""
    out = []
    for item in cidrs:
        net, problem = parse(item)
        if problem:
            raise ValueError(f"network_ssh_allowed_cidrs: {problem}")
        key = "cidr_ip" if net.version == 4 else "cidr_ipv6"
        out.append({"proto": "tcp", "ports": list(ports), key: str(net), "rule_desc": description})
    return out
