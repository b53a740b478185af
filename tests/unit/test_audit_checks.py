"""The audit's pure checks (module_utils/audit_*.py): described AWS data -> findings.

Tables of inputs in the shapes boto3 returns; each row says which finding ids (and
severities) must come out -- including none, for the compliant shapes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import (
    audit,
    audit_batch,
    audit_common,
    audit_drift,
    audit_ec2,
    audit_ecr,
    audit_iam,
    audit_network,
    audit_report,
    audit_s3,
    audit_tags,
    iam_policy,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def ids(findings):
    return sorted((f["id"], f["severity"]) for f in findings)


def _sg(*perms):
    return {"GroupId": "sg-1", "GroupName": "g", "VpcId": "vpc-1", "IpPermissions": list(perms)}


def _perm(proto="tcp", lo=22, hi=22, v4=(), v6=()):
    return {
        "IpProtocol": proto,
        "FromPort": lo,
        "ToPort": hi,
        "IpRanges": [{"CidrIp": c} for c in v4],
        "Ipv6Ranges": [{"CidrIpv6": c} for c in v6],
    }


@pytest.mark.parametrize(
    ("sg", "want"),
    [
        (_sg(_perm(v4=["0.0.0.0/0"])), [("sg.open_admin_port", "critical")]),
        (_sg(_perm(v6=["::/0"])), [("sg.open_admin_port", "critical")]),
        (_sg(_perm(lo=0, hi=65535, v4=["0.0.0.0/0"])), [("sg.open_admin_port", "critical")]),
        (_sg(_perm(proto="-1", lo=None, hi=None, v4=["0.0.0.0/0"])), [("sg.open_admin_port", "critical")]),
        (_sg(_perm(lo=3389, hi=3389, v4=["0.0.0.0/0"])), [("sg.open_admin_port", "critical")]),
        (_sg(_perm(lo=443, hi=443, v4=["0.0.0.0/0"])), [("sg.open_to_world", "high")]),
        (_sg(_perm(proto="udp", lo=0, hi=65535, v6=["::/0"])), [("sg.open_to_world", "high")]),
        (_sg(_perm(v4=["203.0.113.0/24"])), []),
        # Wider than the minimum prefix (default /16, /48) but not /0: high, on admin ports only.
        (_sg(_perm(v4=["0.0.0.0/1", "128.0.0.0/1"])), [("sg.wide_admin_port", "high")]),
        (_sg(_perm(v4=["10.0.0.0/8"])), [("sg.wide_admin_port", "high")]),
        (_sg(_perm(v6=["2001:db8::/32"])), [("sg.wide_admin_port", "high")]),
        (_sg(_perm(v4=["10.42.0.0/16"], v6=["2001:db8:1::/48"])), []),
        (_sg(_perm(lo=443, hi=443, v4=["0.0.0.0/1"])), []),
        (
            _sg(_perm(lo=0, hi=65535, v4=["0.0.0.0/0", "10.0.0.0/8"])),
            [("sg.open_admin_port", "critical"), ("sg.wide_admin_port", "high")],
        ),
        (_sg(_perm(lo=443, hi=443, v4=["10.42.0.0/16"])), []),
        (_sg(), []),
    ],
)
def test_security_groups(sg, want):
    assert ids(audit_network.check_security_groups([sg])) == want


def test_wide_admin_range_follows_the_minimum_prefix():
    sg = _sg(_perm(v4=["10.0.0.0/12"]))
    assert ids(audit_network.check_security_groups([sg], min_prefix={"4": 8, "6": 32})) == []
    assert ids(audit_network.check_security_groups([sg], min_prefix={"4": 16, "6": 48})) == [
        ("sg.wide_admin_port", "high")
    ]


TLS_POLICY = {
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
}
PAB = dict.fromkeys(audit_s3.PAB_KEYS, True)
GOOD = {
    "name": "b",
    "encryption": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}],
    "public_access_block": PAB,
    "policy": TLS_POLICY,
    "versioning": "Enabled",
    "acl_grants": [],
}
PUBLIC_GRANT = {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}
PUBLIC_POLICY = {
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]
}


@pytest.mark.parametrize(
    ("change", "project", "want"),
    [
        ({}, True, []),
        ({"encryption": None}, True, [("s3.encryption", "high")]),
        ({"public_access_block": None}, True, [("s3.public_access_block", "high")]),
        (
            {"public_access_block": {**PAB, "RestrictPublicBuckets": False}},
            True,
            [("s3.public_access_block", "high")],
        ),
        ({"policy": None}, True, [("s3.tls_only_policy", "medium")]),
        ({"versioning": "Suspended"}, True, [("s3.versioning", "medium")]),
        ({"versioning": None}, True, [("s3.versioning", "medium")]),
        # Not the project's: only "is it public" is asked.
        ({"encryption": None, "policy": None, "versioning": None}, False, []),
        (
            {"public_access_block": None, "acl_grants": [PUBLIC_GRANT]},
            False,
            [("s3.public_bucket", "critical")],
        ),
        ({"public_access_block": None, "policy": PUBLIC_POLICY}, False, [("s3.public_bucket", "critical")]),
        # The full public access block neutralizes a public grant.
        ({"acl_grants": [PUBLIC_GRANT]}, False, []),
    ],
)
def test_bucket(change, project, want):
    assert ids(audit_s3.check_bucket({**GOOD, **change}, project)) == want


@pytest.mark.parametrize(
    ("policy", "tls_only"),
    [
        (TLS_POLICY, True),
        (
            {
                "Statement": {
                    **TLS_POLICY["Statement"][0],
                    "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
                }
            },
            True,
        ),
        ({"Statement": [{**TLS_POLICY["Statement"][0], "Effect": "Allow"}]}, False),
        ({"Statement": [{**TLS_POLICY["Statement"][0], "Condition": {}}]}, False),
        (None, False),
    ],
)
def test_tls_only_policy(policy, tls_only):
    assert audit_s3.is_tls_only_policy(policy) is tls_only


@pytest.mark.parametrize(
    ("md", "state", "want"),
    [
        ({"HttpTokens": "required", "HttpEndpoint": "enabled"}, "running", []),
        ({"HttpTokens": "optional", "HttpEndpoint": "enabled"}, "running", [("ec2.imdsv1_instance", "high")]),
        ({"HttpTokens": "optional", "HttpEndpoint": "disabled"}, "running", []),
        ({"HttpTokens": "optional"}, "stopped", [("ec2.imdsv1_instance", "high")]),
        ({"HttpTokens": "optional"}, "terminated", []),
    ],
)
def test_instances_imds(md, state, want):
    inst = {"InstanceId": "i-1", "State": {"Name": state}, "MetadataOptions": md}
    assert ids(audit_ec2.check_instances_imds([inst])) == want


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ({"MetadataOptions": {"HttpTokens": "required"}}, []),
        ({"MetadataOptions": {"HttpTokens": "optional"}}, [("ec2.imdsv1_launch_template", "high")]),
        ({}, [("ec2.imdsv1_launch_template", "high")]),  # unset: the account default (v1 allowed)
    ],
)
def test_launch_templates_imds(data, want):
    v = {
        "LaunchTemplateId": "lt-1",
        "LaunchTemplateName": "t",
        "VersionNumber": 1,
        "LaunchTemplateData": data,
    }
    # $Default and $Latest are the same version here: reported once.
    assert ids(audit_ec2.check_launch_templates([v, v])) == want


HOP = [("ec2.batch_imds_hop_limit", "high")]


@pytest.mark.parametrize(
    ("hops", "batch", "want"),
    [
        (2, ["lt-1"], HOP),  # a Batch environment's template, by id
        (2, ["t"], HOP),  # ... or by name
        (64, ["t"], HOP),
        (1, ["t"], []),
        (None, ["t"], []),  # unset: EC2's default, 1
        (2, [], []),  # not a Batch template (a host's own containers may need 2)
        (2, ["other"], []),
    ],
)
def test_launch_templates_batch_hop_limit(hops, batch, want):
    md = {"HttpTokens": "required"} | ({"HttpPutResponseHopLimit": hops} if hops else {})
    v = {
        "LaunchTemplateId": "lt-1",
        "LaunchTemplateName": "t",
        "VersionNumber": 3,
        "LaunchTemplateData": {"MetadataOptions": md},
    }
    got = audit_ec2.check_launch_templates([v], batch)
    assert ids(got) == want
    assert all(f["resource"] == "lt-1:3" and f["name"] == "t" for f in got)


def test_volumes():
    vols = [{"VolumeId": "vol-1", "Encrypted": False, "Size": 8}, {"VolumeId": "vol-2", "Encrypted": True}]
    assert [(f["id"], f["resource"]) for f in audit_ec2.check_volumes(vols)] == [("ebs.unencrypted", "vol-1")]


@pytest.mark.parametrize(
    ("statement", "star"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}, True),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}, False),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
    ],
)
def test_star_policy(statement, star):
    doc = {"Version": "2012-10-17", "Statement": [statement]}
    got = audit_iam.check_policy_documents([("arn:aws:iam::1:role/r", "role r inline policy p", doc)])
    assert ids(got) == ([("iam.star_policy", "critical")] if star else [])
    # The policy as a JSON string (as some APIs return it) reads the same.
    assert bool(iam_policy.star_statements(__import__("json").dumps(doc))) is star


@pytest.mark.parametrize(
    ("created_days", "used_days", "flagged"),
    [(200, None, True), (10, None, False), (200, 100, True), (200, 5, False)],
)
def test_unused_roles(created_days, used_days, flagged):
    role = {
        "RoleName": "r",
        "Arn": "arn:r",
        "CreateDate": NOW - timedelta(days=created_days),
        "RoleLastUsed": {},
    }
    if used_days is not None:
        role["RoleLastUsed"] = {"LastUsedDate": NOW - timedelta(days=used_days)}
    assert ids(audit_iam.check_unused_roles([role], NOW, 90)) == (
        [("iam.unused_role", "low")] if flagged else []
    )


@pytest.mark.parametrize(
    ("repo", "scans", "want"),
    [
        ({"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "IMMUTABLE"}, [], []),
        (
            {"imageScanningConfiguration": {"scanOnPush": False}, "imageTagMutability": "IMMUTABLE"},
            [],
            [("ecr.scan_on_push", "medium")],
        ),
        (
            {"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "MUTABLE"},
            [],
            [("ecr.mutable_tags", "medium")],
        ),
        (
            {"imageScanningConfiguration": {"scanOnPush": True}, "imageTagMutability": "IMMUTABLE"},
            [("t1", {"CRITICAL": 2, "HIGH": 1}), ("t2", {"HIGH": 3}), ("t3", {"MEDIUM": 9})],
            [("ecr.image_vulnerabilities", "critical"), ("ecr.image_vulnerabilities", "high")],
        ),
    ],
)
def test_ecr(repo, scans, want):
    assert ids(audit_ecr.check_ecr_repository({"repositoryName": "r", **repo}, scans)) == want


REQUIRED = {"Project": "lmpspot", "Environment": "local", "ManagedBy": "lmpspot"}


@pytest.mark.parametrize(
    ("tags", "flagged"),
    [
        ([{"Key": k, "Value": v} for k, v in REQUIRED.items()], False),
        ({**REQUIRED, "Name": "x"}, False),  # Batch's {k: v}
        ([{"key": k, "value": v} for k, v in REQUIRED.items()], False),  # ECR's lowercase
        ({"Project": "lmpspot", "Environment": "local"}, True),
        ({**REQUIRED, "Environment": "prod"}, True),
        (None, True),
    ],
)
def test_tags(tags, flagged):
    got = audit_tags.check_tags([("bucket", "arn:aws:s3:::b", tags)], REQUIRED)
    assert ids(got) == ([("tags.missing", "low")] if flagged else [])


def _ms(dt):
    return int(dt.timestamp() * 1000)


@pytest.mark.parametrize(
    ("status", "created_min", "last_stop_min", "flagged"),
    [
        ("RUNNABLE", 120, None, True),
        ("RUNNABLE", 30, None, False),
        ("RUNNABLE", 300, 10, False),  # retried 10 min ago: back in RUNNABLE since then
        ("RUNNING", 300, None, False),
    ],
)
def test_runnable_jobs(status, created_min, last_stop_min, flagged):
    job = {
        "jobId": "j1",
        "jobName": "n",
        "status": status,
        "createdAt": _ms(NOW - timedelta(minutes=created_min)),
    }
    if last_stop_min is not None:
        job["attempts"] = [{"stoppedAt": _ms(NOW - timedelta(minutes=last_stop_min))}]
    got = audit_batch.check_runnable_jobs([job], NOW, 3600)
    assert ids(got) == ([("batch.stuck_runnable", "medium")] if flagged else [])


@pytest.mark.parametrize(
    ("started_min", "ckpt_min", "interval", "flagged"),
    [
        (60, 5, 600, False),
        (60, 25, 600, True),  # newest checkpoint 25 min old > 2 x 10 min
        (60, None, 600, True),  # no checkpoint in an hour
        (15, None, 600, False),  # fresh attempt: 2 intervals to write its first
        (60, 25, 900, False),  # the job's own interval (its environment) wins over the config
    ],
)
def test_checkpoint_age(started_min, ckpt_min, interval, flagged):
    job = {
        "jobId": "j1",
        "jobName": "n",
        "status": "RUNNING",
        "startedAt": _ms(NOW - timedelta(minutes=started_min)),
        "parameters": {"sim_id": "sim-1"},
        "container": {"environment": [{"name": "LMPSPOT_CHECKPOINT_INTERVAL", "value": str(interval)}]},
    }
    seen = []

    def newest(bucket, prefix):
        seen.append((bucket, prefix))
        return None if ckpt_min is None else NOW - timedelta(minutes=ckpt_min)

    got = audit_batch.check_checkpoint_age(
        [job], newest, {"bucket": "b", "prefix": "checkpoints/", "interval": 600}, NOW
    )
    assert seen == [("b", "checkpoints/sim-1/")]
    assert ids(got) == ([("batch.stale_checkpoint", "high")] if flagged else [])


EXPECTED = {
    "vpc": {"name": "p-e-vpc", "cidr": "10.42.0.0/16"},
    "bucket": {
        "name": "b",
        "lifecycle_rules": [{"id": "ck", "field": "noncurrent_days", "days": 3}],
    },
    "compute_environments": [{"name": "ce1", "instance_types": ["g5.xlarge"], "max_vcpus": 16}],
    "job_queues": [{"name": "q1", "priority": 10, "compute_environments": ["ce1"]}],
    "job_definitions": [{"name": "jd", "image_repository": "reg/repo"}],
}
ACTUAL = {
    "vpc": {"VpcId": "vpc-1", "CidrBlock": "10.42.0.0/16"},
    "lifecycle_rules": [
        {"ID": "ck", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}
    ],
    "compute_environments": [
        {
            "computeEnvironmentName": "ce1",
            "state": "ENABLED",
            "computeResources": {"instanceTypes": ["g5.xlarge"], "maxvCpus": 16},
        }
    ],
    "job_queues": [
        {
            "jobQueueName": "q1",
            "state": "ENABLED",
            "priority": 10,
            "computeEnvironmentOrder": [
                {"order": 1, "computeEnvironment": "arn:aws:batch:r:1:compute-environment/ce1"}
            ],
        }
    ],
    "job_definitions": {"jd": {"containerProperties": {"image": "reg/repo:cpu-0123"}}},
}


@pytest.mark.parametrize(
    ("path", "value", "want"),
    [
        (None, None, []),
        (("vpc",), None, [("drift.missing", "high")]),
        (("vpc", "CidrBlock"), "10.9.0.0/16", [("drift.config", "medium")]),
        (("lifecycle_rules",), [], [("drift.config", "medium")]),
        (("lifecycle_rules",), None, [("drift.missing", "high")]),
        (("compute_environments",), [], [("drift.missing", "high")]),
        (
            ("compute_environments", 0, "computeResources"),
            {"instanceTypes": ["g6.xlarge"], "maxvCpus": 32},
            [("drift.config", "medium"), ("drift.config", "medium")],
        ),
        (("compute_environments", 0, "state"), "DISABLED", [("drift.config", "medium")]),
        (("job_queues", 0, "priority"), 5, [("drift.config", "medium")]),
        (("job_queues", 0, "computeEnvironmentOrder"), [], [("drift.config", "medium")]),
        (("job_definitions",), {}, [("drift.missing", "high")]),
        (
            ("job_definitions", "jd", "containerProperties"),
            {"image": "other/repo:x"},
            [("drift.config", "medium")],
        ),
    ],
)
def test_drift(path, value, want):
    import copy

    actual = copy.deepcopy(ACTUAL)
    if path:
        target = actual
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    assert ids(audit_drift.check_drift(EXPECTED, actual)) == want


def test_drift_lifecycle_days():
    actual = {
        "lifecycle_rules": [
            {"ID": "ck", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}
        ]
    }
    got = audit_drift.check_drift({"bucket": EXPECTED["bucket"]}, actual)
    assert ids(got) == [("drift.config", "medium")]
    assert "30" in got[0]["message"] and "3" in got[0]["message"]


def _f(fid, sev, res="r"):
    return audit_common.finding(fid, sev, res, "m", "x")


def test_waivers_and_summary():
    findings = [
        _f("s3.tls_only_policy", "medium", "arn:aws:s3:::b"),
        _f("s3.tls_only_policy", "medium", "arn:aws:s3:::c"),
        _f("sg.open_admin_port", "critical"),
    ]
    counted, waived = audit_report.apply_waivers(
        findings, [{"id": "s3.*", "resource": "arn:aws:s3:::b", "reason": "local"}]
    )
    assert [f["resource"] for f in waived] == ["arn:aws:s3:::b"]
    assert waived[0]["waiver_reason"] == "local"
    assert len(counted) == 2
    s = audit_report.summarize(counted, waived, "high")
    assert (s["counted"], s["waived"], s["at_or_above_threshold"], s["failed"]) == (2, 1, 1, True)
    assert s["by_severity"]["critical"] == 1 and s["by_severity"]["medium"] == 1
    assert audit_report.summarize(counted[:1], waived, "high")["failed"] is False
    assert audit_report.summarize(counted[:1], waived, "medium")["failed"] is True
    # Most severe first.
    assert [f["severity"] for f in audit_report.sort_findings(counted)] == ["critical", "medium"]


@pytest.mark.parametrize("waiver", [{"id": "x"}, {"reason": "r"}, {"id": "x", "reason": "  "}])
def test_waiver_needs_id_and_reason(waiver):
    with pytest.raises(ValueError, match="needs an id and a reason"):
        audit_report.apply_waivers([], [waiver])


def test_severity_overrides():
    out = audit_report.apply_severity_overrides([_f("tags.missing", "low")], {"tags.missing": "high"})
    assert out[0]["severity"] == "high"
    with pytest.raises(ValueError, match="not one of"):
        audit_report.apply_severity_overrides([], {"tags.missing": "severe"})


def test_markdown_escapes_and_lists_waived():
    counted = [audit_common.finding("sg.open_to_world", "high", "sg-1", "a | b", "fix it")]
    waived = [{**_f("s3.tls_only_policy", "medium", "arn:aws:s3:::b"), "waiver_reason": "local mode"}]
    report = {
        "project": "p",
        "environment": "e",
        "account": "1",
        "region": "r",
        "generated_at": "t",
        "checks": ["security_groups"],
        "findings": counted,
        "waived": waived,
        "errors": ["iam check: AccessDenied"],
        "summary": audit_report.summarize(counted, waived, "high"),
    }
    md = audit_report.render_markdown(report)
    assert "| high | sg.open_to_world | sg-1 | a \\| b | fix it |" in md
    assert "local mode" in md and "FAILED" in md and "AccessDenied" in md


def test_unknown_severity_and_check():
    with pytest.raises(ValueError):
        audit_common.finding("x", "severe", "r", "m", "f")
    with pytest.raises(ValueError, match="unknown audit checks"):
        audit.Audit(lambda s: None, {"project_tags": REQUIRED}).run(["nope"])


@pytest.mark.parametrize(
    ("ebs", "flagged"),
    [
        ({"Encrypted": True, "VolumeSize": 200}, False),
        ({"Encrypted": False}, True),
        ({"VolumeSize": 8}, True),
    ],
)
def test_launch_template_volumes(ebs, flagged):
    v = {
        "LaunchTemplateId": "lt-1",
        "LaunchTemplateName": "t",
        "VersionNumber": 2,
        "LaunchTemplateData": {
            "MetadataOptions": {"HttpTokens": "required"},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": ebs}],
        },
    }
    got = audit_ec2.check_launch_templates([v])
    assert ids(got) == ([("ebs.unencrypted_launch_template", "high")] if flagged else [])
    assert all(f["name"] == "t" and f["resource"] == "lt-1:2" for f in got)


def test_waiver_by_name():
    findings = [
        audit_common.finding("ec2.imdsv1_instance", "high", "i-1", "m", "x", "lmpspot-local-bastion"),
        audit_common.finding("ec2.imdsv1_instance", "high", "i-2", "m", "x", "someone-else"),
        audit_common.finding("ec2.imdsv1_instance", "high", "i-3", "m", "x"),  # no Name tag
    ]
    waiver = {"id": "ec2.imdsv1_instance", "name": "lmpspot-local-bastion", "reason": "r"}
    counted, waived = audit_report.apply_waivers(findings, [waiver])
    assert [f["resource"] for f in waived] == ["i-1"]
    assert [f["resource"] for f in counted] == ["i-2", "i-3"]


def test_drift_environment_state_can_be_left_out():
    """The night window disables the environments on a schedule: state null skips it."""
    import copy

    actual = copy.deepcopy(ACTUAL)
    actual["compute_environments"][0]["state"] = "DISABLED"
    expected = {"compute_environments": [{**EXPECTED["compute_environments"][0], "state": None}]}
    assert audit_drift.check_drift(expected, actual) == []
    assert ids(
        audit_drift.check_drift({"compute_environments": EXPECTED["compute_environments"]}, actual)
    ) == [("drift.config", "medium")]
