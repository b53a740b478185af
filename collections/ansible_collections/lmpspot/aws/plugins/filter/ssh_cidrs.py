# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH source ranges: the checks and the security-group rules.  Pure functions."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils import ssh_cidrs


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
