"""playbooks/night_window.yml against the local AWS: check mode, apply, re-apply changed=0,
the schedules, their role and the compute environments' state through boto3, the window's
state now (pinned with night_window__now), turning it off, and bad settings."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.integration

PB = "playbooks/night_window.yml"
ENVS = ("lmpspot-local-gpu-spot", "lmpspot-local-gpu-ondemand")
BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2026-11-30: 12:00 is outside the 20:00-06:00 window, 23:00 inside.
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=BERLIN).timestamp()
NIGHT = datetime(2026, 11, 30, 23, 0, tzinfo=BERLIN).timestamp()
ON = {
    "night_window_enabled": True,
    "night_window_timezone": "Europe/Berlin",
    "night_window_open_time": "20:00",
    "night_window_close_time": "06:00",
    "night_window_weekdays": ["MON", "TUE", "WED", "THU", "FRI"],
}


@pytest.fixture
def environments(aws):
    """The compute layer's two environments (UNMANAGED stand-ins: only their state matters)."""
    role = aws.client("iam").create_role(RoleName="lmpspot-test-batch", AssumeRolePolicyDocument="{}")
    batch = aws.client("batch")
    for name in ENVS:
        batch.create_compute_environment(
            computeEnvironmentName=name, type="UNMANAGED", state="ENABLED", serviceRole=role["Role"]["Arn"]
        )
    return batch


def states(batch) -> dict[str, str]:
    envs = batch.describe_compute_environments(computeEnvironments=list(ENVS))["computeEnvironments"]
    return {e["computeEnvironmentName"]: e["state"] for e in envs}


def schedules(aws) -> dict[str, dict]:
    client = aws.client("scheduler")
    return {
        s["Name"]: client.get_schedule(Name=s["Name"])
        for s in client.list_schedules()["Schedules"]
        if s["Name"].startswith("lmpspot-local-gpu-")
    }


def test_night_window_lifecycle(aws, playbook, environments):
    batch = environments
    day = {**ON, "night_window__now": NOON}
    check = playbook(PB, aws, "--check", extra_vars=day)
    assert check.rc == 0, check
    assert check.changed == 3, check  # role, schedules (4 items), environments
    assert schedules(aws) == {} and set(states(batch).values()) == {"ENABLED"}

    first = playbook(PB, aws, extra_vars=day)
    assert first.rc == 0, first
    again = playbook(PB, aws, extra_vars=day)
    assert (again.rc, again.changed) == (0, 0), again

    # noon is outside the window: the environments wait DISABLED until 20:00
    assert states(batch) == dict.fromkeys(ENVS, "DISABLED")
    got = schedules(aws)
    assert set(got) == {f"{e}-{w}" for e in ENVS for w in ("open", "close")}
    account = aws.client("sts").get_caller_identity()["Account"]
    for env in ENVS:
        opening, closing = got[f"{env}-open"], got[f"{env}-close"]
        assert opening["ScheduleExpression"] == "cron(0 20 ? * MON,TUE,WED,THU,FRI *)"
        assert closing["ScheduleExpression"] == "cron(0 6 ? * TUE,WED,THU,FRI,SAT *)"
        for s, state in ((opening, "ENABLED"), (closing, "DISABLED")):
            assert s["ScheduleExpressionTimezone"] == "Europe/Berlin"
            assert s["FlexibleTimeWindow"] == {"Mode": "OFF"} and s["State"] == "ENABLED"
            assert s["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:batch:updateComputeEnvironment"
            assert json.loads(s["Target"]["Input"]) == {"ComputeEnvironment": env, "State": state}
            assert s["Target"]["RoleArn"] == f"arn:aws:iam::{account}:role/lmpspot/lmpspot-local-night-window"

    iam = aws.client("iam")
    role = iam.get_role(RoleName="lmpspot-local-night-window")["Role"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    [name] = iam.list_role_policies(RoleName="lmpspot-local-night-window")["PolicyNames"]
    [stmt] = iam.get_role_policy(RoleName="lmpspot-local-night-window", PolicyName=name)["PolicyDocument"][
        "Statement"
    ]
    assert stmt["Action"] == "batch:UpdateComputeEnvironment"
    assert sorted(stmt["Resource"]) == sorted(
        f"arn:aws:batch:us-east-2:{account}:compute-environment/{e}" for e in ENVS
    )

    # run inside the window: the environments are enabled now (and only that changes)
    night = playbook(PB, aws, extra_vars={**ON, "night_window__now": NIGHT})
    assert (night.rc, night.changed) == (0, 1), night
    assert states(batch) == dict.fromkeys(ENVS, "ENABLED")

    # off: schedules and role removed, environments left ENABLED; then again: nothing touched
    batch.update_compute_environment(computeEnvironment=ENVS[0], state="DISABLED")
    off = playbook(PB, aws)
    assert off.rc == 0, off
    assert schedules(aws) == {}
    assert "lmpspot-local-night-window" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert states(batch) == dict.fromkeys(ENVS, "ENABLED")
    batch.update_compute_environment(computeEnvironment=ENVS[1], state="DISABLED")  # by an operator
    off_again = playbook(PB, aws)
    assert (off_again.rc, off_again.changed) == (0, 0), off_again
    assert states(batch)[ENVS[1]] == "DISABLED"  # no window: the role leaves it alone


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"night_window_open_time": "8pm"}, "night_window_open_time"),
        ({"night_window_timezone": "CET+1"}, "night_window_timezone"),
        ({"night_window_weekdays": []}, "night_window_weekdays"),
    ],
)
def test_bad_settings_fail_before_touching_aws(aws, playbook, extra, words):
    res = playbook(PB, aws, extra_vars={**ON, **extra})
    assert res.rc != 0
    assert words in res.stdout, res
    assert schedules(aws) == {}
