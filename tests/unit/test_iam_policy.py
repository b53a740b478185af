"""The shared "everything on everything" IAM check (identity role guard and audit)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmpspot.aws.plugins.filter.iam import iam_star_statements
from ansible_collections.lmpspot.aws.plugins.module_utils import audit_iam, iam_policy

BUCKET = "arn:aws:s3:::b/*"


@pytest.mark.parametrize(
    ("statement", "flagged"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}, True),
        ({"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["arn:x", "*"]}, True),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["logs:PutLogEvents", "iam:*"], "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True),
        ({"Effect": "Allow", "NotAction": ["s3:DeleteObject"], "Resource": ["*"]}, True),
        ({"Effect": "Allow", "Action": "*", "NotResource": BUCKET}, True),
        ({"Effect": "Allow", "Action": "*", "Resource": BUCKET}, False),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET}, False),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": BUCKET}, False),
        ({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}, False),
        ({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}, False),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
        ({"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}, False),
    ],
)
def test_one_check_for_guard_and_audit(statement, flagged):
    doc = {"Version": "2012-10-17", "Statement": [statement]}
    assert bool(iam_policy.star_reason(statement)) is flagged
    # the identity role's guard (the filter) ...
    assert len(iam_star_statements(doc)) == int(flagged)
    assert len(iam_star_statements(json.dumps(doc))) == int(flagged)
    # ... and the audit agree
    got = audit_iam.check_policy_documents([("arn:aws:iam::1:role/r", "role r inline policy p", doc)])
    assert [f["id"] for f in got] == (["iam.star_policy"] if flagged else [])


def test_a_single_statement_object_counts():
    doc = {"Statement": {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}}
    (st,) = iam_star_statements(doc)
    assert "NotAction" in st["Reason"]


@pytest.mark.parametrize("bad", ["{not json", ["Statement"], 42, {"Statement": "x"}, {"Statement": [1]}])
def test_bad_documents_are_refused_with_a_message(bad):
    with pytest.raises(AnsibleFilterError, match="iam_star_statements"):
        iam_star_statements(bad)


@pytest.mark.parametrize("empty", [None, "", {}])
def test_empty_documents_have_no_statements(empty):
    assert iam_star_statements(empty) == []
