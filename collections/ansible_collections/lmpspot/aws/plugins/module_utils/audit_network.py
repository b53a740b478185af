# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network checks of the account audit (docs/AUDIT.md): pure functions over what boto3's
EC2 ``Describe*`` calls return, apart from the collector in ``audit.py``.

* :func:`check_security_groups`: ingress open to the internet, or an admin port open to a
  range wider than the network layer allows.
* :func:`check_network_drift`: every subnet, route table, security group, internet gateway
  and VPC endpoint the network layer creates (``expected``, derived from the same settings
  the role reads) exists in the project VPC, and the S3 gateway endpoint is on every
  project route table.  A deleted S3 gateway endpoint cuts private subnets without NAT
  off from S3: it is reported as missing, severity high.
* :func:`check_ssh_only_from`: a group that must take SSH only from another group (the
  simulation hosts' from the bastion's) has no other inbound rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.lmpspot.aws.plugins.module_utils.audit_common import finding, missing, tag_dict

NETWORK_PLAY = "playbooks/network.yml"
OPEN_CIDRS = ("0.0.0.0/0", "::/0")


def _covers(perm: Mapping[str, Any], port: int) -> bool:
    if perm.get("IpProtocol") in ("-1", -1, "all"):
        return True
    if perm.get("IpProtocol") not in ("tcp", "6", 6):
        return False
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    if lo is None or hi is None:
        return True
    return int(lo) <= port <= int(hi)


def _port_text(perm: Mapping[str, Any]) -> str:
    if perm.get("IpProtocol") in ("-1", -1, "all"):
        return "all traffic"
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    ports = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{perm.get('IpProtocol')} {ports}"


def _wide(cidr: str, min_prefix: Mapping[int, int]) -> bool:
    """Wider than the minimum prefix length of its family, but not the whole internet."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return 0 < net.prefixlen < int(min_prefix.get(net.version, 0))


def check_security_groups(
    groups: Iterable[Mapping[str, Any]],
    admin_ports: Iterable[int] = (22, 3389),
    min_prefix: Mapping[int, int] | None = None,
) -> list:
    """Ingress from 0.0.0.0/0 or ::/0: on an admin port (SSH/RDP) critical, any other high.
    An admin port open to a range wider than ``min_prefix`` ({4: 16, 6: 48}, the network
    layer's network_ssh_min_prefix_ipv4/_ipv6; e.g. 0.0.0.0/1 + 128.0.0.0/1): high."""
    admin_ports = tuple(int(p) for p in admin_ports)
    min_prefix = {4: 16, 6: 48} if min_prefix is None else {int(k): int(v) for k, v in min_prefix.items()}
    out = []
    for sg in groups:
        gid = sg["GroupId"]
        label = f"{gid} ({sg.get('GroupName', '')}, {sg.get('VpcId', '-')})"
        for perm in sg.get("IpPermissions", []):
            ranges = [r["CidrIp"] for r in perm.get("IpRanges", []) if r.get("CidrIp")]
            ranges += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", []) if r.get("CidrIpv6")]
            opens = [c for c in ranges if c in OPEN_CIDRS]
            wide = [c for c in ranges if _wide(c, min_prefix)]
            admin = [p for p in admin_ports if _covers(perm, p)]
            if admin and wide:
                out.append(
                    finding(
                        "sg.wide_admin_port",
                        "high",
                        gid,
                        f"security group {label} allows {_port_text(perm)} (port "
                        f"{', '.join(map(str, admin))}) from {', '.join(wide)}, wider than "
                        f"/{min_prefix.get(4)} (IPv4) or /{min_prefix.get(6)} (IPv6)",
                        "Allow SSH only from your office or VPN ranges (network_ssh_allowed_cidrs; "
                        "network_ssh_min_prefix_ipv4/_ipv6) and revoke the rule",
                        sg.get("GroupName"),
                    )
                )
            if not opens:
                continue
            what = _port_text(perm)
            if admin:
                out.append(
                    finding(
                        "sg.open_admin_port",
                        "critical",
                        gid,
                        f"security group {label} allows {what} (port {', '.join(map(str, admin))}) "
                        f"from {', '.join(opens)}",
                        "Allow SSH only from known ranges (network_ssh_allowed_cidrs) and revoke the "
                        "rule: aws ec2 revoke-security-group-ingress",
                        sg.get("GroupName"),
                    )
                )
            else:
                out.append(
                    finding(
                        "sg.open_to_world",
                        "high",
                        gid,
                        f"security group {label} allows {what} from {', '.join(opens)}",
                        "Restrict the rule's source to the ranges that need it, or revoke it",
                        sg.get("GroupName"),
                    )
                )
    return out


def _name(item: Mapping[str, Any]) -> str:
    return tag_dict(item.get("Tags")).get("Name", "")


def _missing(kind: str, name: str) -> dict[str, str]:
    return missing(kind, name, NETWORK_PLAY)


def check_network_drift(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list:
    """``expected``: ``subnets``/``route_tables`` (Name tags), ``security_groups`` (group
    names), ``internet_gateway`` (Name tag), ``endpoints`` ([{service, type}]).
    ``actual``: the project VPC's ``subnets``, ``route_tables``, ``security_groups``,
    ``internet_gateways`` and ``endpoints`` as Describe* returns them."""
    out = []
    have_subnets = {_name(s) for s in actual.get("subnets", [])}
    out += [_missing("subnet", n) for n in expected.get("subnets", []) if n not in have_subnets]
    rts = {_name(r): r for r in actual.get("route_tables", [])}
    out += [_missing("route table", n) for n in expected.get("route_tables", []) if n not in rts]
    have_sgs = {g.get("GroupName") for g in actual.get("security_groups", [])}
    out += [_missing("security group", n) for n in expected.get("security_groups", []) if n not in have_sgs]
    igw = expected.get("internet_gateway")
    if igw and igw not in {_name(g) for g in actual.get("internet_gateways", [])}:
        out.append(_missing("internet gateway", igw))
    live = [
        e for e in actual.get("endpoints", []) if e.get("State", "available") not in ("deleted", "deleting")
    ]
    for want in expected.get("endpoints", []):
        got = [
            e
            for e in live
            if e.get("ServiceName") == want["service"] and e.get("VpcEndpointType") == want["type"]
        ]
        if not got:
            out.append(_missing(f"{want['type']} VPC endpoint", want["service"]))
            continue
        if want["type"] != "Gateway":
            continue
        wanted_rts = {rts[n]["RouteTableId"] for n in expected.get("route_tables", []) if n in rts}
        lacking = sorted(wanted_rts - set(got[0].get("RouteTableIds", [])))
        if lacking:
            out.append(
                finding(
                    "drift.config",
                    "high",
                    got[0]["VpcEndpointId"],
                    f"gateway endpoint {want['service']} is not on route table(s) {', '.join(lacking)}: "
                    "their subnets reach the service another way, or not at all",
                    f"Run {NETWORK_PLAY}",
                )
            )
    return out


def check_ssh_only_from(
    groups: Iterable[Mapping[str, Any]], rules: Mapping[str, str], port: int = 22
) -> list:
    """``rules``: group name -> the only group name it may take inbound traffic from.

    Any inbound rule of such a group from an address range, a prefix list or another
    group is reported (high): the simulation hosts are reached through the bastion only.
    """
    by_name = {g.get("GroupName"): g for g in groups}
    out = []
    for name, source in rules.items():
        group = by_name.get(name)
        if group is None:
            continue
        source_id = (by_name.get(source) or {}).get("GroupId")
        for perm in group.get("IpPermissions", []):
            others = [r.get("CidrIp") for r in perm.get("IpRanges", [])]
            others += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])]
            others += [p.get("PrefixListId") for p in perm.get("PrefixListIds", [])]
            others += [
                p.get("GroupId") for p in perm.get("UserIdGroupPairs", []) if p.get("GroupId") != source_id
            ]
            proto = perm.get("IpProtocol")
            wrong_port = proto != "tcp" or (perm.get("FromPort"), perm.get("ToPort")) != (port, port)
            if others or wrong_port:
                what = (
                    "all traffic"
                    if proto in ("-1", -1)
                    else f"{proto} {perm.get('FromPort')}-{perm.get('ToPort')}"
                )
                out.append(
                    finding(
                        "sg.ssh_only_from",
                        "high",
                        group["GroupId"],
                        f"security group {name} ({group['GroupId']}) allows {what} from "
                        f"{', '.join(map(str, others)) or source}; it may take only TCP {port} from {source}",
                        f"Revoke the rule (aws ec2 revoke-security-group-ingress) and run {NETWORK_PLAY}",
                    )
                )
    return out
