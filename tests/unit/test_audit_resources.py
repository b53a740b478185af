"""The drift check over declared resources (module_utils/audit_resources.py): flattening the
declarations, and the findings for absent and switched-off resources."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import audit_resources as ar

DECLARED = {
    "playbooks/identity.yml": [{"kind": "iam_role", "name": "p-job"}],
    "playbooks/monitoring.yml": [
        {"kind": "alarm", "name": "p-failed"},
        {"kind": "event_rule", "name": "p-rule"},
        {"kind": "log_group", "name": "/aws/p"},
    ],
}


def test_flatten_keeps_the_play():
    flat = ar.flatten(DECLARED)
    assert {(r["kind"], r["name"], r["play"]) for r in flat} == {
        ("iam_role", "p-job", "playbooks/identity.yml"),
        ("alarm", "p-failed", "playbooks/monitoring.yml"),
        ("event_rule", "p-rule", "playbooks/monitoring.yml"),
        ("log_group", "/aws/p", "playbooks/monitoring.yml"),
    }


def test_flatten_refuses_a_kind_it_cannot_read():
    with pytest.raises(ValueError, match="kind 'dashboard'"):
        ar.flatten({"playbooks/monitoring.yml": [{"kind": "dashboard", "name": "d"}]})


@pytest.mark.parametrize(
    ("state", "want"),
    [
        ({}, {("drift.missing", "high", n) for n in ("p-job", "p-failed", "p-rule", "/aws/p")}),
        (
            {
                ("iam_role", "p-job"): {"enabled": True},
                ("alarm", "p-failed"): {"enabled": False},
                ("event_rule", "p-rule"): {"enabled": False},
                ("log_group", "/aws/p"): {"enabled": True},
            },
            {("drift.config", "medium", "p-failed"), ("drift.config", "medium", "p-rule")},
        ),
        ({(r["kind"], r["name"]): {"enabled": True} for r in ar.flatten(DECLARED)}, set()),
    ],
)
def test_check_resource_drift(state, want):
    got = ar.check_resource_drift(ar.flatten(DECLARED), state)
    assert {(f["id"], f["severity"], f["resource"]) for f in got} == want
    for f in got:
        if f["resource"] == "p-failed" and f["id"] == "drift.config":
            assert f["fix"] == "aws cloudwatch enable-alarm-actions --alarm-names p-failed"
        elif f["resource"] == "p-job":
            assert f["fix"] == "Run playbooks/identity.yml"
        else:
            assert f["fix"] == "Run playbooks/monitoring.yml"
