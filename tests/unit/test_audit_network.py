"""The audit's network checks (module_utils/audit_network.py): parametrized tables."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import audit_network as an

P = "lmpspot-local-"
S3 = "com.amazonaws.us-east-2.s3"
ECR = "com.amazonaws.us-east-2.ecr.api"


def _named(name, **kw):
    return {"Tags": [{"Key": "Name", "Value": name}], **kw}


EXPECTED = {
    "subnets": [f"{P}public-us-east-2a", f"{P}private-us-east-2a"],
    "route_tables": [f"{P}public", f"{P}private"],
    "internet_gateway": f"{P}igw",
    "security_groups": [f"{P}bastion", f"{P}sim-hosts"],
    "endpoints": [{"service": S3, "type": "Gateway"}, {"service": ECR, "type": "Interface"}],
}
ACTUAL = {
    "subnets": [_named(f"{P}public-us-east-2a"), _named(f"{P}private-us-east-2a")],
    "route_tables": [
        _named(f"{P}public", RouteTableId="rtb-pub"),
        _named(f"{P}private", RouteTableId="rtb-priv"),
    ],
    "internet_gateways": [_named(f"{P}igw")],
    "security_groups": [{"GroupName": f"{P}bastion"}, {"GroupName": f"{P}sim-hosts"}],
    "endpoints": [
        {
            "VpcEndpointId": "vpce-s3",
            "ServiceName": S3,
            "VpcEndpointType": "Gateway",
            "State": "available",
            "RouteTableIds": ["rtb-pub", "rtb-priv"],
        },
        {
            "VpcEndpointId": "vpce-ecr",
            "ServiceName": ECR,
            "VpcEndpointType": "Interface",
            "State": "available",
        },
    ],
}


def _without(key, pred):
    actual = copy.deepcopy(ACTUAL)
    actual[key] = [x for x in actual[key] if not pred(x)]
    return actual


def _edit(fn):
    actual = copy.deepcopy(ACTUAL)
    fn(actual)
    return actual


MISSING = ("drift.missing", "high")


@pytest.mark.parametrize(
    ("actual", "want"),
    [
        (ACTUAL, []),
        # the S3 gateway endpoint deleted: private subnets without NAT lose S3
        (_without("endpoints", lambda e: e["ServiceName"] == S3), [(*MISSING, S3)]),
        (_edit(lambda a: a["endpoints"][0].update(State="deleted")), [(*MISSING, S3)]),
        # an S3 *interface* endpoint does not stand in for the gateway one
        (_edit(lambda a: a["endpoints"][0].update(VpcEndpointType="Interface")), [(*MISSING, S3)]),
        (_without("endpoints", lambda e: e["ServiceName"] == ECR), [(*MISSING, ECR)]),
        (
            _edit(lambda a: a["endpoints"][0].update(RouteTableIds=["rtb-pub"])),
            [("drift.config", "high", "vpce-s3")],
        ),
        (_without("route_tables", lambda r: r["RouteTableId"] == "rtb-priv"), [(*MISSING, f"{P}private")]),
        (
            _without("subnets", lambda s: "private" in s["Tags"][0]["Value"]),
            [(*MISSING, f"{P}private-us-east-2a")],
        ),
        (
            _without("security_groups", lambda g: g["GroupName"].endswith("sim-hosts")),
            [(*MISSING, f"{P}sim-hosts")],
        ),
        (_without("internet_gateways", lambda g: True), [(*MISSING, f"{P}igw")]),
    ],
)
def test_network_drift(actual, want):
    got = an.check_network_drift(EXPECTED, actual)
    assert [(f["id"], f["severity"], f["resource"]) for f in got] == want
    assert all(f["message"] and f["fix"] for f in got)


def test_network_drift_empty_vpc_reports_everything():
    got = an.check_network_drift(EXPECTED, {})
    assert len(got) == 2 + 2 + 2 + 1 + 2 and {f["id"] for f in got} == {"drift.missing"}


BASTION = {"GroupName": f"{P}bastion", "GroupId": "sg-bastion", "IpPermissions": []}


def _sim(*perms):
    return {"GroupName": f"{P}sim-hosts", "GroupId": "sg-sim", "IpPermissions": list(perms)}


def _perm(proto="tcp", lo=22, hi=22, **src):
    return {"IpProtocol": proto, "FromPort": lo, "ToPort": hi, **src}


FROM_BASTION = {"UserIdGroupPairs": [{"GroupId": "sg-bastion"}]}


@pytest.mark.parametrize(
    ("perms", "flagged"),
    [
        ([_perm(**FROM_BASTION)], False),
        ([], False),
        ([_perm(IpRanges=[{"CidrIp": "0.0.0.0/0"}])], True),
        ([_perm(IpRanges=[{"CidrIp": "10.42.0.0/16"}])], True),  # the VPC: not through the bastion
        ([_perm(Ipv6Ranges=[{"CidrIpv6": "::/0"}])], True),
        ([_perm(PrefixListIds=[{"PrefixListId": "pl-1"}])], True),
        ([_perm(UserIdGroupPairs=[{"GroupId": "sg-other"}])], True),
        ([_perm(lo=0, hi=65535, **FROM_BASTION)], True),  # more than SSH from the bastion
        ([_perm(proto="-1", lo=None, hi=None, **FROM_BASTION)], True),
        ([_perm(**FROM_BASTION), _perm(lo=80, hi=80, IpRanges=[{"CidrIp": "0.0.0.0/0"}])], True),
    ],
)
def test_ssh_only_from(perms, flagged):
    got = an.check_ssh_only_from([BASTION, _sim(*perms)], {f"{P}sim-hosts": f"{P}bastion"})
    assert [(f["id"], f["severity"], f["resource"]) for f in got] == (
        [("sg.ssh_only_from", "high", "sg-sim")] if flagged else []
    )


def test_ssh_only_from_ignores_absent_groups():
    assert an.check_ssh_only_from([BASTION], {f"{P}sim-hosts": f"{P}bastion"}) == []
