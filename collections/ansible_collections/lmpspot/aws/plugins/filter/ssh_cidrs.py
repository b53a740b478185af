# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH source ranges: the checks and the security-group rules.  Pure functions."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils import ssh_cidrs

DOCUMENTATION_SSH_CIDR_PROBLEMS = r"""
name: ssh_cidr_problems
short_description: Problems of network_ssh_allowed_cidrs (invalid, host bits, wider than the minimum prefix)
positional: allow_anywhere, min_v4, min_v6
options:
  _input: {description: network_ssh_allowed_cidrs., type: list, elements: str, required: true}
  allow_anywhere: {description: network_allow_ssh_from_anywhere., type: bool, default: false}
  min_v4: {description: network_ssh_min_prefix_ipv4., type: int, default: 16}
  min_v6: {description: network_ssh_min_prefix_ipv6., type: int, default: 48}
"""

DOCUMENTATION_SG_CIDR_RULES = r"""
name: sg_cidr_rules
short_description: Security-group rules for CIDRs, IPv4 as cidr_ip and IPv6 as cidr_ipv6
options:
  _input: {description: CIDR strings., type: list, elements: str, required: true}
  ports: {description: TCP ports., type: list, elements: int, default: [22]}
  description: {description: The rules' description., type: str}
"""

EXAMPLES = r"""
problems: "{{ ['0.0.0.0/1', '128.0.0.0/1'] | lmpspot.aws.ssh_cidr_problems(false, 16, 48) }}"
# -> two messages naming network_ssh_min_prefix_ipv4
rules: "{{ ['203.0.113.0/24', '2001:db8::/48'] | lmpspot.aws.sg_cidr_rules }}"
# -> [{proto: tcp, ports: [22], cidr_ip: 203.0.113.0/24, ...}, {..., cidr_ipv6: 2001:db8::/48, ...}]
"""

RETURN = r"""
_value: {description: See each filter., type: list}
"""


def _int(value):
    if isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value  # reported by ssh_cidrs.min_prefix_problems


def ssh_cidr_problems(cidrs, allow_anywhere=False, min_v4=16, min_v6=48) -> list:
    if not isinstance(allow_anywhere, bool):
        raise AnsibleFilterError(
            f"network_allow_ssh_from_anywhere must be true or false, got {allow_anywhere!r}"
        )
    return ssh_cidrs.problems(cidrs, allow_anywhere, _int(min_v4), _int(min_v6))


def sg_cidr_rules(cidrs, ports=(22,), description="SSH from an allowed CIDR") -> list:
    if not isinstance(cidrs, (list, tuple)):
        raise AnsibleFilterError(f"sg_cidr_rules expects a list of CIDR strings, got {cidrs!r}")
    try:
        return ssh_cidrs.rules(cidrs, tuple(int(p) for p in ports), description)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(str(e)) from e


class FilterModule:
    def filters(self):
        return {"ssh_cidr_problems": ssh_cidr_problems, "sg_cidr_rules": sg_cidr_rules}
