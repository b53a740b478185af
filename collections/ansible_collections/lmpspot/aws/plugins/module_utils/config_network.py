# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the network layer's settings (``network_*`` in ``network.yml``): the VPC, the
subnets (listed, or planned by ``plan_subnets``), who may reach SSH and the VPC endpoints.
Part of preflight's ``config_problems`` filter."""

from __future__ import annotations

import ipaddress

from ansible_collections.lmpspot.aws.plugins.module_utils import ssh_cidrs
from ansible_collections.lmpspot.aws.plugins.module_utils.config_common import (
    MISSING,
    as_bool,
    cidr,
    is_str_list,
)

VPC_MIN_PREFIX = 16  # lmpspot policy (AWS allows /16../28)
VPC_MAX_PREFIX = 24
SUBNET_MIN_PREFIX = 16  # AWS limits
SUBNET_MAX_PREFIX = 28
# The Docker bridge on Batch's ECS-optimized instances uses 172.17.0.0/16: a VPC there
# makes the instances unable to reach their own subnet.
DOCKER_BRIDGE = ipaddress.ip_network("172.17.0.0/16")

# Interface endpoint services the network role knows how to create.
INTERFACE_ENDPOINT_SERVICES = frozenset(
    {
        "ecr.api",
        "ecr.dkr",
        "logs",
        "ecs",
        "ecs-agent",
        "ecs-telemetry",
        "sts",
        "ssm",
        "ssmmessages",
        "ec2messages",
        "monitoring",
        "batch",
        "kms",
        "secretsmanager",
    }
)
GATEWAY_ENDPOINT_SERVICES = frozenset({"s3", "dynamodb"})
# Without a NAT gateway, Batch instances in private subnets need all of these to register
# with ECS, pull images from ECR and ship logs.
BATCH_REQUIRED_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "ecs", "ecs-agent", "ecs-telemetry")


SUBNET_SETTINGS = ("network_public_subnet_cidrs", "network_private_subnet_cidrs")


def network_problems(cfg, problems):
    """Append the problems of the network settings present in ``cfg`` to ``problems``."""
    vpc = _vpc(cfg, problems)
    azs = cfg.get("lmpspot_availability_zones")
    az_count = len(azs) if is_str_list(azs) else None
    lists = {s: cfg.get(s, MISSING) for s in SUBNET_SETTINGS}
    subnets, lists_ok = _subnets(lists, vpc, problems)
    explicit = lists_ok and any(
        isinstance(v, (list, tuple)) and len(v) for v in lists.values() if v is not MISSING
    )
    if explicit and az_count is not None:
        _subnets_per_zone(lists, az_count, problems)
    _overlaps(subnets, problems)
    if not explicit and vpc is not None and az_count:
        _room_to_plan(vpc, az_count, problems)
    _ssh(cfg, problems)
    _endpoints(cfg, problems)


def _vpc(cfg, problems):
    """network_vpc_cidr, or None when it is absent or unusable (a problem says why)."""
    value = cfg.get("network_vpc_cidr", MISSING)
    if value is MISSING:
        return None
    vpc = cidr(value, "network_vpc_cidr", problems)
    if vpc is None:
        return None
    if not VPC_MIN_PREFIX <= vpc.prefixlen <= VPC_MAX_PREFIX:
        problems.append(
            f"network_vpc_cidr: {vpc} has prefix /{vpc.prefixlen}; use a prefix between "
            f"/{VPC_MIN_PREFIX} and /{VPC_MAX_PREFIX} (e.g. 10.42.0.0/16)"
        )
        return None
    if (
        vpc.is_loopback
        or vpc.is_link_local
        or vpc.is_multicast
        or vpc.is_reserved
        or vpc.is_unspecified
        or vpc.overlaps(ipaddress.ip_network("0.0.0.0/8"))
    ):
        problems.append(
            f"network_vpc_cidr: {vpc} is a special-purpose range AWS does not allow for VPCs; "
            "use a private range such as 10.42.0.0/16"
        )
        return None
    if vpc.overlaps(DOCKER_BRIDGE):
        problems.append(
            f"network_vpc_cidr: {vpc} overlaps 172.17.0.0/16, the Docker bridge on Batch "
            "instances (containers could not reach the VPC); use e.g. 10.42.0.0/16"
        )
    return vpc


def _subnets(lists, vpc, problems):
    """The listed subnets as ``[(setting, network)]``, and whether both lists are lists."""
    subnets = []
    lists_ok = True
    for setting, value in lists.items():
        if value is MISSING or value is None:
            continue
        if not is_str_list(value):
            problems.append(f"{setting}: must be a list of CIDR strings (or [] to plan them), got {value!r}")
            lists_ok = False
            continue
        for item in value:
            net = cidr(item, setting, problems)
            if net is None:
                continue
            if not SUBNET_MIN_PREFIX <= net.prefixlen <= SUBNET_MAX_PREFIX:
                problems.append(
                    f"{setting}: {net} has prefix /{net.prefixlen}; AWS subnets must be /{SUBNET_MIN_PREFIX} "
                    f"to /{SUBNET_MAX_PREFIX}"
                )
            if vpc is not None and not net.subnet_of(vpc):
                problems.append(
                    f"{setting}: {net} is not inside network_vpc_cidr {vpc}; pick a block inside it"
                )
            subnets.append((setting, net))
    return subnets, lists_ok


def _subnets_per_zone(lists, az_count, problems):
    for setting, value in lists.items():
        n = len(value) if isinstance(value, (list, tuple)) else 0
        if n != az_count:
            problems.append(
                f"{setting}: {n} subnet(s) for {az_count} availability zone(s); give one per zone "
                "in lmpspot_availability_zones, or leave both subnet lists empty to have them planned"
            )


def _overlaps(subnets, problems):
    for i, (s1, n1) in enumerate(subnets):
        for s2, n2 in subnets[i + 1 :]:
            if n1.overlaps(n2):
                where = s1 if s1 == s2 else f"{s1} and {s2}"
                problems.append(f"{where}: {n1} and {n2} overlap; subnets must not share addresses")


def _room_to_plan(vpc, az_count, problems):
    """The subnets will be planned: the VPC must hold them (same rule as plan_subnets)."""
    private_blocks = 2 ** max(0, 20 - vpc.prefixlen)
    if vpc.prefixlen >= 20 or private_blocks < az_count + 1:
        problems.append(
            f"network_vpc_cidr: {vpc} is too small to plan one public /24 and one private /20 per "
            f"zone for {az_count} zones; use a /{max(16, 20 - az_count.bit_length())} or larger VPC, "
            "or list network_public_subnet_cidrs and network_private_subnet_cidrs yourself"
        )


def _ssh(cfg, problems):
    cidrs = cfg.get("network_ssh_allowed_cidrs", MISSING)
    if cidrs is MISSING:
        return
    anywhere_ok = as_bool(cfg.get("network_allow_ssh_from_anywhere", False))
    if anywhere_ok is None:
        problems.append(
            "network_allow_ssh_from_anywhere: must be true or false, got "
            f"{cfg.get('network_allow_ssh_from_anywhere')!r}"
        )
        anywhere_ok = False
    minimum = []
    for setting in ("network_ssh_min_prefix_ipv4", "network_ssh_min_prefix_ipv6"):
        value = cfg.get(setting, ssh_cidrs.DEFAULT_MIN_PREFIX[4 if setting.endswith("4") else 6])
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        minimum.append(value)
    problems.extend(ssh_cidrs.problems(cidrs, anywhere_ok, *minimum))


def _endpoints(cfg, problems):
    enabled = as_bool(cfg.get("network_interface_endpoints_enabled", True))
    nat = as_bool(cfg.get("network_nat_gateway_enabled", False))
    for setting, value in (
        ("network_interface_endpoints_enabled", enabled),
        ("network_nat_gateway_enabled", nat),
    ):
        if value is None:
            problems.append(f"{setting}: must be true or false, got {cfg.get(setting)!r}")
    services = _endpoint_services(cfg, problems)
    if enabled is True and services is not None and not services:
        problems.append(
            "network_interface_endpoint_services: is empty while network_interface_endpoints_enabled "
            "is true; list the services or set network_interface_endpoints_enabled: false"
        )
    if nat is False and enabled is not None:
        if not enabled:
            problems.append(
                "network_interface_endpoints_enabled: false with network_nat_gateway_enabled: false "
                "leaves Batch instances in private subnets without a way to ECR, ECS and CloudWatch "
                "Logs; enable one of them"
            )
        elif services is not None:
            missing = [s for s in BATCH_REQUIRED_ENDPOINTS if s not in services]
            if missing:
                problems.append(
                    f"network_interface_endpoint_services: lacks {', '.join(missing)}, which Batch "
                    "instances need without a NAT gateway; add them "
                    "(or set network_nat_gateway_enabled: true)"
                )


def _endpoint_services(cfg, problems):
    """``network_interface_endpoint_services`` checked name by name; None when unset or not a list."""
    services = cfg.get("network_interface_endpoint_services", MISSING)
    if services is MISSING:
        return None
    if not is_str_list(services):
        problems.append(
            f"network_interface_endpoint_services: must be a list of service names, got {services!r}"
        )
        return None
    allowed = ", ".join(sorted(INTERFACE_ENDPOINT_SERVICES))
    for svc in services:
        if svc in GATEWAY_ENDPOINT_SERVICES:
            problems.append(
                f"network_interface_endpoint_services: {svc!r} is served by a free gateway "
                "endpoint, not an interface endpoint; remove it from the list"
            )
        elif svc not in INTERFACE_ENDPOINT_SERVICES:
            problems.append(
                f"network_interface_endpoint_services: {svc!r} is not a supported service; "
                f"use names from: {allowed}"
            )
    dups = sorted({s for s in services if services.count(s) > 1})
    if dups:
        problems.append(f"network_interface_endpoint_services: {', '.join(dups)} listed more than once")
    return services
