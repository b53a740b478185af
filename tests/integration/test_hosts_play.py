"""playbooks/hosts.yml against the local AWS: N GPU spot instances from a launch template
(spot market, IMDSv2 with hop limit 2, encrypted gp3, private subnet, sim-hosts SG, project and
Role tags), N=0 by default, idempotence, scale-down, discovery through the amazon.aws.aws_ec2
inventory plugin (inventories/ec2/aws_ec2.yml), and absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def sim_hosts(ec2, states=("pending", "running")):
    res = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Project", "Values": ["lmpspot"]},
            {"Name": "tag:Environment", "Values": ["local"]},
            {"Name": "tag:Role", "Values": ["sim-host"]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )
    return [i for r in res["Reservations"] for i in r["Instances"]]


def changed_tasks(res) -> list[str]:
    out, task = [], ""
    for line in res.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:"):
            out.append(task)
    return out


def test_sim_hosts_lifecycle(aws, playbook):
    ec2 = aws.client("ec2")
    assert playbook("playbooks/network.yml", aws).rc == 0

    default = playbook("playbooks/hosts.yml", aws)
    assert default.rc == 0, default
    assert sim_hosts(ec2) == []  # N = 0 by default: nothing runs, nothing costs

    check = playbook("playbooks/hosts.yml", aws, "--check", extra_vars={"sim_hosts_count": 2})
    assert check.rc == 0, check
    assert check.changed > 0 and sim_hosts(ec2) == []

    up = playbook("playbooks/hosts.yml", aws, extra_vars={"sim_hosts_count": 2})
    assert up.rc == 0, up
    hosts = sim_hosts(ec2)
    assert len(hosts) == 2
    for inst in hosts:
        tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
        assert tags["Role"] == "sim-host" and tags["Project"] == "lmpspot" and tags["ManagedBy"] == "lmpspot"
        assert inst["InstanceType"] == "g5.xlarge"
        subnet = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"][0]
        assert {t["Key"]: t["Value"] for t in subnet["Tags"]}["Tier"] == "private"
        assert "PublicIpAddress" not in inst
        assert [g["GroupName"] for g in inst["SecurityGroups"]] == ["lmpspot-local-sim-hosts"]

    lt = ec2.describe_launch_template_versions(
        LaunchTemplateName="lmpspot-local-sim-host", Versions=["$Latest"]
    )
    data = lt["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["InstanceMarketOptions"]["MarketType"] == "spot"
    assert data["InstanceMarketOptions"]["SpotOptions"]["InstanceInterruptionBehavior"] == "terminate"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    [bdm] = data["BlockDeviceMappings"]
    assert bdm["Ebs"]["Encrypted"] is True and bdm["Ebs"]["VolumeType"] == "gp3"
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    assert {t["Key"]: t["Value"] for t in data["TagSpecifications"][0]["Tags"]}["Role"] == "sim-host"

    again = playbook("playbooks/hosts.yml", aws, extra_vars={"sim_hosts_count": 2})
    assert again.rc == 0, again
    assert again.changed == 0, changed_tasks(again)
    assert len(sim_hosts(ec2)) == 2

    # The aws_ec2 inventory plugin finds them by project tags (local AWS through the env).
    env = {**os.environ, **aws.env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    inventory_cmd = Path(sys.executable).parent / "ansible-inventory"
    inv = subprocess.run(
        [str(inventory_cmd), "-i", "inventories/ec2/aws_ec2.yml", "--list"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    groups = json.loads(inv.stdout)
    found = set(groups["role_sim_host"]["hosts"])
    assert found == {i["PrivateIpAddress"] for i in hosts}

    down = playbook("playbooks/hosts.yml", aws, extra_vars={"sim_hosts_count": 1})
    assert down.rc == 0, down
    assert len(sim_hosts(ec2)) == 1

    gone = playbook("playbooks/hosts.yml", aws, extra_vars={"sim_hosts_state": "absent"})
    assert gone.rc == 0, gone
    assert sim_hosts(ec2) == []
    names = [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    assert "lmpspot-local-sim-host" not in names


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"sim_hosts_count": -1}, "negative count"),
        ({"sim_hosts_count": 1000}, "absurd count"),
        ({"sim_hosts_spot_max_price": "cheap"}, "price not a number"),
        ({"sim_hosts_imds_hop_limit": 0}, "hop limit"),
    ],
)
def test_bad_input_fails_before_touching_aws(aws, playbook, extra, why):
    res = playbook("playbooks/hosts.yml", aws, extra_vars=extra)
    assert res.rc != 0, why
    assert aws.client("ec2").describe_launch_templates()["LaunchTemplates"] == []
