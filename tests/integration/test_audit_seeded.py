"""The audit's collectors and checks against a real local AWS (moto server), seeded.

Each kind of misconfiguration is made with boto3 in an emptied local AWS, then the audit
(``module_utils/audit.py``, the code ``lmpspot.aws.audit_account`` runs) reads the
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
from ansible_collections.lmpspot.aws.plugins.module_utils import audit

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


def cfg(**kw):
    base = {
        "project_tags": TAGS,
        "name_prefix": "lmpspot-local-",
        "iam_path": "/lmpspot/",
        "bucket_names": [BUCKET],
        "repository_names": ["lmpspot-local-lammps"],
        "checkpoint": {"bucket": BUCKET, "prefix": "checkpoints/", "interval": 600},
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


def _tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def test_security_groups_open_to_the_world(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ssh = ec2.create_security_group(GroupName="open-ssh", Description="seeded", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=ssh,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    web = ec2.create_security_group(GroupName="open-web", Description="seeded", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
        ],
    )
    fine = ec2.create_security_group(GroupName="office", Description="seeded", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=fine,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}
        ],
    )
    result = run(aws, ["security_groups"])
    assert_found(result, "sg.open_admin_port", "critical", ssh)
    assert_found(result, "sg.open_to_world", "high", web)
    assert fine not in json.dumps(result["findings"])
    assert result["errors"] == []
    # Not lmpspot's VPC: with account_wide false these are out of scope.
    assert run(aws, ["security_groups"], account_wide=False)["findings"] == []


def test_buckets(aws):
    s3 = aws.client("s3")
    loc = {"CreateBucketConfiguration": {"LocationConstraint": "us-east-2"}}
    s3.create_bucket(Bucket=BUCKET, **loc)  # the project's, with none of the storage layer's settings
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
    result = run(aws, ["buckets"])
    arn = f"arn:aws:s3:::{BUCKET}"
    assert_found(result, "s3.encryption", "high", arn)
    assert_found(result, "s3.public_access_block", "high", arn)
    assert_found(result, "s3.tls_only_policy", "medium", arn)
    assert_found(result, "s3.versioning", "medium", arn)
    assert_found(result, "s3.public_bucket", "critical", "someone-elses-public")
    # Other people's private buckets are not held to lmpspot's standards.
    assert "someone-elses-private" not in json.dumps(result["findings"])

    # The storage layer's settings make the project bucket's findings go away.
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=BUCKET, PublicAccessBlockConfiguration=dict.fromkeys(audit.PAB_KEYS, True)
    )
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    left = {f["id"] for f in run(aws, ["buckets"])["findings"] if BUCKET in f["resource"]}
    assert left == {"s3.tls_only_policy"}  # moto cannot carry that policy (see docs/AUDIT.md)


def test_imds_and_ebs(aws):
    ec2 = aws.client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    v1 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, MetadataOptions={"HttpTokens": "optional"})
    v1_id = v1["Instances"][0]["InstanceId"]
    v2 = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "required"},
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": True}}],
    )
    v2_id = v2["Instances"][0]["InstanceId"]
    lt_v1 = ec2.create_launch_template(
        LaunchTemplateName="seeded-v1",
        LaunchTemplateData={"ImageId": ami, "MetadataOptions": {"HttpTokens": "optional"}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    lt_v2 = ec2.create_launch_template(
        LaunchTemplateName="seeded-v2",
        LaunchTemplateData={"ImageId": ami, "MetadataOptions": {"HttpTokens": "required"}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    vol = ec2.create_volume(AvailabilityZone="us-east-2a", Size=10, Encrypted=False)["VolumeId"]
    enc = ec2.create_volume(AvailabilityZone="us-east-2a", Size=10, Encrypted=True)["VolumeId"]
    result = run(aws, ["imds", "ebs"])
    assert_found(result, "ec2.imdsv1_instance", "high", v1_id)
    assert_found(result, "ec2.imdsv1_launch_template", "high", lt_v1)
    assert_found(result, "ebs.unencrypted", "high", vol)
    text = json.dumps(result["findings"])
    for ok in (v2_id, lt_v2, enc):
        assert ok not in text
    assert result["errors"] == []


def test_iam(aws):
    iam = aws.client("iam")
    pol = iam.create_policy(PolicyName="seeded-admin", PolicyDocument=json.dumps(STAR))["Policy"]["Arn"]
    iam.create_role(RoleName="seeded-inline", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="seeded-inline", PolicyName="all", PolicyDocument=json.dumps(STAR))
    iam.create_role(RoleName="seeded-aws-admin", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(
        RoleName="seeded-aws-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    ours = iam.create_role(
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
    result = run(aws, ["iam"])
    assert_found(result, "iam.star_policy", "critical", pol)
    assert_found(result, "iam.star_policy", "critical", "role/seeded-inline")
    assert_found(result, "iam.star_policy", "critical", "role/seeded-aws-admin")
    assert ours not in json.dumps(result["findings"])  # scoped, and created just now: not unused
    # moto cannot back-date a role: audit 100 days later instead; the project role was never used.
    later = run(aws, ["iam"], now=datetime.now(timezone.utc) + timedelta(days=100))
    assert_found(later, "iam.unused_role", "low", ours)
    # Only the project's roles are judged unused.
    assert {f["resource"] for f in by_id(later)["iam.unused_role"]} == {ours}


def test_ecr(aws):
    ecr = aws.client("ecr")
    repo = ecr.create_repository(
        repositoryName="lmpspot-local-lammps", tags=[{"Key": "Project", "Value": "lmpspot"}]
    )["repository"]["repositoryArn"]
    ecr.put_image(repositoryName="lmpspot-local-lammps", imageManifest=MANIFEST, imageTag="cpu-0000")
    ecr.start_image_scan(repositoryName="lmpspot-local-lammps", imageId={"imageTag": "cpu-0000"})
    good = ecr.create_repository(
        repositoryName="lmpspot-local-other",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        tags=_tag_list(TAGS),
    )["repository"]["repositoryArn"]
    result = run(aws, ["ecr", "tags"])
    assert_found(result, "ecr.scan_on_push", "medium", repo)
    assert_found(result, "ecr.mutable_tags", "medium", repo)
    # moto's scan reports one fake HIGH finding (CVE-9999-9999): high. (CRITICAL -> critical
    # is in the unit table: moto cannot produce one.)
    assert_found(result, "ecr.image_vulnerabilities", "high", f"{repo}@cpu-0000")
    # Tagged only Project=lmpspot: the other project tags are missing.
    assert_found(result, "tags.missing", "low", repo)
    assert good not in json.dumps(result["findings"])


def test_missing_project_tags(aws):
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    vpc = ec2.create_vpc(
        CidrBlock="10.42.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tag_list({**TAGS, "Name": "lmpspot-local-vpc"})}],
    )["Vpc"]["VpcId"]
    untagged_subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/24")["Subnet"]["SubnetId"]
    tagged_subnet = ec2.create_subnet(
        VpcId=vpc,
        CidrBlock="10.42.1.0/24",
        TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list(TAGS)}],
    )["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="lmpspot-local-compute", Description="seeded", VpcId=vpc)[
        "GroupId"
    ]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    result = run(aws, ["security_groups", "buckets", "tags"])
    for resource in (untagged_subnet, sg, f"arn:aws:s3:::{BUCKET}"):
        assert_found(result, "tags.missing", "low", resource)
    tagged = {f["resource"] for f in by_id(result)["tags.missing"]}
    assert vpc not in tagged and tagged_subnet not in tagged


def test_running_job_checkpoint_age_reads_s3(aws):
    """The newest manifest under checkpoints/<sim_id>/ decides; in-flight files do not count."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    s3.put_object(Bucket=BUCKET, Key="checkpoints/sim-1/ckpt-0000000001/manifest.json", Body=b"{}")
    a = audit.Audit(aws.client, cfg())
    written = a.newest_checkpoint(BUCKET, "checkpoints/sim-1/")
    assert written is not None and abs((datetime.now(timezone.utc) - written).total_seconds()) < 120
    assert a.newest_checkpoint(BUCKET, "checkpoints/sim-2/") is None
    # sim-2 has only a checkpoint still uploading (no manifest yet): not a checkpoint.
    s3.put_object(Bucket=BUCKET, Key="checkpoints/sim-2/ckpt-0000000001/restart.bin", Body=b"x")
    assert a.newest_checkpoint(BUCKET, "checkpoints/sim-2/") is None

    def job(sim, started_min_ago, now):
        return {
            "jobId": f"job-{sim}",
            "jobName": f"lmpspot-{sim}",
            "status": "RUNNING",
            "startedAt": int((now - timedelta(minutes=started_min_ago)).timestamp() * 1000),
            "parameters": {"sim_id": sim},
            "container": {"environment": [{"name": "LMPSPOT_BUCKET", "value": BUCKET}]},
        }

    now = datetime.now(timezone.utc)
    jobs = [job("sim-1", 60, now), job("sim-2", 60, now)]
    got = audit.check_checkpoint_age(jobs, a.newest_checkpoint, cfg()["checkpoint"], now)
    assert [f["resource"] for f in got] == ["job-sim-2"]  # no checkpoint in an hour
    later = now + timedelta(minutes=30)  # sim-1's checkpoint is now 30 min > 2 x 10 min old
    got = audit.check_checkpoint_age(jobs, a.newest_checkpoint, cfg()["checkpoint"], later)
    assert sorted(f["resource"] for f in got) == ["job-sim-1", "job-sim-2"]
    assert {f["severity"] for f in got} == {"high"}


def test_drift_against_an_empty_or_different_account(aws):
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    expected = {
        "vpc": {"name": "lmpspot-local-vpc", "cidr": "10.42.0.0/16"},
        "bucket": {
            "name": BUCKET,
            "lifecycle_rules": [
                {"id": "checkpoints-noncurrent-expiry", "field": "noncurrent_days", "days": 3}
            ],
        },
        "compute_environments": [
            {"name": "lmpspot-local-gpu-spot", "instance_types": ["g5.xlarge"], "max_vcpus": 8}
        ],
        "job_queues": [
            {"name": "lmpspot-local-spot", "priority": 10, "compute_environments": ["lmpspot-local-gpu-spot"]}
        ],
        "job_definitions": [
            {"name": "lmpspot-local-lammps-gpu", "image_repository": "r/lmpspot-local-lammps"}
        ],
    }
    empty = run(aws, ["drift"], expected=expected)
    assert sorted(f["resource"] for f in by_id(empty)["drift.missing"]) == sorted(
        [
            "lmpspot-local-vpc",
            BUCKET,
            "lmpspot-local-gpu-spot",
            "lmpspot-local-spot",
            "lmpspot-local-lammps-gpu",
        ]
    )
    assert {f["severity"] for f in empty["findings"]} == {"high"}
    ec2.create_vpc(
        CidrBlock="10.99.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": _tag_list({**TAGS, "Name": "lmpspot-local-vpc"})}],
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
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
    result = run(aws, ["drift"], expected=expected)
    drift = [f["message"] for f in by_id(result)["drift.config"]]
    assert any("CIDR" in m and "10.99.0.0/16" in m for m in drift), drift
    assert any("checkpoints-noncurrent-expiry" in m and "30" in m for m in drift), drift


def test_access_denied_is_reported_not_passed(aws):
    """A check that cannot read becomes an audit.incomplete finding."""

    class Denied:
        def __getattr__(self, name):
            raise PermissionError(f"{name}: AccessDenied")

    result = audit.Audit(lambda s: Denied() if s == "iam" else aws.client(s), cfg()).run(["iam", "ebs"])
    assert [f["id"] for f in result["findings"]] == ["audit.incomplete"]
    assert result["findings"][0]["severity"] == "medium"
    assert "AccessDenied" in result["errors"][0]
