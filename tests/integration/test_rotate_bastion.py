"""Bastion replacement (playbooks/rotate.yml --tags instances) against the local AWS: a
newer AMI appears, --check predicts without touching, the run launches a replacement from
the launch template, moves the Elastic IP to it (same address), makes it THE bastion and
terminates the old one; a second run, and the bastion play itself, change nothing.
(Against the local AWS the instances are records, not machines: the host-key save and
restore plays match no host here; docs/ROTATION.md.)"""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.integration

FILTERS = [{"Name": "tag:Project", "Values": ["lmpspot"]}, {"Name": "tag:Environment", "Values": ["local"]}]


def _instances(ec2, role: str, states=("pending", "running")) -> list[dict]:
    res = ec2.describe_instances(
        Filters=[
            *FILTERS,
            {"Name": "tag:Role", "Values": [role]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )
    return [i for r in res["Reservations"] for i in r["Instances"]]


def _ami(ec2, prefix: str, n: int) -> str:
    """A new x86_64 AMI of this account (a copy of one of Amazon's; moto's RegisterImage
    sets no architecture, which the bastion's AMI lookup filters on)."""
    src = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
    return ec2.copy_image(
        SourceImageId=src["Images"][0]["ImageId"], SourceRegion="us-east-2", Name=f"{prefix}-{n}"
    )["ImageId"]


def test_replace_bastion_keeps_address(aws, playbook):
    ec2 = aws.client("ec2")
    prefix = f"lmpspot-rot-{uuid.uuid4().hex[:6]}"
    ami1 = _ami(ec2, prefix, 1)
    ev = {
        "network_interface_endpoints_enabled": False,
        "bastion_instance_elastic_ip": True,
        "bastion_instance_ami_owner": aws.client("sts").get_caller_identity()["Account"],
        "bastion_instance_ami_name": f"{prefix}-*",
    }
    net = playbook("playbooks/network.yml", aws, extra_vars=ev)
    assert net.rc == 0, net
    up = playbook("playbooks/bastion.yml", aws, extra_vars=ev)
    assert up.rc == 0, up
    [old] = _instances(ec2, "bastion")
    assert old["ImageId"] == ami1
    [eip] = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["lmpspot-local-bastion"]}])[
        "Addresses"
    ]
    assert eip["InstanceId"] == old["InstanceId"]

    time.sleep(1.1)  # a later creation date
    ami2 = _ami(ec2, prefix, 2)
    check = playbook("playbooks/rotate.yml", aws, "--tags", "instances", "--check", extra_vars=ev)
    assert check.rc == 0 and check.changed > 0, check
    assert f"would replace {old['InstanceId']} ({ami1}) by a new instance on {ami2}" in check.stdout, check
    assert [i["InstanceId"] for i in _instances(ec2, "bastion")] == [old["InstanceId"]]
    assert _instances(ec2, "bastion-next") == []

    run = playbook("playbooks/rotate.yml", aws, "--tags", "instances", extra_vars=ev)
    assert run.rc == 0, run
    [new] = _instances(ec2, "bastion")
    assert new["InstanceId"] != old["InstanceId"] and new["ImageId"] == ami2
    assert {t["Key"]: t["Value"] for t in new["Tags"]}["Name"] == "lmpspot-local-bastion"
    assert _instances(ec2, "bastion-next") == []
    [moved] = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"]
    assert moved["PublicIp"] == eip["PublicIp"] and moved["InstanceId"] == new["InstanceId"]
    gone = ec2.describe_instances(InstanceIds=[old["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert gone["State"]["Name"] == "terminated"

    again = playbook("playbooks/rotate.yml", aws, "--tags", "instances", extra_vars=ev)
    assert again.rc == 0 and again.changed == 0, again
    assert f"{new['InstanceId']} already runs the newest AMI {ami2}" in again.stdout, again
    site = playbook("playbooks/bastion.yml", aws, extra_vars=ev)
    assert site.rc == 0 and site.changed == 0, site
    assert [i["InstanceId"] for i in _instances(ec2, "bastion")] == [new["InstanceId"]]

    no_eip = playbook(
        "playbooks/rotate.yml",
        aws,
        "--tags",
        "instances",
        extra_vars={**ev, "bastion_instance_elastic_ip": False},
    )
    assert no_eip.rc != 0 and "bastion_instance_elastic_ip: true" in no_eip.stdout, no_eip
