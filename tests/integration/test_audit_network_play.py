"""playbooks/audit.yml's network checks over a real network layer (playbooks/network.yml)
in the local AWS: the expected network is derived by the audit role from the inventory
(``audit__network``), so a clean layer gives no finding; a deleted S3 gateway endpoint and
a simulation-hosts rule from outside the bastion's group are then reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_playbook

pytestmark = pytest.mark.integration

P = "lmpspot-local"
EV = {
    "audit_checks": ["security_groups", "drift"],
    "audit_account_wide": False,
    "audit_drift_expected": {"network": "{{ audit__network }}"},
}


def _findings(aws) -> list:
    report = json.loads((Path(aws.state_dir) / "audit" / "audit.json").read_text())
    assert report["errors"] == [], report["errors"]
    return report["findings"]


def test_network_audit_clean_then_seeded(moto_server):
    aws = moto_server
    aws.reset()
    assert run_playbook("playbooks/network.yml", aws).rc == 0
    clean = run_playbook("playbooks/audit.yml", aws, extra_vars=EV)
    assert clean.rc == 0, clean
    assert _findings(aws) == []

    ec2 = aws.client("ec2")
    (s3,) = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "service-name", "Values": ["com.amazonaws.us-east-2.s3"]}]
    )["VpcEndpoints"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[s3["VpcEndpointId"]])
    (sim,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{P}-sim-hosts"]}])[
        "SecurityGroups"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=sim["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.42.0.0/16"}]}
        ],
    )
    seeded = run_playbook("playbooks/audit.yml", aws, extra_vars=EV)
    assert seeded.rc == 2, seeded  # high findings fail the play
    got = {(f["id"], f["resource"]) for f in _findings(aws)}
    assert got == {
        ("drift.missing", "com.amazonaws.us-east-2.s3"),
        ("sg.ssh_only_from", sim["GroupId"]),
    }, got
