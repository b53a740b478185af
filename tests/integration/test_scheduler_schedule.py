"""lmpspot.aws.scheduler_schedule against a real moto server, through a real playbook:
check mode (changed, nothing created) -> apply -> apply again (changed=0) -> state through
boto3 -> real changes (expression, input, enabled) one at a time -> absent (check, apply, again).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

PB = "tests/integration/playbooks/scheduler_schedule.yml"
NAME = "lmpspot-test-stop"


def schedule(aws):
    client = aws.client("scheduler")
    try:
        return client.get_schedule(Name=NAME, GroupName="default")
    except client.exceptions.ResourceNotFoundException:
        return None


def test_schedule_lifecycle(aws, playbook):
    res = playbook(PB, aws, "--check", "--diff")
    assert (res.rc, res.changed) == (0, 1), res
    assert schedule(aws) is None  # check mode created nothing

    res = playbook(PB, aws)
    assert (res.rc, res.changed) == (0, 1), res
    res = playbook(PB, aws)
    assert (res.rc, res.changed) == (0, 0), res

    got = schedule(aws)
    assert got["ScheduleExpression"] == "cron(0 19 ? * MON-FRI *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert got["State"] == "ENABLED"
    assert got["Description"] == "stop outside working hours"
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = got["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
    assert target["RoleArn"] == "arn:aws:iam::123456789012:role/lmpspot-test-scheduler"
    assert json.loads(target["Input"]) == {"InstanceIds": ["i-0123456789abcdef0"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 5}

    # each real change is one update, seen through boto3 (settings accumulate)
    settings = {}
    for ev, check in (
        ({"sched_test_expression": "cron(30 18 ? * MON-THU *)"}, lambda s: s["ScheduleExpression"]),
        ({"sched_test_instance": "i-0fedcba9876543210"}, lambda s: json.loads(s["Target"]["Input"])),
        ({"sched_test_enabled": False}, lambda s: s["State"]),
    ):
        settings.update(ev)
        before = check(schedule(aws))
        if len(settings) == 1:  # check mode predicts an update and changes nothing
            res = playbook(PB, aws, "--check", extra_vars=settings)
            assert (res.rc, res.changed) == (0, 1), res
            assert check(schedule(aws)) == before
        res = playbook(PB, aws, extra_vars=settings)
        assert (res.rc, res.changed) == (0, 1), res
        assert check(schedule(aws)) != before
    res = playbook(PB, aws, extra_vars=settings)
    assert (res.rc, res.changed) == (0, 0), res
    got = schedule(aws)
    assert got["State"] == "DISABLED" and got["ScheduleExpression"] == "cron(30 18 ? * MON-THU *)"
    assert json.loads(got["Target"]["Input"]) == {"InstanceIds": ["i-0fedcba9876543210"]}

    gone = {"sched_test_state": "absent"}
    res = playbook(PB, aws, "--check", extra_vars=gone)
    assert (res.rc, res.changed) == (0, 1), res
    assert schedule(aws) is not None
    res = playbook(PB, aws, extra_vars=gone)
    assert (res.rc, res.changed) == (0, 1), res
    assert schedule(aws) is None
    res = playbook(PB, aws, extra_vars=gone)
    assert (res.rc, res.changed) == (0, 0), res


def test_bad_expression_fails_before_any_call(aws, playbook):
    res = playbook(PB, aws, extra_vars={"sched_test_expression": "cron(0 19 * * MON-FRI)"})
    assert res.rc != 0
    assert "6 fields" in res.stdout, res
    assert schedule(aws) is None
