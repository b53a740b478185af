"""playbooks/bastion.yml against the local AWS: check mode, apply, idempotence, the real
state through boto3 (launch template with IMDSv2 and encrypted gp3, public subnet, bastion
security group, AMI looked up), the operator SSH config, the Elastic IP (idempotent), the
stop schedule (EventBridge Scheduler + its least-privilege role), and absent."""

from __future__ import annotations

import fnmatch
import json

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


SCHEDULE = {
    "bastion_instance_schedule_enabled": True,
    "bastion_instance_schedule_timezone": "Europe/Berlin",
    "bastion_instance_schedule_start_time": "07:30",
    "bastion_instance_schedule_stop_time": "19:00",
    "bastion_instance_schedule_weekdays": ["MON", "TUE", "WED", "THU", "FRI"],
}


def schedules(aws) -> dict[str, dict]:
    client = aws.client("scheduler")
    names = [s["Name"] for s in client.list_schedules()["Schedules"]]
    return {n: client.get_schedule(Name=n) for n in names if n.startswith("lmpspot-local-bastion")}


def assert_schedule(aws, instance_id):
    """Two schedules with universal EC2 targets on this instance, through a role that
    Scheduler (of this account only) may assume and that may only stop/start it."""
    got = schedules(aws)
    assert set(got) == {"lmpspot-local-bastion-start", "lmpspot-local-bastion-stop"}
    start, stop = got["lmpspot-local-bastion-start"], got["lmpspot-local-bastion-stop"]
    assert start["ScheduleExpression"] == "cron(30 7 ? * MON,TUE,WED,THU,FRI *)"
    assert stop["ScheduleExpression"] == "cron(0 19 ? * MON,TUE,WED,THU,FRI *)"
    for s, action in ((start, "startInstances"), (stop, "stopInstances")):
        assert s["ScheduleExpressionTimezone"] == "Europe/Berlin"
        assert s["State"] == "ENABLED" and s["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert s["Target"]["Arn"] == f"arn:aws:scheduler:::aws-sdk:ec2:{action}"
        assert json.loads(s["Target"]["Input"]) == {"InstanceIds": [instance_id]}
        assert s["Target"]["RoleArn"] == start["Target"]["RoleArn"]
    iam = aws.client("iam")
    role_name = start["Target"]["RoleArn"].rsplit("/", 1)[1]
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["Arn"] == start["Target"]["RoleArn"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    account = aws.client("sts").get_caller_identity()["Account"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    assert doc["Statement"] == [
        {
            "Sid": "StopStartBastion",
            "Effect": "Allow",
            "Action": ["ec2:StartInstances", "ec2:StopInstances"],
            "Resource": f"arn:aws:ec2:us-east-2:{account}:instance/{instance_id}",
        }
    ]


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
    # Re-running keeps the same address and changes nothing.
    eip_again = playbook("playbooks/bastion.yml", aws, extra_vars=ev_eip)
    assert eip_again.rc == 0, eip_again
    assert eip_again.changed == 0, changed_tasks(eip_again)
    addrs = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["lmpspot-local-bastion"]}])
    assert [(a["PublicIp"], a["InstanceId"]) for a in addrs["Addresses"]] == [
        (addr["PublicIp"], inst["InstanceId"])
    ]
    assert {t["Key"]: t["Value"] for t in addrs["Addresses"][0]["Tags"]}["Project"] == "lmpspot"

    # Stop schedule: check mode predicts it and creates nothing; apply; re-apply changed=0
    ev_sched = {**ev_eip, **SCHEDULE}
    sched_check = playbook("playbooks/bastion.yml", aws, "--check", extra_vars=ev_sched)
    assert sched_check.rc == 0, sched_check
    assert list(
        dict.fromkeys(t.split("[bastion_instance : ")[1].split("]")[0] for t in changed_tasks(sched_check))
    ) == [
        "Ensure the scheduler's role (trusts scheduler.amazonaws.com for this account only)",
        "Ensure the start and stop schedules",
    ]
    assert sched_check.stdout.count("changed: [localhost] => (item=lmpspot-local-bastion-st") == 2
    assert schedules(aws) == {}
    sched = playbook("playbooks/bastion.yml", aws, extra_vars=ev_sched)
    assert sched.rc == 0, sched
    sched_again = playbook("playbooks/bastion.yml", aws, extra_vars=ev_sched)
    assert sched_again.rc == 0, sched_again
    assert sched_again.changed == 0, changed_tasks(sched_again)
    assert_schedule(aws, inst["InstanceId"])

    # (Turning the schedule off runs the same removal tasks as absent, below.)

    gone = playbook("playbooks/bastion.yml", aws, extra_vars={**ev_sched, "bastion_instance_state": "absent"})
    assert gone.rc == 0, gone
    assert bastions(ec2) == []
    assert schedules(aws) == {}
    assert "lmpspot-local-bastion-schedule" not in [
        r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]
    ]
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
        ({"bastion_instance_schedule_stop_time": "7pm"}, "bastion_instance_schedule_stop_time"),
        ({"bastion_instance_schedule_timezone": "Berlin"}, "bastion_instance_schedule_timezone"),
        ({"bastion_instance_schedule_weekdays": ["MON", "MO"]}, "bastion_instance_schedule_weekdays"),
    ],
)
def test_bad_input_fails_before_touching_aws(aws, playbook, extra, why):
    res = playbook("playbooks/bastion.yml", aws, extra_vars=extra)
    assert res.rc != 0, why
    if why.startswith("bastion_instance_schedule_"):
        assert why in res.stdout, res  # the message names the setting
    assert aws.client("ec2").describe_launch_templates()["LaunchTemplates"] == []
