# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading lmpspot settings for the configuration checks (preflight's ``config_problems``
filter and its parts): tolerant parsing of what an inventory or ``-e k=v`` gives.

A check appends a message to ``problems`` instead of raising: preflight reports every
problem of a configuration at once.  :data:`MISSING` stands for a setting the input lacks
(such a setting is not checked)."""

from __future__ import annotations

import ipaddress
import re

MISSING = object()
MAX_GPUS_PER_JOB = 8  # the largest GPU count of any EC2 type


def as_int(value):
    """``value`` as an int, or None.  Accepts ints and integer strings (``-e k=v``), not bools."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def as_bool(value):
    """``value`` as a bool, or None.  Accepts what Ansible's ``bool`` type accepts."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "on", "1", "y", "t"):
            return True
        if low in ("false", "no", "off", "0", "n", "f", ""):
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def is_str_list(value) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def cidr(value, setting, problems, *, version=4):
    """Parse one CIDR; on failure append a problem and return None."""
    if not isinstance(value, str) or "/" not in value:
        problems.append(
            f"{setting}: {value!r} is not a CIDR block; write it as ADDRESS/PREFIX "
            f"(e.g. {'10.42.0.0/16' if version == 4 else '203.0.113.0/24'})"
        )
        return None
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        problems.append(f"{setting}: {value!r} is not a valid CIDR block; fix its address or prefix")
        return None
    if version == 4 and net.version != 4:
        problems.append(f"{setting}: {value!r} is IPv6; lmpspot's VPC and subnets are IPv4")
        return None
    if str(net) != value.strip():
        host = value.split("/")[0].strip()
        problems.append(
            f"{setting}: {value!r} has host bits set; write the network address {net}"
            + (f" (or {host}/{net.max_prefixlen} for that one address)" if version != 4 else "")
        )
        return None
    return net
