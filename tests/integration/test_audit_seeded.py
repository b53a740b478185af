"""The audit's collectors and checks against a real local AWS (moto server), seeded.

Each kind of misconfiguration is made with boto3 in an emptied local AWS, then the audit
(``module_utils/audit*.py``, the code ``lmpspot.aws.audit_account`` runs) reads the
account and must report it, with its severity, on the seeded resource.

One limit of the local AWS shapes the Batch tests: moto (``use_docker: false``) marks
every job SUCCEEDED inside SubmitJob, so no job can be held RUNNABLE or RUNNING there.
The job checks therefore get DescribeJobs-shaped jobs, while the checkpoint they look
up is real: manifests written to, and listed from, the local S3.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import audit, audit_batch

pytestmark = pytest.mark.integration

TAGS = {"Project": "lmpspot", "Environment": "local", "ManagedBy": "lmpspot", "Owner": "polymer-lab"}
BUCKET = "lmpspot-local-results"
STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "digest": "sha256:" + "a" * 64,
            "size": 1,
            "mediaType": "application/vnd.docker.container.image.v1+json",
        },
        "layers": [],
    }
)


def _tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def cfg(**kw):
    base = {
        "project_tags": TAGS,
        "name_prefix": "lmpspot-local-",
        "iam_path": "/lmpspot/",
        "bucket_names": [BUCKET],
        "repository_names": ["lmpspot-local-lammps"],
        "checkpoint": {"bucket": BUCKET, "prefix": "checkpoints/", "interval": 600},
        "ssh_only_from": {"lmpspot-local-sim-hosts": "lmpspot-local-bastion"},
    }
    return {**base, **kw}


def run(aws, checks, now=None, **kw):
    clients = {}

    def client(service):
        clients.setdefault(service, aws.client(service))
        return clients[service]

    return audit.Audit(client, cfg(**kw), now=now).run(checks)


def by_id(result):
    out = {}
    for f in result["findings"]:
        out.setdefault(f["id"], []).append(f)
    return out


def assert_found(result, check_id, severity, resource_part):
    hits = [f for f in by_id(result).get(check_id, []) if resource_part in f["resource"]]
    assert hits, f"{check_id} on {resource_part} not found in {json.dumps(result['findings'], indent=1)}"
    assert {f["severity"] for f in hits} == {severity}, hits
    for f in hits:
        assert f["message"] and f["fix"], f


@pytest.fixture(scope="module")
def seeded(moto_server):
    """One emptied local AWS with every kind of misconfiguration, audited once (all checks).

    Seeding once and auditing once keeps this file to a few seconds on an idle machine;
    each test below asserts on its own kind.
    """
    aws = moto_server
    aws.reset()
    ids: dict = {"empty_drift": run(aws, ["drift"], expected=EXPECTED)}
    ec2, s3, iam, ecr = (aws.client(s) for s in ("ec2", "s3", "iam", "ecr"))
    loc = {"CreateBucketConfiguration": {"LocationConstraint": "us-east-2"}}

    # Security groups in someone else's VPC: open SSH, an open port over IPv6, an office range.
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    for key, port, rng in (
        ("sg_ssh", 22, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("sg_web", 8443, {"Ipv6Ranges": [{"CidrIpv6": "::/0"}]}),
        ("sg_office", 22, {"IpRanges": [{"CidrIp": "203.0.113.0/24"}]}),
        ("sg_halves", 22, {"IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}),
    ):
        ids[key] = ec2.create_security_group(GroupName=key, Description="seeded", VpcId=other)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=ids[key], IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **rng}]
        )

    # lmpspot's VPC (tagged) with the wrong CIDR, an untagged subnet and an untagged group.
    ids["vpc"] = ec2.create_vpc(
        CidrBlock="10.99.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tag_list({**TAGS, "Name": "lmpspot-local-vpc"})}],
    )["Vpc"]["VpcId"]
    ids["subnet_untagged"] = ec2.create_subnet(VpcId=ids["vpc"], CidrBlock="10.99.0.0/24")["Subnet"][
        "SubnetId"
    ]
    ids["subnet_tagged"] = ec2.create_subnet(
        VpcId=ids["vpc"],
        CidrBlock="10.99.1.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list(TAGS)}],
    )["Subnet"]["SubnetId"]
    ids["sg_untagged"] = ec2.create_security_group(
        GroupName="lmpspot-local-compute", Description="seeded", VpcId=ids["vpc"]
    )["GroupId"]

    # The network layer's pieces in that VPC, some deleted by hand: the S3 gateway endpoint
    # (made, then deleted), the private subnet (never made); the simulation hosts' group open
    # to the world instead of taking SSH from the bastion's group only.
    ids["rt_private"] = ec2.create_route_table(
        VpcId=ids["vpc"],
        TagSpecifications=[
            {"ResourceType": "route-table", "Tags": _tag_list({**TAGS, "Name": "lmpspot-local-private"})}
        ],
    )["RouteTable"]["RouteTableId"]
    s3_endpoint = ec2.create_vpc_endpoint(
        VpcId=ids["vpc"],
        ServiceName="com.amazonaws.us-east-2.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[ids["rt_private"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[s3_endpoint])
    ids["sg_bastion"] = ec2.create_security_group(
        GroupName="lmpspot-local-bastion", Description="seeded", VpcId=ids["vpc"]
    )["GroupId"]
    ids["sg_sim"] = ec2.create_security_group(
        GroupName="lmpspot-local-sim-hosts", Description="seeded", VpcId=ids["vpc"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ids["sg_sim"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )

    # Buckets: the project's with none of the storage layer's settings (and a lifecycle
    # rule that drifted), someone else's public one, someone else's private one.
    s3.create_bucket(Bucket=BUCKET, **loc)
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "checkpoints-noncurrent-expiry",
                    "Filter": {"Prefix": "checkpoints/"},
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        },
    )
    s3.create_bucket(Bucket="someone-elses-public", **loc)
    s3.put_bucket_policy(
        Bucket="someone-elses-public",
        Policy=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::someone-elses-public/*",
                    }
                ]
            }
        ),
    )
    s3.create_bucket(Bucket="someone-elses-private", **loc)
    # A checkpoint of sim-1 (its manifest) and an unfinished one of sim-2 (no manifest yet).
    s3.put_object(Bucket=BUCKET, Key="checkpoints/sim-1/ckpt-0000000001/manifest.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="checkpoints/sim-2/ckpt-0000000001/restart.bin", Body=b"x")

    # Instances, launch templates, volumes: IMDSv1 and unencrypted, and compliant ones.
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids["i_v1"] = ec2.run_instances(
        ImageId=ami, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "optional"}
    )["Instances"][0]["InstanceId"]
    ids["i_v2"] = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "required"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
    )["Instances"][0]["InstanceId"]
    for key, tokens, enc in (
        ("lt_v1", "optional", True),
        ("lt_plain", "required", False),
        ("lt_ok", "required", True),
    ):
        ids[key] = ec2.create_launch_template(
            LaunchTemplateName=key,
            LaunchTemplateData={
                "ImageId": ami,
                "MetadataOptions": {"HttpTokens": tokens},
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "Encrypted": enc}}
                ],
            },
        )["LaunchTemplate"]["LaunchTemplateId"]
    # A Batch environment whose launch template lets containers reach IMDS (hop limit 2),
    # and one with hop limit 1; a hop limit of 2 outside Batch is not flagged by this check.
    service_role = iam.create_role(
        RoleName="seeded-batch-service",
        AssumeRolePolicyDocument=json.dumps(TRUST).replace("ecs-tasks", "batch"),
    )["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="seeded-ecs")["InstanceProfile"]["Arn"]
    for key, hops in (("lt_hop2", 2), ("lt_hop1", 1), ("lt_hop2_free", 2)):
        ids[key] = ec2.create_launch_template(
            LaunchTemplateName=key,
            LaunchTemplateData={
                "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": hops},
                "BlockDeviceMappings": [
                    {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "Encrypted": True}}
                ],
            },
        )["LaunchTemplate"]["LaunchTemplateId"]
    for lt_key, ref in (
        ("lt_hop2", {"launchTemplateName": "lt_hop2"}),
        ("lt_hop1", {"launchTemplateId": ids["lt_hop1"]}),
    ):
        aws.client("batch").create_compute_environment(
            computeEnvironmentName=f"seeded-{lt_key}",
            type="MANAGED",
            state="DISABLED",
            serviceRole=service_role,
            computeResources={
                "type": "EC2",
                "minvCpus": 0,
                "maxvCpus": 4,
                "desiredvCpus": 0,
                "instanceTypes": ["c5.large"],
                "subnets": [ids["subnet_tagged"]],
                "securityGroupIds": [ids["sg_untagged"]],
                "instanceRole": profile,
                "launchTemplate": ref,
            },
        )
    ids["vol_plain"] = ec2.create_volume(AvailabilityZone="us-east-2a", Size=10, Encrypted=False)["VolumeId"]
    ids["vol_enc"] = ec2.create_volume(AvailabilityZone="us-east-2a", Size=10, Encrypted=True)["VolumeId"]

    # IAM: * on * as a customer managed policy, a role's inline policy, AWS's AdministratorAccess;
    # lmpspot's job role with a scoped policy.
    ids["pol_star"] = iam.create_policy(PolicyName="seeded-admin", PolicyDocument=json.dumps(STAR))["Policy"][
        "Arn"
    ]
    iam.create_role(RoleName="seeded-inline", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="seeded-inline", PolicyName="all", PolicyDocument=json.dumps(STAR))
    iam.create_role(RoleName="seeded-aws-admin", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(
        RoleName="seeded-aws-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    ids["role_ours"] = iam.create_role(
        RoleName="lmpspot-local-job",
        Path="/lmpspot/",
        AssumeRolePolicyDocument=json.dumps(TRUST),
        Tags=_tag_list(TAGS),
    )["Role"]["Arn"]
    scoped = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="lmpspot-local-job", PolicyName="s3", PolicyDocument=json.dumps(scoped))

    # ECR: lmpspot's repository mutable, without scan on push, with a scanned image; a good one.
    ids["repo"] = ecr.create_repository(
        repositoryName="lmpspot-local-lammps", tags=[{"Key": "Project", "Value": "lmpspot"}]
    )["repository"]["repositoryArn"]
    ecr.put_image(repositoryName="lmpspot-local-lammps", imageManifest=MANIFEST, imageTag="cpu-0000")
    ecr.start_image_scan(repositoryName="lmpspot-local-lammps", imageId={"imageTag": "cpu-0000"})
    ids["repo_ok"] = ecr.create_repository(
        repositoryName="lmpspot-local-other",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        tags=_tag_list(TAGS),
    )["repository"]["repositoryArn"]

    ids["result"] = run(aws, audit.ALL_CHECKS, expected=EXPECTED)
    ids["project_only"] = run(aws, ["security_groups"], account_wide=False)
    # moto cannot back-date a role: audit 100 days later instead.
    ids["later_iam"] = run(aws, ["iam"], now=datetime.now(timezone.utc) + timedelta(days=100))
    ids["aws"] = aws
    return ids


EXPECTED = {
    "vpc": {"name": "lmpspot-local-vpc", "cidr": "10.42.0.0/16"},
    "network": {
        "subnets": ["lmpspot-local-private-us-east-2a"],
        "route_tables": ["lmpspot-local-private"],
        "security_groups": ["lmpspot-local-bastion", "lmpspot-local-sim-hosts"],
        "endpoints": [{"service": "com.amazonaws.us-east-2.s3", "type": "Gateway"}],
    },
    "bucket": {
        "name": BUCKET,
        "lifecycle_rules": [{"id": "checkpoints-noncurrent-expiry", "field": "noncurrent_days", "days": 3}],
    },
    "compute_environments": [
        {"name": "lmpspot-local-gpu-spot", "instance_types": ["g5.xlarge"], "max_vcpus": 8}
    ],
    "job_queues": [
        {"name": "lmpspot-local-spot", "priority": 10, "compute_environments": ["lmpspot-local-gpu-spot"]}
    ],
    "job_definitions": [{"name": "lmpspot-local-lammps-gpu", "image_repository": "r/lmpspot-local-lammps"}],
}


def test_security_groups_open_to_the_world(seeded):
    result = seeded["result"]
    assert_found(result, "sg.open_admin_port", "critical", seeded["sg_ssh"])
    assert_found(result, "sg.open_to_world", "high", seeded["sg_web"])
    assert_found(result, "sg.wide_admin_port", "high", seeded["sg_halves"])
    assert seeded["sg_office"] not in json.dumps(result["findings"])
    assert result["errors"] == []
    # Not lmpspot's VPC: with account_wide false these are out of scope (what is left is the
    # simulation hosts' group in lmpspot's VPC).
    assert {f["resource"] for f in seeded["project_only"]["findings"]} == {seeded["sg_sim"]}


def test_buckets(seeded):
    result = seeded["result"]
    arn = f"arn:aws:s3:::{BUCKET}"
    assert_found(result, "s3.encryption", "high", arn)
    assert_found(result, "s3.public_access_block", "high", arn)
    assert_found(result, "s3.tls_only_policy", "medium", arn)
    assert_found(result, "s3.versioning", "medium", arn)
    assert_found(result, "s3.public_bucket", "critical", "someone-elses-public")
    # Other people's private buckets are not held to lmpspot's standards.
    assert "someone-elses-private" not in json.dumps(result["findings"])


def test_imds_and_ebs(seeded):
    result = seeded["result"]
    assert_found(result, "ec2.imdsv1_instance", "high", seeded["i_v1"])
    assert_found(result, "ec2.imdsv1_launch_template", "high", seeded["lt_v1"])
    assert_found(result, "ebs.unencrypted_launch_template", "high", seeded["lt_plain"])
    assert_found(result, "ebs.unencrypted", "high", seeded["vol_plain"])
    assert_found(result, "ec2.batch_imds_hop_limit", "high", seeded["lt_hop2"])
    hop = json.dumps(by_id(result).get("ec2.batch_imds_hop_limit", []))
    assert seeded["lt_hop1"] not in hop and seeded["lt_hop2_free"] not in hop
    text = json.dumps([f for f in result["findings"] if f["id"].startswith(("ec2.", "ebs."))])
    for ok in (seeded["i_v2"], seeded["lt_ok"], seeded["vol_enc"]):
        assert ok not in text


def test_iam(seeded):
    result = seeded["result"]
    assert_found(result, "iam.star_policy", "critical", seeded["pol_star"])
    assert_found(result, "iam.star_policy", "critical", "role/seeded-inline")
    assert_found(result, "iam.star_policy", "critical", "role/seeded-aws-admin")
    ours = seeded["role_ours"]
    assert ours not in json.dumps(result["findings"])  # scoped, and created just now: not unused
    later = seeded["later_iam"]
    assert_found(later, "iam.unused_role", "low", ours)
    # Only the project's roles are judged unused.
    assert {f["resource"] for f in by_id(later)["iam.unused_role"]} == {ours}


def test_ecr(seeded):
    result, repo = seeded["result"], seeded["repo"]
    assert_found(result, "ecr.scan_on_push", "medium", repo)
    assert_found(result, "ecr.mutable_tags", "medium", repo)
    # moto's scan reports one fake HIGH finding (CVE-9999-9999): high. (CRITICAL -> critical
    # is in the unit table: moto cannot produce one.)
    assert_found(result, "ecr.image_vulnerabilities", "high", f"{repo}@cpu-0000")
    assert seeded["repo_ok"] not in json.dumps([f for f in result["findings"] if f["id"].startswith("ecr.")])


def test_missing_project_tags(seeded):
    result = seeded["result"]
    # Tagged only Project=lmpspot, or not at all.
    for resource in (
        seeded["repo"],
        seeded["subnet_untagged"],
        seeded["sg_untagged"],
        f"arn:aws:s3:::{BUCKET}",
    ):
        assert_found(result, "tags.missing", "low", resource)
    tagged = {f["resource"] for f in by_id(result)["tags.missing"]}
    for ok in (seeded["vpc"], seeded["subnet_tagged"], seeded["role_ours"], seeded["repo_ok"]):
        assert ok not in tagged


def test_drift(seeded):
    empty = seeded["empty_drift"]
    assert sorted(f["resource"] for f in by_id(empty)["drift.missing"]) == sorted(
        [
            "lmpspot-local-vpc",
            "lmpspot-local-private-us-east-2a",
            "lmpspot-local-private",
            "lmpspot-local-bastion",
            "lmpspot-local-sim-hosts",
            "com.amazonaws.us-east-2.s3",
            BUCKET,
            "lmpspot-local-gpu-spot",
            "lmpspot-local-spot",
            "lmpspot-local-lammps-gpu",
        ]
    )
    assert {f["severity"] for f in empty["findings"]} == {"high"}
    drift = [f["message"] for f in by_id(seeded["result"])["drift.config"]]
    assert any("CIDR" in m and "10.99.0.0/16" in m for m in drift), drift
    assert any("checkpoints-noncurrent-expiry" in m and "30" in m for m in drift), drift


def test_network_drift_deleted_gateway_endpoint_and_missing_subnet(seeded):
    result = seeded["result"]
    missing = {f["resource"] for f in by_id(result)["drift.missing"]}
    # the deleted S3 gateway endpoint and the never-made subnet; what exists is not reported
    assert {"com.amazonaws.us-east-2.s3", "lmpspot-local-private-us-east-2a"} <= missing
    assert not missing & {"lmpspot-local-private", "lmpspot-local-bastion", "lmpspot-local-sim-hosts"}
    assert_found(result, "drift.missing", "high", "com.amazonaws.us-east-2.s3")


def test_sim_hosts_group_takes_ssh_from_the_bastion_only(seeded):
    result = seeded["result"]
    assert_found(result, "sg.ssh_only_from", "high", seeded["sg_sim"])
    assert_found(result, "sg.open_admin_port", "critical", seeded["sg_sim"])
    assert seeded["sg_bastion"] not in json.dumps(by_id(result).get("sg.ssh_only_from", []))


def test_running_job_checkpoint_age_reads_s3(seeded):
    """The newest manifest under checkpoints/<sim_id>/ decides; in-flight files do not count."""
    a = audit.Audit(seeded["aws"].client, cfg())
    written = a.newest_checkpoint(BUCKET, "checkpoints/sim-1/")
    assert written is not None and abs((datetime.now(timezone.utc) - written).total_seconds()) < 600
    assert a.newest_checkpoint(BUCKET, "checkpoints/sim-2/") is None  # no manifest yet
    assert a.newest_checkpoint(BUCKET, "checkpoints/sim-3/") is None

    def job(sim, started_min_ago, now):
        return {
            "jobId": f"job-{sim}",
            "jobName": f"lmpspot-{sim}",
            "status": "RUNNING",
            "startedAt": int((now - timedelta(minutes=started_min_ago)).timestamp() * 1000),
            "parameters": {"sim_id": sim},
            "container": {"environment": [{"name": "LMPSPOT_BUCKET", "value": BUCKET}]},
        }

    now = written + timedelta(minutes=5)
    jobs = [job("sim-1", 60, now), job("sim-2", 60, now)]
    got = audit_batch.check_checkpoint_age(jobs, a.newest_checkpoint, cfg()["checkpoint"], now)
    assert [f["resource"] for f in got] == ["job-sim-2"]  # no checkpoint in an hour
    later = now + timedelta(minutes=30)  # sim-1's checkpoint is now 35 min > 2 x 10 min old
    got = audit_batch.check_checkpoint_age(jobs, a.newest_checkpoint, cfg()["checkpoint"], later)
    assert sorted(f["resource"] for f in got) == ["job-sim-1", "job-sim-2"]
    assert {f["severity"] for f in got} == {"high"}


def test_the_audit_changed_nothing(seeded):
    """Read-only: the seeded account is as seeded after every audit above."""
    aws = seeded["aws"]
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    perms = ec2.describe_security_groups(GroupIds=[seeded["sg_ssh"]])["SecurityGroups"][0]["IpPermissions"]
    assert perms[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert s3.get_bucket_versioning(Bucket=BUCKET).get("Status") is None
    md = ec2.describe_instances(InstanceIds=[seeded["i_v1"]])["Reservations"][0]["Instances"][0][
        "MetadataOptions"
    ]
    assert md["HttpTokens"] == "optional"


def test_access_denied_is_reported_not_passed(moto_server):
    """A check that cannot read becomes an audit.incomplete finding."""

    class Denied:
        def __getattr__(self, name):
            raise PermissionError(f"{name}: AccessDenied")

    result = audit.Audit(lambda s: Denied(), cfg()).run(["iam"])
    assert [f["id"] for f in result["findings"]] == ["audit.incomplete"]
    assert result["findings"][0]["severity"] == "medium"
    assert "AccessDenied" in result["errors"][0]


def test_iam_broad_statements_beyond_star_on_star(moto_server):
    """The shared check (module_utils/iam_policy.py, also the identity role's guard): a list
    containing *, a whole service on *, and NotAction on * are reported; a narrow policy is not."""
    aws = moto_server
    aws.reset()
    iam = aws.client("iam")
    seeds = {
        "seeded-list-star": {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": "*"},
        "seeded-service-star": {"Effect": "Allow", "Action": "iam:*", "Resource": ["*"]},
        "seeded-notaction": {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},
        "seeded-narrow": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/inputs/*"},
    }
    for name, statement in seeds.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
        doc = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
    result = run(aws, ["iam"])
    for name in ("seeded-list-star", "seeded-service-star", "seeded-notaction"):
        assert_found(result, "iam.star_policy", "critical", f"role/{name}")
    assert "seeded-narrow" not in json.dumps(by_id(result).get("iam.star_policy", []))
    messages = " ".join(f["message"] for f in by_id(result)["iam.star_policy"])
    assert "NotAction" in messages and "iam:*" in messages
