"""Who may reach SSH, through the network play against the local AWS: IPv6 ranges land in
the security group's IPv6 field, and ranges wider than the minimum prefix are refused."""

from __future__ import annotations

import pytest
from conftest import run_playbook

pytestmark = pytest.mark.integration

SG_NAME = "lmpspot-local-bastion"


def bastion_ssh_ranges(aws):
    ec2 = aws.client("ec2")
    (sg,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [SG_NAME]}])[
        "SecurityGroups"
    ]
    (perm,) = [p for p in sg["IpPermissions"] if p.get("FromPort") == 22]
    return [r["CidrIp"] for r in perm.get("IpRanges", [])], [
        r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])
    ]


def test_ipv4_and_ipv6_ranges_go_to_their_own_fields(aws):
    cidrs = ["203.0.113.0/24", "2001:db8:1::/48"]
    res = run_playbook("playbooks/network.yml", aws, extra_vars={"network_ssh_allowed_cidrs": cidrs})
    assert res.rc == 0, res
    assert bastion_ssh_ranges(aws) == (["203.0.113.0/24"], ["2001:db8:1::/48"])


@pytest.mark.parametrize(
    ("cidrs", "words"),
    [
        (["0.0.0.0/1", "128.0.0.0/1"], "0.0.0.0/1 (/1) is wider than network_ssh_min_prefix_ipv4 (/16)"),
        (["::/1", "8000::/1"], "::/1 (/1) is wider than network_ssh_min_prefix_ipv6 (/48)"),
    ],
    ids=["ipv4-halves", "ipv6-halves"],
)
def test_halves_of_the_internet_are_refused_before_anything(aws, cidrs, words):
    res = run_playbook("playbooks/network.yml", aws, extra_vars={"network_ssh_allowed_cidrs": cidrs})
    assert res.rc != 0
    assert words in res.stdout, res
    assert (
        aws.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["lmpspot"]}])["Vpcs"]
        == []
    )
