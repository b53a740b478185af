"""Pure logic of lmpspot.aws.scheduler_schedule: expression checks, parameter checks, and the
normalization that makes a GetSchedule answer compare equal to the parameters it came from
(AWS fills in the time zone, the retry policy and the description when they are not sent)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.lmpspot.aws.plugins.modules.scheduler_schedule import (
    desired_schedule,
    differences,
    expression_problem,
    facts,
    normalized,
    param_problems,
    request,
)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("cron(0 19 ? * MON-FRI *)", None),
        ("cron(0 7 1 * ? *)", None),
        ("rate(5 minutes)", None),
        ("rate(1 hour)", None),
        ("at(2026-12-01T07:00:00)", None),
        ("cron(0 19 * * MON-FRI)", "6 fields"),
        ("cron(0 19 * * MON-FRI *)", "exactly one of day-of-month"),
        ("cron(0 19 ? * ? *)", "exactly one of day-of-month"),
        ("rate(1 hours)", "rate(1 hour)"),
        ("rate(5 minute)", "rate(5 minutes)"),
        ("rate(0 minutes)", "must be cron"),
        ("0 19 * * 1-5", "must be cron"),
        ("", "required"),
        (None, "required"),
    ],
)
def test_expression_problem(expr, fragment):
    problem = expression_problem(expr)
    if fragment is None:
        assert problem is None
    else:
        assert fragment in problem


def params(**over):
    p = {
        "name": "lmpspot-prod-bastion-stop",
        "group": "default",
        "state": "present",
        "description": "",
        "schedule_expression": "cron(0 19 ? * MON-FRI *)",
        "schedule_expression_timezone": "Europe/Berlin",
        "enabled": True,
        "flexible_window_minutes": 0,
        "target": {
            "arn": "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
            "role_arn": "arn:aws:iam::123456789012:role/r",
            "input": '{"InstanceIds": ["i-1"]}',
            "retry_policy": None,
            "dead_letter_arn": None,
        },
    }
    p.update(over)
    return p


# What AWS answers for the schedule params() creates: input re-serialized with other
# spacing, defaults filled in, description absent, extra read-only fields.
AWS_ANSWER = {
    "Arn": "arn:aws:scheduler:us-east-2:123456789012:schedule/default/lmpspot-prod-bastion-stop",
    "Name": "lmpspot-prod-bastion-stop",
    "GroupName": "default",
    "ScheduleExpression": "cron(0 19 ? * MON-FRI *)",
    "ScheduleExpressionTimezone": "Europe/Berlin",
    "State": "ENABLED",
    "FlexibleTimeWindow": {"Mode": "OFF"},
    "ActionAfterCompletion": "NONE",
    "CreationDate": 1,
    "Target": {
        "Arn": "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "Input": '{"InstanceIds":["i-1"]}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
    },
}


def test_aws_answer_equals_its_parameters():
    assert differences(AWS_ANSWER, desired_schedule(params())) == []


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"schedule_expression": "cron(0 18 ? * MON-FRI *)"}, "ScheduleExpression"),
        ({"schedule_expression_timezone": "UTC"}, "ScheduleExpressionTimezone"),
        ({"enabled": False}, "State"),
        ({"description": "stop"}, "Description"),
        ({"flexible_window_minutes": 15}, "FlexibleTimeWindow"),
        ({"target": {**params()["target"], "input": '{"InstanceIds": ["i-2"]}'}}, "Target"),
        (
            {
                "target": {
                    **params()["target"],
                    "retry_policy": {"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 185},
                }
            },
            "Target",
        ),
        ({"target": {**params()["target"], "dead_letter_arn": "arn:aws:sqs:us-east-2:1:dlq"}}, "Target"),
    ],
)
def test_each_change_is_seen(over, field):
    assert differences(AWS_ANSWER, desired_schedule(params(**over))) == [field]


def test_missing_timezone_and_retry_mean_aws_defaults():
    answer = json.loads(json.dumps(AWS_ANSWER))
    del answer["ScheduleExpressionTimezone"]
    del answer["Target"]["RetryPolicy"]
    assert differences(answer, desired_schedule(params(schedule_expression_timezone="UTC"))) == []


def test_new_schedule_differs_in_everything():
    assert "Target" in differences(None, desired_schedule(params()))


def test_request_sends_input_as_json_text_and_omits_empty_description():
    req = request(desired_schedule(params()))
    assert "Description" not in req
    assert json.loads(req["Target"]["Input"]) == {"InstanceIds": ["i-1"]}
    assert req["FlexibleTimeWindow"] == {"Mode": "OFF"}
    req = request(desired_schedule(params(description="d", flexible_window_minutes=10)))
    assert req["Description"] == "d"
    assert req["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}


def test_facts_are_snake_case_with_input_text():
    out = facts(AWS_ANSWER)
    assert out["arn"] == AWS_ANSWER["Arn"]
    assert out["schedule_expression_timezone"] == "Europe/Berlin"
    assert out["target"]["retry_policy"]["maximum_retry_attempts"] == 185
    assert json.loads(out["target"]["input"]) == {"InstanceIds": ["i-1"]}
    assert facts(None) == {}
    assert normalized(None) is None


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"flexible_window_minutes": 1441}, "flexible_window_minutes"),
        (
            {"target": {**params()["target"], "retry_policy": {"maximum_event_age_in_seconds": 30}}},
            "maximum_event_age_in_seconds",
        ),
        (
            {"target": {**params()["target"], "retry_policy": {"maximum_retry_attempts": 200}}},
            "maximum_retry_attempts",
        ),
        ({"target": {**params()["target"], "input": "{not json"}}, "target.input"),
        ({"schedule_expression": "daily"}, "schedule_expression"),
    ],
)
def test_param_problems(over, fragment):
    problems = param_problems(params(**over))
    assert len(problems) == 1 and fragment in problems[0], problems


def test_absent_needs_only_a_valid_name():
    assert param_problems(params(state="absent", schedule_expression=None, target=None)) == []
    assert param_problems(params()) == []
