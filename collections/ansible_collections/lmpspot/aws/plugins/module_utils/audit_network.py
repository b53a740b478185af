# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network checks of the account audit (docs/AUDIT.md): pure functions over what boto3's
EC2 ``Describe*`` calls return, apart from the collector in ``audit.py``.

* :func:`check_network_drift`: every subnet, route table, security group, internet gateway
  and VPC endpoint the network layer creates (``expected``, derived from the same settings
  the role reads) exists in the project VPC, and the S3 gateway endpoint is on every
  project route table.  A deleted S3 gateway endpoint cuts private subnets without NAT
  off from S3: it is reported as missing, severity high.
* :func:`check_ssh_only_from`: a group that must take SSH only from another group (the
  simulation hosts' from the bastion's) has no other inbound rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _finding(check_id: str, severity: str, resource: str, message: str, fix: str) -> dict[str, str]:
    return {"id": check_id, "severity": severity, "resource": resource, "message": message, "fix": fix}


def _name(item: Mapping[str, Any]) -> str:
    return {t["Key"]: t["Value"] for t in item.get("Tags") or []}.get("Name", "")


RUN_NETWORK = "Run playbooks/network.yml"


def _missing(kind: str, name: str) -> dict[str, str]:
    return _finding(
        "drift.missing", "high", name, f"{kind} {name} is in the config but not in the account", RUN_NETWORK
    )


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
                _finding(
                    "drift.config",
                    "high",
                    got[0]["VpcEndpointId"],
                    f"gateway endpoint {want['service']} is not on route table(s) {', '.join(lacking)}: "
                    "their subnets reach the service another way, or not at all",
                    RUN_NETWORK,
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
                    _finding(
                        "sg.ssh_only_from",
                        "high",
                        group["GroupId"],
                        f"security group {name} ({group['GroupId']}) allows {what} from "
                        f"{', '.join(map(str, others)) or source}; it may take only TCP {port} from {source}",
                        f"Revoke the rule (aws ec2 revoke-security-group-ingress) and run {RUN_NETWORK[4:]}",
                    )
                )
    return out
