"""The job role's policy against a real local AWS: inputs read-only, KMS by ARN with the
bucket as encryption context, and the shared everything-on-everything guard.

Each test applies ``playbooks/identity.yml`` and reads the policy back through boto3.  The
policy is evaluated here the way IAM matches ``Action``/``Resource`` (wildcards), so the
tests assert what a job may do, not how the template spells it.
"""

from __future__ import annotations

import fnmatch
import json
from urllib.parse import unquote

import pytest
from conftest import run_playbook

pytestmark = pytest.mark.integration

BUCKET = "lmpspot-local-results"
JOB_ROLE = "lmpspot-local-job"


def job_policy(aws) -> dict:
    iam = aws.client("iam")
    (name,) = iam.list_role_policies(RoleName=JOB_ROLE)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=JOB_ROLE, PolicyName=name)["PolicyDocument"]
    return json.loads(unquote(doc)) if isinstance(doc, str) else doc


def _list(v):
    return v if isinstance(v, list) else [v]


def allowed(policy: dict, action: str, resource: str) -> bool:
    return any(
        st["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, a) for a in _list(st.get("Action", [])))
        and any(fnmatch.fnmatchcase(resource, r) for r in _list(st.get("Resource", [])))
        for st in policy["Statement"]
    )


def test_jobs_read_inputs_but_cannot_change_them(aws):
    res = run_playbook("playbooks/identity.yml", aws)
    assert res.rc == 0, res
    pol = job_policy(aws)
    obj = f"arn:aws:s3:::{BUCKET}/"
    assert allowed(pol, "s3:GetObject", obj + "inputs/sim-1/in.lj")
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert not allowed(pol, action, obj + "inputs/sim-1/in.lj"), action
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allowed(pol, action, obj + "checkpoints/sim-1/step-100/restart.bin"), action
    assert allowed(pol, "s3:PutObject", obj + "results/sim-1/log.lammps")
    assert not allowed(pol, "s3:DeleteObject", obj + "results/sim-1/log.lammps")
    assert not allowed(pol, "s3:GetObject", obj + "other/x")


@pytest.mark.parametrize("how", ["alias", "key_id", "alias_arn"])
def test_kms_key_given_by_alias_or_id_is_resolved_to_its_arn(aws, how):
    kms = aws.client("kms")
    key = kms.create_key(Description="lmpspot test")["KeyMetadata"]
    kms.create_alias(AliasName="alias/lmpspot-test", TargetKeyId=key["KeyId"])
    given = {
        "alias": "alias/lmpspot-test",
        "key_id": key["KeyId"],
        "alias_arn": key["Arn"].split(":key/")[0] + ":alias/lmpspot-test",
    }[how]
    res = run_playbook("playbooks/identity.yml", aws, extra_vars={"identity_bucket_kms_key_id": given})
    assert res.rc == 0, res
    (st,) = [s for s in job_policy(aws)["Statement"] if s["Sid"] == "BucketKmsViaS3Only"]
    assert st["Resource"] == key["Arn"]  # never key/*
    context = st["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    assert f"arn:aws:s3:::{BUCKET}" in context
    assert all(c.startswith(f"arn:aws:s3:::{BUCKET}") for c in context)
    assert st["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-2.amazonaws.com"


def test_unknown_kms_alias_is_refused(aws):
    res = run_playbook("playbooks/identity.yml", aws, extra_vars={"identity_bucket_kms_key_id": "alias/nope"})
    assert res.rc != 0
    assert "identity_bucket_kms_key_id alias/nope: no such KMS key" in res.stdout, res


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ({"Effect": "Allow", "Action": ["logs:PutLogEvents", "*"], "Resource": "*"}, "every action (*)"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction on every resource"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": ["*"]}, "every s3 action (s3:*)"),
    ],
    ids=["list-with-star", "notaction", "service-star"],
)
def test_guard_refuses_everything_on_everything(aws, statement, reason):
    extra = {"identity_job_role_extra_statements": [statement]}
    res = run_playbook("playbooks/identity.yml", aws, extra_vars=extra)
    assert res.rc != 0
    assert f"The job role policy would allow {reason}" in res.stdout, res
    assert "identity_job_role_extra_statements" in res.stdout
    assert aws.client("iam").list_roles(PathPrefix="/lmpspot/")["Roles"] == []  # refused before anything
