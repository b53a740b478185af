"""lmpspot.aws.batch_* modules against a real moto server, through real playbooks.

Each test: check mode (changed, nothing created) -> apply -> apply again (changed=0) ->
state asserted through boto3 -> a real change -> absent. The network, IAM roles and
launch template the compute environments need are created here with boto3.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

COMPUTE_PB = "tests/integration/playbooks/batch_compute.yml"
JOBDEF_PB = "tests/integration/playbooks/batch_job_definition.yml"
PREFIX = "lmpspot-test"
SPOT = f"{PREFIX}-gpu-spot"
ONDEMAND = f"{PREFIX}-gpu-ondemand"
QUEUE = f"{PREFIX}-gpu"
JOBDEF = "lmpspot-test-lammps"

ASSUME_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
ASSUME_BATCH = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "batch.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def batch_prereqs(aws) -> dict[str, str]:
    """VPC, subnet, security group, instance profile, service role, launch template."""
    ec2 = aws.client("ec2")
    iam = aws.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.16.0/20", AvailabilityZone="us-east-2a")
    sg = ec2.create_security_group(GroupName=f"{PREFIX}-batch", Description="batch", VpcId=vpc)
    iam.create_role(RoleName=f"{PREFIX}-instance", AssumeRolePolicyDocument=json.dumps(ASSUME_EC2))
    profile = iam.create_instance_profile(InstanceProfileName=f"{PREFIX}-instance")
    iam.add_role_to_instance_profile(InstanceProfileName=f"{PREFIX}-instance", RoleName=f"{PREFIX}-instance")
    # moto insists on a service role; real AWS would use the service-linked role.
    service = iam.create_role(
        RoleName=f"{PREFIX}-batch-service", AssumeRolePolicyDocument=json.dumps(ASSUME_BATCH)
    )
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{PREFIX}-gpu",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}},
    )
    return {
        "batch_test_subnet_id": subnet["Subnet"]["SubnetId"],
        "batch_test_security_group_id": sg["GroupId"],
        "batch_test_instance_profile_arn": profile["InstanceProfile"]["Arn"],
        "batch_test_service_role_arn": service["Role"]["Arn"],
        "batch_test_launch_template_id": lt["LaunchTemplate"]["LaunchTemplateId"],
    }


def envs_by_name(batch) -> dict[str, dict]:
    return {
        e["computeEnvironmentName"]: e for e in batch.describe_compute_environments()["computeEnvironments"]
    }


def queues_by_name(batch) -> dict[str, dict]:
    return {q["jobQueueName"]: q for q in batch.describe_job_queues()["jobQueues"]}


def queue_order(queue: dict) -> list[str]:
    return [
        o["computeEnvironment"] for o in sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])
    ]


def test_compute_environments_and_queue(aws, playbook):
    batch = aws.client("batch")
    base = batch_prereqs(aws)

    # Check mode: reports the three creations, creates nothing.
    res = playbook(COMPUTE_PB, aws, "--check", extra_vars=base)
    assert res.rc == 0, res
    assert res.changed == 3, res
    assert envs_by_name(batch) == {}
    assert queues_by_name(batch) == {}

    res = playbook(COMPUTE_PB, aws, extra_vars=base)
    assert res.rc == 0, res
    assert res.changed == 3, res
    res = playbook(COMPUTE_PB, aws, extra_vars=base)
    assert res.rc == 0, res
    assert res.changed == 0, res

    envs = envs_by_name(batch)
    assert set(envs) == {SPOT, ONDEMAND}
    spot = envs[SPOT]
    cr = spot["computeResources"]
    assert spot["type"] == "MANAGED"
    assert spot["state"] == "ENABLED"
    assert spot["tags"] == {"project": "lmpspot", "component": "batch"}
    assert cr["type"] == "SPOT"
    assert cr["allocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert sorted(cr["instanceTypes"]) == ["g5.xlarge", "g6.xlarge"]
    assert cr["launchTemplate"] == {
        "launchTemplateId": base["batch_test_launch_template_id"],
        "version": "$Latest",
    }
    assert cr["ec2Configuration"] == [{"imageType": "ECS_AL2_NVIDIA"}]
    assert cr["bidPercentage"] == 90
    assert (cr["minvCpus"], cr["maxvCpus"]) == (0, 64)
    assert cr["instanceRole"] == base["batch_test_instance_profile_arn"]
    assert cr["subnets"] == [base["batch_test_subnet_id"]]
    assert cr["securityGroupIds"] == [base["batch_test_security_group_id"]]
    assert cr["tags"] == {"project": "lmpspot", "component": "batch"}
    assert envs[ONDEMAND]["computeResources"]["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    assert envs[ONDEMAND]["computeResources"]["type"] == "EC2"

    queue = queues_by_name(batch)[QUEUE]
    assert queue["priority"] == 10
    assert queue["state"] == "ENABLED"
    assert queue_order(queue) == [spot["computeEnvironmentArn"], envs[ONDEMAND]["computeEnvironmentArn"]]
    assert queue["tags"] == {"project": "lmpspot", "component": "batch"}

    # In-place changes: queue priority, environment state, tags. Exactly those change.
    changed_vars = {
        **base,
        "batch_test_queue_priority": 20,
        "batch_test_ondemand_state": "DISABLED",
    }
    res = playbook(COMPUTE_PB, aws, extra_vars=changed_vars)
    assert res.rc == 0, res
    assert res.changed == 2, res
    res = playbook(COMPUTE_PB, aws, extra_vars=changed_vars)
    assert res.changed == 0, res
    assert envs_by_name(batch)[ONDEMAND]["state"] == "DISABLED"
    assert queues_by_name(batch)[QUEUE]["priority"] == 20

    # An immutable change (instance types with a regular service role) is refused
    # without replace=true, and nothing is touched.
    new_types = {**changed_vars, "batch_test_spot_instance_types": ["p4d.24xlarge"]}
    res = playbook(COMPUTE_PB, aws, extra_vars=new_types)
    assert res.rc != 0, res
    assert "must be replaced" in res.stdout, res
    assert "replace=true" in res.stdout, res
    assert f"job queues {QUEUE}" in res.stdout, res
    assert sorted(envs_by_name(batch)[SPOT]["computeResources"]["instanceTypes"]) == [
        "g5.xlarge",
        "g6.xlarge",
    ]

    # With replace=true: check mode touches nothing, then the real run replaces it and
    # puts it back in the queue at its former position.
    replace_vars = {**new_types, "batch_test_replace": True}
    res = playbook(COMPUTE_PB, aws, "--check", extra_vars=replace_vars)
    assert res.rc == 0, res
    assert res.changed == 1, res
    assert sorted(envs_by_name(batch)[SPOT]["computeResources"]["instanceTypes"]) == [
        "g5.xlarge",
        "g6.xlarge",
    ]
    res = playbook(COMPUTE_PB, aws, extra_vars=replace_vars)
    assert res.rc == 0, res
    assert res.changed == 1, res
    envs = envs_by_name(batch)
    assert envs[SPOT]["computeResources"]["instanceTypes"] == ["p4d.24xlarge"]
    assert envs[SPOT]["computeResources"]["launchTemplate"]["version"] == "$Latest"
    assert envs[SPOT]["state"] == "ENABLED"
    assert envs[SPOT]["tags"] == {"project": "lmpspot", "component": "batch"}
    assert queue_order(queues_by_name(batch)[QUEUE]) == [
        envs[SPOT]["computeEnvironmentArn"],
        envs[ONDEMAND]["computeEnvironmentArn"],
    ]
    res = playbook(COMPUTE_PB, aws, extra_vars=replace_vars)
    assert res.changed == 0, res

    # Absent: queue, then both environments; again: nothing to do.
    absent = {**replace_vars, "batch_test_state": "absent"}
    res = playbook(COMPUTE_PB, aws, extra_vars=absent)
    assert res.rc == 0, res
    assert res.changed == 2, res  # the queue task and the (looped) environments task
    assert queues_by_name(batch) == {}
    assert envs_by_name(batch) == {}
    res = playbook(COMPUTE_PB, aws, extra_vars=absent)
    assert res.rc == 0, res
    assert res.changed == 0, res


def active_revisions(batch) -> list[dict]:
    defs = batch.describe_job_definitions(jobDefinitionName=JOBDEF, status="ACTIVE")
    return sorted(defs["jobDefinitions"], key=lambda d: d["revision"])


def test_job_definition_revisions(aws, playbook):
    batch = aws.client("batch")

    res = playbook(JOBDEF_PB, aws, "--check")
    assert res.rc == 0, res
    assert res.changed == 1, res
    assert active_revisions(batch) == []

    res = playbook(JOBDEF_PB, aws)
    assert res.rc == 0, res
    assert res.changed == 1, res
    # Same content, environment given in another order: no new revision.
    reordered = {
        "batch_test_environment": {
            "LMPSPOT_CHECKPOINT_EVERY": "1000",
            "LMPSPOT_BUCKET": "lmpspot-test-data",
            "OMP_NUM_THREADS": "4",
        }
    }
    res = playbook(JOBDEF_PB, aws, extra_vars=reordered)
    assert res.rc == 0, res
    assert res.changed == 0, res

    revs = active_revisions(batch)
    assert [r["revision"] for r in revs] == [1]
    jd = revs[0]
    container = jd["containerProperties"]
    reqs = {r["type"]: r["value"] for r in container["resourceRequirements"]}
    assert reqs == {"GPU": "1", "VCPU": "4", "MEMORY": "15000"}
    assert container["command"] == ["lmpspot-run", "--input", "Ref::input"]
    assert container["linuxParameters"]["sharedMemorySize"] == 2048
    assert container["linuxParameters"]["initProcessEnabled"] is True
    assert container["linuxParameters"]["devices"] == [
        {"hostPath": "/dev/fuse", "permissions": ["READ", "WRITE"]}
    ]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/lmpspot/test/jobs"},
    }
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "OMP_NUM_THREADS": "4",
        "LMPSPOT_BUCKET": "lmpspot-test-data",
        "LMPSPOT_CHECKPOINT_EVERY": "1000",
    }
    assert jd["timeout"] == {"attemptDurationSeconds": 3600}
    assert jd["retryStrategy"]["attempts"] == 5
    rules = jd["retryStrategy"]["evaluateOnExit"]
    assert [(r.get("onStatusReason"), r.get("onExitCode"), r.get("onReason")) for r in rules] == [
        ("Host EC2*", None, None),
        (None, "75", None),
        (None, None, "*"),
    ]
    assert [r["action"].upper() for r in rules] == ["RETRY", "RETRY", "EXIT"]
    assert jd["parameters"] == {"input": "s3://lmpspot-test-data/inputs/in.chain"}
    assert jd["tags"] == {"project": "lmpspot"}

    # One real change -> exactly one new revision; applying it again -> none.
    longer = {"batch_test_attempt_duration": 7200}
    res = playbook(JOBDEF_PB, aws, extra_vars=longer)
    assert res.rc == 0, res
    assert res.changed == 1, res
    res = playbook(JOBDEF_PB, aws, extra_vars=longer)
    assert res.changed == 0, res
    revs = active_revisions(batch)
    assert [r["revision"] for r in revs] == [1, 2]
    assert revs[-1]["timeout"] == {"attemptDurationSeconds": 7200}

    # A tag change is applied to the latest revision without registering a new one, and
    # deregister_old_revisions keeps only the latest; then there is nothing more to do.
    cleanup = {
        **longer,
        "batch_test_tags": {"project": "lmpspot", "stage": "test"},
        "batch_test_deregister_old": True,
    }
    res = playbook(JOBDEF_PB, aws, extra_vars=cleanup)
    assert res.rc == 0, res
    assert res.changed == 1, res
    revs = active_revisions(batch)
    assert [r["revision"] for r in revs] == [2]
    assert revs[-1]["tags"] == {"project": "lmpspot", "stage": "test"}
    all_revs = batch.describe_job_definitions(jobDefinitionName=JOBDEF)["jobDefinitions"]
    assert sorted(r["revision"] for r in all_revs) == [1, 2]  # no revision 3
    res = playbook(JOBDEF_PB, aws, extra_vars=cleanup)
    assert res.changed == 0, res

    # Absent deregisters every ACTIVE revision.
    gone = {**cleanup, "batch_test_state": "absent"}
    res = playbook(JOBDEF_PB, aws, extra_vars=gone)
    assert res.rc == 0, res
    assert res.changed == 1, res
    assert active_revisions(batch) == []
    res = playbook(JOBDEF_PB, aws, extra_vars=gone)
    assert res.changed == 0, res


def test_scheduling_policy(aws, playbook):
    batch = aws.client("batch")
    pb = "tests/integration/playbooks/batch_scheduling_policy.yml"

    def policies():
        arns = [p["arn"] for p in batch.list_scheduling_policies()["schedulingPolicies"]]
        return batch.describe_scheduling_policies(arns=arns)["schedulingPolicies"] if arns else []

    res = playbook(pb, aws, "--check")
    assert (res.rc, res.changed) == (0, 1), res
    assert policies() == []
    res = playbook(pb, aws)
    assert (res.rc, res.changed) == (0, 1), res
    res = playbook(pb, aws)
    assert (res.rc, res.changed) == (0, 0), res
    [policy] = policies()
    assert policy["name"] == "lmpspot-test-fairshare"
    assert policy["tags"] == {"project": "lmpspot"}
    fair = policy["fairsharePolicy"]
    assert (fair["shareDecaySeconds"], fair["computeReservation"]) == (3600, 10)
    assert {s["shareIdentifier"]: s.get("weightFactor") for s in fair["shareDistribution"]} == {
        "proteins": None,
        "polymer": 0.5,
    }

    res = playbook(pb, aws, extra_vars={"batch_test_polymer_weight": 0.25})
    assert (res.rc, res.changed) == (0, 1), res
    [policy] = policies()
    weights = {
        s["shareIdentifier"]: s.get("weightFactor") for s in policy["fairsharePolicy"]["shareDistribution"]
    }
    assert weights["polymer"] == 0.25

    res = playbook(pb, aws, extra_vars={"batch_test_state": "absent"})
    assert (res.rc, res.changed) == (0, 1), res
    assert policies() == []
