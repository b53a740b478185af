"""The audit's drift over the resources each layer declares (``<role>__resources``), against
real layers in the local AWS: identity, the night window (on) and monitoring.

1. After the plays, the audit finds nothing, it looked up every declared resource, and the
   declaration is complete: every IAM role, instance profile, log group, alarm, EventBridge
   rule, schedule and topic with the project's name in the account is declared (a resource
   a role makes but does not declare fails here).
2. Seeded: a deleted role, log group, alarm, schedule and topic are each ``drift.missing``
   (high: the play fails); a disabled EventBridge rule and an alarm with its actions off are
   ``drift.config`` (medium).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import named_resources, run_playbook

pytestmark = pytest.mark.integration

P = "lmpspot-local"
ENVS = (f"{P}-gpu-spot", f"{P}-gpu-ondemand")
NIGHT = {
    "night_window_enabled": True,
    "night_window_timezone": "Europe/Berlin",
    "night_window__now": datetime(2026, 11, 30, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp(),
}
# (default: the audit's arguments are validated before it reads the layers' declarations.)
LAYERS = {
    "playbooks/identity.yml": "{{ identity_out_resources | default([]) }}",
    "playbooks/night_window.yml": "{{ night_window_out_resources | default([]) }}",
    "playbooks/monitoring.yml": "{{ monitoring_out_resources | default([]) }}",
}
EV = {**NIGHT, "audit_checks": ["drift"], "audit_drift_expected": {"resources": LAYERS}}


def _report(aws) -> dict:
    report = json.loads((Path(aws.state_dir) / "audit" / "audit.json").read_text())
    assert report["errors"] == [], report["errors"]
    return report


@pytest.fixture
def layers(aws):
    role = aws.client("iam").create_role(RoleName="test-batch-stand-in", AssumeRolePolicyDocument="{}")
    for name in ENVS:  # the night window sets their state (UNMANAGED stand-ins)
        aws.client("batch").create_compute_environment(
            computeEnvironmentName=name, type="UNMANAGED", state="ENABLED", serviceRole=role["Role"]["Arn"]
        )
    for play in LAYERS:
        done = run_playbook(play, aws, extra_vars=NIGHT)
        assert done.rc == 0, done
    return aws


def test_declared_resources_clean_then_seeded(layers):
    aws = layers
    clean = run_playbook("playbooks/audit.yml", aws, extra_vars=EV)
    assert clean.rc == 0, clean
    report = _report(aws)
    assert report["findings"] == [], report["findings"]
    compared = {(r["kind"], r["name"]) for r in report["compared"]}
    assert all(r["present"] for r in report["compared"]), report["compared"]
    # Every kind is looked up, and what the plays made is exactly what they declare.
    assert {k for k, _ in compared} >= {
        "iam_role",
        "instance_profile",
        "log_group",
        "alarm",
        "event_rule",
        "schedule",
        "sns_topic",
    }
    assert named_resources(aws, P) == compared, named_resources(aws, P) ^ compared

    iam, logs, cw = aws.client("iam"), aws.client("logs"), aws.client("cloudwatch")
    job = f"{P}-job"
    for name in iam.list_role_policies(RoleName=job)["PolicyNames"]:
        iam.delete_role_policy(RoleName=job, PolicyName=name)
    for pol in iam.list_attached_role_policies(RoleName=job)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=job, PolicyArn=pol["PolicyArn"])
    iam.delete_role(RoleName=job)
    logs.delete_log_group(logGroupName=f"/aws/events/{P}-monitoring")
    cw.delete_alarms(AlarmNames=[f"{P}-job-failed"])
    cw.disable_alarm_actions(AlarmNames=[f"{P}-spot-interruptions"])
    aws.client("events").disable_rule(Name=f"{P}-spot-warnings")
    aws.client("scheduler").delete_schedule(Name=f"{P}-gpu-spot-open")
    topic = next(
        t["TopicArn"]
        for t in aws.client("sns").list_topics()["Topics"]
        if t["TopicArn"].endswith(f"{P}-alerts")
    )
    aws.client("sns").delete_topic(TopicArn=topic)

    seeded = run_playbook("playbooks/audit.yml", aws, extra_vars=EV)
    assert seeded.rc == 2, seeded  # high findings fail the play
    got = {(f["id"], f["severity"], f["resource"]) for f in _report(aws)["findings"]}
    assert got == {
        ("drift.missing", "high", job),
        ("drift.missing", "high", f"/aws/events/{P}-monitoring"),
        ("drift.missing", "high", f"{P}-job-failed"),
        ("drift.missing", "high", f"{P}-gpu-spot-open"),
        ("drift.missing", "high", f"{P}-alerts"),
        ("drift.config", "medium", f"{P}-spot-interruptions"),
        ("drift.config", "medium", f"{P}-spot-warnings"),
    }, got
    fixes = {f["resource"]: f["fix"] for f in _report(aws)["findings"]}
    assert fixes[job] == "Run playbooks/identity.yml"
    assert fixes[f"{P}-gpu-spot-open"] == "Run playbooks/night_window.yml"
    assert fixes[f"{P}-alerts"] == "Run playbooks/monitoring.yml"
    # PutMetricAlarm leaves actions off: the fix names the call that turns them on.
    assert fixes[f"{P}-spot-interruptions"].startswith("aws cloudwatch enable-alarm-actions")

    # Re-applying the layers (and the alarm's fix) clears the drift.
    for play in LAYERS:
        assert run_playbook(play, aws, extra_vars=NIGHT).rc == 0
    cw.enable_alarm_actions(AlarmNames=[f"{P}-spot-interruptions"])
    again = run_playbook("playbooks/audit.yml", aws, extra_vars=EV)
    assert again.rc == 0, again
    assert _report(aws)["findings"] == []
