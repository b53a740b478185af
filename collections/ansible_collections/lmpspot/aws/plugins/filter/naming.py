# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names, tags and subnet plans for lmpspot resources.  Pure functions."""

from __future__ import annotations

import ipaddress
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import RESERVED_TAGS

# Tag keys lmpspot relies on to find its own resources (audit, teardown, inventory).
_NAME_PART = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _require_str(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise AnsibleFilterError(f"{what} must be a non-empty string, got {value!r}")
    return value


def project_tags(project, environment, owner="", extra=None) -> dict:
    """The tags every resource carries; ``extra`` may add tags but not override reserved ones."""
    _require_str(project, "lmpspot_project")
    _require_str(environment, "lmpspot_environment")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise AnsibleFilterError(f"lmpspot_extra_tags must be a mapping, got {type(extra).__name__}")
    reserved = {t.lower() for t in RESERVED_TAGS}
    clash = sorted(k for k in map(str, extra) if k.lower() in reserved)
    if clash:
        raise AnsibleFilterError(
            f"lmpspot_extra_tags may not set {', '.join(clash)}: lmpspot uses these tags to find "
            "its own resources; remove them from lmpspot_extra_tags"
        )
    tags = {"Project": project, "Environment": environment, "ManagedBy": "lmpspot"}
    if owner:
        tags["Owner"] = str(owner)
    tags.update({str(k): str(v) for k, v in extra.items()})
    return tags


def resource_name(project, environment, *parts) -> str:
    """``project-environment-part1-part2`` after checking each part is a DNS-style label."""
    pieces = [
        _require_str(project, "lmpspot_project"),
        _require_str(environment, "lmpspot_environment"),
    ]
    pieces += [str(p) for p in parts]
    for p in pieces:
        if not _NAME_PART.match(p):
            raise AnsibleFilterError(f"name part {p!r} must be lowercase letters, digits and inner hyphens")
    return "-".join(pieces)


def plan_subnets(vpc_cidr, az_count, public_prefix=24, private_prefix=20) -> dict:
    """Plan one public and one private subnet per AZ inside ``vpc_cidr``.

    Public subnets are the first ``az_count`` /public_prefix blocks; private subnets are
    /private_prefix blocks taken after the first one (which holds the public ones), so the
    two sets never overlap.
    """
    try:
        vpc = ipaddress.ip_network(str(vpc_cidr), strict=True)
    except ValueError as exc:
        raise AnsibleFilterError(f"network_vpc_cidr {vpc_cidr!r} is not a valid CIDR: {exc}") from exc
    if not isinstance(az_count, int) or isinstance(az_count, bool) or az_count < 1:
        raise AnsibleFilterError(f"az_count must be a positive integer, got {az_count!r}")
    if not vpc.prefixlen < private_prefix < public_prefix:
        raise AnsibleFilterError(
            f"need VPC prefix ({vpc.prefixlen}) < private prefix ({private_prefix}) < "
            f"public prefix ({public_prefix})"
        )
    private_blocks = list(vpc.subnets(new_prefix=private_prefix))
    if len(private_blocks) < az_count + 1:
        raise AnsibleFilterError(
            f"network_vpc_cidr {vpc} is too small for {az_count} private /{private_prefix} "
            f"subnets plus the public ones; use a /{private_prefix - az_count.bit_length()} or larger VPC"
        )
    public_pool = list(private_blocks[0].subnets(new_prefix=public_prefix))
    if len(public_pool) < az_count:
        raise AnsibleFilterError(f"not enough /{public_prefix} blocks for {az_count} public subnets")
    return {
        "public": [str(n) for n in public_pool[:az_count]],
        "private": [str(n) for n in private_blocks[1 : az_count + 1]],
    }


class FilterModule:
    def filters(self):
        return {
            "project_tags": project_tags,
            "resource_name": resource_name,
            "plan_subnets": plan_subnets,
        }
