"""playbooks/bastion.yml against the local AWS: check mode, apply, idempotence, the real
state through boto3 (launch template with IMDSv2 and encrypted gp3, public subnet, bastion
security group, AMI looked up), the operator SSH config, the Elastic IP, and absent."""

from __future__ import annotations

import fnmatch

import pytest

pytestmark = pytest.mark.integration

PROJECT_FILTERS = [
    {"Name": "tag:Project", "Values": ["lmpspot"]},
    {"Name": "tag:Environment", "Values": ["local"]},
]


def changed_tasks(res) -> list[str]:
    """The TASK headers of tasks that reported changed (for assertion messages)."""
    out, task = [], ""
    for line in res.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:"):
            out.append(task)
    return out


def bastions(ec2, states=("pending", "running")):
    res = ec2.describe_instances(
        Filters=[*PROJECT_FILTERS, {"Name": "tag:Role", "Values": ["bastion"]},
                 {"Name": "instance-state-name", "Values": list(states)}]
    )  # fmt: skip
    return [i for r in res["Reservations"] for i in r["Instances"]]


@pytest.fixture
def network(aws, playbook):
    res = playbook("playbooks/network.yml", aws)
    assert res.rc == 0, res
    return aws


def test_bastion_lifecycle(network, playbook, tmp_path):
    aws = network
    ec2 = aws.client("ec2")
    ssh_config = tmp_path / "ssh" / "config"
    ev = {"bastion_instance_ssh_config_path": str(ssh_config)}

    check = playbook("playbooks/bastion.yml", aws, "--check", extra_vars=ev)
    assert check.rc == 0, check
    assert check.changed > 0
    assert bastions(ec2) == []  # check mode launched nothing

    first = playbook("playbooks/bastion.yml", aws, extra_vars=ev)
    assert first.rc == 0, first
    [inst] = bastions(ec2)
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["Name"] == "lmpspot-local-bastion" and tags["Role"] == "bastion"
    assert tags["Project"] == "lmpspot" and tags["ManagedBy"] == "lmpspot"
    assert inst["InstanceType"] == "t3.micro"

    # public subnet of the network layer, bastion security group
    subnet = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"][0]
    assert {t["Key"]: t["Value"] for t in subnet["Tags"]}["Tier"] == "public"
    assert [g["GroupName"] for g in inst["SecurityGroups"]] == ["lmpspot-local-bastion"]

    # launch template: IMDSv2 required, hop limit 1, encrypted gp3 root, public IP
    lt = ec2.describe_launch_template_versions(
        LaunchTemplateName="lmpspot-local-bastion", Versions=["$Latest"]
    )
    data = lt["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    [bdm] = data["BlockDeviceMappings"]
    assert bdm["Ebs"]["Encrypted"] is True and bdm["Ebs"]["VolumeType"] == "gp3"
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is True

    # the AMI was looked up: the newest available x86_64 Amazon Linux 2023 image
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
    matching = [
        i for i in images["Images"] if fnmatch.fnmatch(i["Name"], "al2023-ami-2023.*-kernel-6.1-x86_64")
    ]
    newest = max(matching, key=lambda i: i["CreationDate"])
    assert data["ImageId"] == inst["ImageId"] == newest["ImageId"]

    # operator SSH config: the bastion by address, private hosts through it
    text = ssh_config.read_text()
    assert oct(ssh_config.stat().st_mode & 0o777) == "0o600"
    assert f"HostName {inst['PublicIpAddress']}" in text
    assert "ProxyJump lmpspot-local-bastion" in text
    assert "Host lmpspot-local-sim-* 10.42.*" in text

    again = playbook("playbooks/bastion.yml", aws, extra_vars=ev)
    assert again.rc == 0, again
    assert again.changed == 0, changed_tasks(again)
    assert len(bastions(ec2)) == 1

    # Elastic IP: attached, reused on re-run, in the SSH config
    ev_eip = {**ev, "bastion_instance_elastic_ip": True}
    eip = playbook("playbooks/bastion.yml", aws, extra_vars=ev_eip)
    assert eip.rc == 0, eip
    addrs = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["lmpspot-local-bastion"]}])
    [addr] = addrs["Addresses"]
    assert addr["InstanceId"] == inst["InstanceId"]
    assert f"HostName {addr['PublicIp']}" in ssh_config.read_text()
    # Re-running keeps the same address (moto makes ec2_eip report changed each time, so
    # only the state is checked here; see roles/bastion_instance/README.md).
    eip_again = playbook("playbooks/bastion.yml", aws, extra_vars=ev_eip)
    assert eip_again.rc == 0, eip_again
    assert all("Ensure the Elastic IP" in t for t in changed_tasks(eip_again))
    addrs = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["lmpspot-local-bastion"]}])
    assert [(a["PublicIp"], a["InstanceId"]) for a in addrs["Addresses"]] == [
        (addr["PublicIp"], inst["InstanceId"])
    ]

    gone = playbook("playbooks/bastion.yml", aws, extra_vars={**ev, "bastion_instance_state": "absent"})
    assert gone.rc == 0, gone
    assert bastions(ec2) == []
    assert (
        ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["lmpspot-local-bastion"]}])[
            "Addresses"
        ]
        == []
    )
    lts = ec2.describe_launch_templates()["LaunchTemplates"]
    assert "lmpspot-local-bastion" not in [t["LaunchTemplateName"] for t in lts]


def test_check_mode_before_the_network_exists(aws, playbook):
    res = playbook("playbooks/bastion.yml", aws, "--check")
    assert res.rc == 0, res


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"bastion_instance_admin_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "private key"),
        ({"bastion_instance_volume_size_gb": 4}, "volume too small"),
        ({"bastion_instance_state": "gone"}, "bad state"),
    ],
)
def test_bad_input_fails_before_touching_aws(aws, playbook, extra, why):
    res = playbook("playbooks/bastion.yml", aws, extra_vars=extra)
    assert res.rc != 0, why
    assert aws.client("ec2").describe_launch_templates()["LaunchTemplates"] == []
