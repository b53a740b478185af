#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: scheduler_schedule
short_description: An EventBridge Scheduler schedule with one target
description:
  - Creates, updates or deletes an Amazon EventBridge Scheduler schedule (the C(scheduler)
    API, not EventBridge rules) with one target, for example a universal target such as
    C(arn:aws:scheduler:::aws-sdk:ec2:stopInstances) that calls an AWS API directly.
  - Compares first and calls C(UpdateSchedule) only when something differs. The target's
    input is compared as a JSON value (key order and spacing do not matter). Values AWS
    fills in when they are not sent (time zone C(UTC), the retry policy of 185 attempts
    within 86400 s, an empty description) compare equal to those defaults.
  - The flexible time window is off unless O(flexible_window_minutes) is set.
  - Schedules carry no tags in the Scheduler API (only schedule groups do).
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Name of the schedule (1-64 characters of letters, digits, C(.), C(-) and C(_)).
    type: str
    required: true
  group:
    description: Schedule group of the schedule. It must exist; C(default) always does.
    type: str
    default: default
  state:
    description: Whether the schedule should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the schedule.
    type: str
    default: ""
  schedule_expression:
    description:
      - When the schedule fires. C(cron(minutes hours day-of-month month day-of-week year)),
        C(rate(value unit)) or C(at(yyyy-mm-ddThh:mm:ss)). Required when O(state=present).
    type: str
  schedule_expression_timezone:
    description: IANA time zone the cron or at expression is read in, for example C(Europe/Berlin).
    type: str
    default: UTC
  enabled:
    description: Whether the schedule is C(ENABLED) (else C(DISABLED)).
    type: bool
    default: true
  flexible_window_minutes:
    description:
      - 0 (the default) turns the flexible time window off (the target is invoked at the
        scheduled time); 1-1440 lets Scheduler invoke it up to that many minutes later.
    type: int
    default: 0
  target:
    description: The schedule's target. Required when O(state=present).
    type: dict
    suboptions:
      arn:
        description:
          - ARN of the target (a service resource, or a universal target
            C(arn:aws:scheduler:::aws-sdk:SERVICE:ACTION)).
        type: str
        required: true
      role_arn:
        description: IAM role Scheduler assumes to invoke the target.
        type: str
        required: true
      input:
        description:
          - Input passed to the target (a mapping, or its JSON text). For a universal
            target, the API call's parameters (for example C({"InstanceIds":["i-0123"]})).
        type: json
      retry_policy:
        description: How long and how often Scheduler retries a failed invocation.
        type: dict
        suboptions:
          maximum_event_age_in_seconds:
            description: Give up on an invocation this many seconds after its scheduled time (60-86400).
            type: int
            default: 86400
          maximum_retry_attempts:
            description: Retries of a failed invocation (0-185).
            type: int
            default: 185
      dead_letter_arn:
        description: ARN of an SQS queue that receives invocations that failed for good.
        type: str
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(scheduler:GetSchedule), C(scheduler:CreateSchedule), C(scheduler:UpdateSchedule),
    C(scheduler:DeleteSchedule), and C(iam:PassRole) on the target's role.
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Stop the bastion at 19:00 on weekdays, Berlin time
  lmpspot.aws.scheduler_schedule:
    name: lmpspot-prod-bastion-stop
    schedule_expression: cron(0 19 ? * MON-FRI *)
    schedule_expression_timezone: Europe/Berlin
    description: Stop the bastion outside working hours
    target:
      arn: arn:aws:scheduler:::aws-sdk:ec2:stopInstances
      role_arn: arn:aws:iam::123456789012:role/lmpspot/lmpspot-prod-bastion-schedule
      input:
        InstanceIds: [i-0123456789abcdef0]
      retry_policy:
        maximum_event_age_in_seconds: 3600
        maximum_retry_attempts: 10

- name: Remove it
  lmpspot.aws.scheduler_schedule:
    name: lmpspot-prod-bastion-stop
    state: absent
"""

RETURN = r"""
schedule:
  description: The schedule after the run, normalized (snake_case); empty when absent.
  returned: always
  type: dict
  contains:
    arn: {description: Schedule ARN (absent in check mode before creation)., type: str}
    name: {description: Name., type: str}
    group_name: {description: Schedule group., type: str}
    description: {description: Description., type: str}
    schedule_expression: {description: The cron, rate or at expression., type: str}
    schedule_expression_timezone: {description: Time zone of the expression., type: str}
    state: {description: ENABLED or DISABLED., type: str}
    flexible_time_window: {description: Mode (OFF or FLEXIBLE) and maximum_window_in_minutes., type: dict}
    target:
      description: Target with arn, role_arn, input (JSON text), retry_policy and dead_letter_config.
      type: dict
differences:
  description:
    - Top-level fields that differed from the existing schedule (empty when it was
      created or unchanged).
  returned: when state=present
  type: list
  elements: str
  sample: [ScheduleExpression, Target]
arn:
  description: ARN of the schedule.
  returned: when state=present and the schedule exists
  type: str
"""

import contextlib
import json
import re

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

DEFAULT_RETRY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
DEFAULT_TIMEZONE = "UTC"
_NAME = re.compile(r"^[0-9a-zA-Z._-]{1,64}$")
_AT = re.compile(r"^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$")
_RATE = re.compile(r"^rate\((?P<n>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<body>[^()]+)\)$")


# --------------------------------------------------------------------------- pure logic


def expression_problem(expr):  # noqa: PLR0911 (one return per form of expression)
    """Why ``expr`` is not a Scheduler expression, or None.  Checks the form, not the ranges."""
    if not isinstance(expr, str) or not expr:
        return "schedule_expression is required: cron(...), rate(...) or at(...)"
    if _AT.match(expr):
        return None
    rate = _RATE.match(expr)
    if rate:
        n, unit = int(rate["n"]), rate["unit"]
        if (n == 1) != (not unit.endswith("s")):
            one = unit.rstrip("s")
            return f"schedule_expression {expr!r}: write rate(1 {one}) or rate({n} {one}s)"
        return None
    cron = _CRON.match(expr)
    if cron:
        fields = cron["body"].split()
        if len(fields) != 6:
            return (
                f"schedule_expression {expr!r}: a Scheduler cron has 6 fields "
                "(minutes hours day-of-month month day-of-week year), e.g. cron(0 19 ? * MON-FRI *)"
            )
        dom, dow = fields[2], fields[4]
        if (dom == "?") == (dow == "?"):
            return (
                f"schedule_expression {expr!r}: exactly one of day-of-month and day-of-week must be '?' "
                "(e.g. cron(0 19 ? * MON-FRI *))"
            )
        return None
    return f"schedule_expression {expr!r} must be cron(...), rate(...) or at(yyyy-mm-ddThh:mm:ss)"


def desired_schedule(p):
    """The schedule ``p`` (module parameters) asks for, in the normalized API shape."""
    t = p["target"]
    retry = t.get("retry_policy") or {}
    target = {
        "Arn": t["arn"],
        "RoleArn": t["role_arn"],
        "RetryPolicy": {
            "MaximumEventAgeInSeconds": retry.get("maximum_event_age_in_seconds", 86400),
            "MaximumRetryAttempts": retry.get("maximum_retry_attempts", 185),
        },
    }
    if t.get("input") not in (None, ""):
        target["Input"] = _json_value(t["input"])
    if t.get("dead_letter_arn"):
        target["DeadLetterConfig"] = {"Arn": t["dead_letter_arn"]}
    minutes = p["flexible_window_minutes"] or 0
    window = {"Mode": "OFF"} if minutes == 0 else {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": minutes}
    return {
        "Name": p["name"],
        "GroupName": p["group"],
        "Description": p["description"] or "",
        "ScheduleExpression": p["schedule_expression"],
        "ScheduleExpressionTimezone": p["schedule_expression_timezone"] or DEFAULT_TIMEZONE,
        "State": "ENABLED" if p["enabled"] else "DISABLED",
        "FlexibleTimeWindow": window,
        "Target": target,
    }


def _json_value(text):
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalized(schedule):
    """A GetSchedule answer (or desired_schedule's) reduced to what this module manages,
    with AWS's defaults filled in, so that equal content compares equal."""
    if not schedule:
        return None
    target = schedule.get("Target") or {}
    out_target = {
        "Arn": target.get("Arn"),
        "RoleArn": target.get("RoleArn"),
        "RetryPolicy": {**DEFAULT_RETRY, **(target.get("RetryPolicy") or {})},
    }
    if target.get("Input") not in (None, ""):
        out_target["Input"] = _json_value(target["Input"])
    if (target.get("DeadLetterConfig") or {}).get("Arn"):
        out_target["DeadLetterConfig"] = {"Arn": target["DeadLetterConfig"]["Arn"]}
    window = dict(schedule.get("FlexibleTimeWindow") or {"Mode": "OFF"})
    if window.get("Mode") == "OFF":
        window = {"Mode": "OFF"}
    return {
        "Name": schedule.get("Name"),
        "GroupName": schedule.get("GroupName") or "default",
        "Description": schedule.get("Description") or "",
        "ScheduleExpression": schedule.get("ScheduleExpression"),
        "ScheduleExpressionTimezone": schedule.get("ScheduleExpressionTimezone") or DEFAULT_TIMEZONE,
        "State": schedule.get("State") or "ENABLED",
        "FlexibleTimeWindow": window,
        "Target": out_target,
    }


def differences(current, desired):
    """Top-level fields whose normalized values differ (all of them when ``current`` is None)."""
    want = normalized(desired)
    if current is None:
        return sorted(want)
    have = normalized(current)
    return sorted(k for k in want if have.get(k) != want[k])


def request(desired):
    """CreateSchedule/UpdateSchedule keyword arguments for a desired schedule."""
    kwargs = {k: v for k, v in desired.items() if k != "Description"}
    kwargs["Target"] = dict(desired["Target"])
    if "Input" in kwargs["Target"] and not isinstance(kwargs["Target"]["Input"], str):
        kwargs["Target"]["Input"] = json.dumps(kwargs["Target"]["Input"], sort_keys=True)
    if desired["Description"]:
        kwargs["Description"] = desired["Description"]
    return kwargs


def facts(schedule, arn=None):
    """snake_case facts of a schedule (the input stays JSON text)."""
    if not schedule:
        return {}
    norm = normalized(schedule)
    target = norm.pop("Target")
    out = camel_dict_to_snake_dict(norm)
    text = target.pop("Input", None)
    out["target"] = camel_dict_to_snake_dict(target)
    if text is not None:
        out["target"]["input"] = text if isinstance(text, str) else json.dumps(text, sort_keys=True)
    if arn or schedule.get("Arn"):
        out["arn"] = arn or schedule.get("Arn")
    return out


def param_problems(p):
    """Problems of the parameters a schedule cannot be created with (checked before any call)."""
    problems = []
    if not _NAME.match(p["name"] or ""):
        problems.append(f"name {p['name']!r} must be 1-64 letters, digits, '.', '-' or '_'")
    if p["state"] != "present":
        return problems
    problem = expression_problem(p["schedule_expression"])
    if problem:
        problems.append(problem)
    minutes = p["flexible_window_minutes"]
    if minutes is not None and not 0 <= minutes <= 1440:
        problems.append(f"flexible_window_minutes must be 0 (off) to 1440, got {minutes}")
    retry = (p["target"] or {}).get("retry_policy") or {}
    age = retry.get("maximum_event_age_in_seconds")
    if age is not None and not 60 <= age <= 86400:
        problems.append(f"target.retry_policy.maximum_event_age_in_seconds must be 60-86400, got {age}")
    attempts = retry.get("maximum_retry_attempts")
    if attempts is not None and not 0 <= attempts <= 185:
        problems.append(f"target.retry_policy.maximum_retry_attempts must be 0-185, got {attempts}")
    text = (p["target"] or {}).get("input")
    if text not in (None, ""):
        try:
            json.loads(text)
        except ValueError as exc:
            problems.append(f"target.input is not valid JSON: {exc}")
    return problems


# --------------------------------------------------------------------------- AWS calls


class ScheduleManager:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.client = module.client("scheduler", retry_decorator=AWSRetry.jittered_backoff())

    def get(self):
        try:
            res = self.client.get_schedule(Name=self.p["name"], GroupName=self.p["group"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        res.pop("ResponseMetadata", None)
        return res

    def present(self):
        desired = desired_schedule(self.p)
        current = self.get()
        diff_fields = differences(current, desired)
        result = {"changed": bool(diff_fields), "differences": diff_fields if current else []}
        after = current
        if diff_fields and not self.module.check_mode:
            kwargs = request(desired)
            if current is None:
                self.client.create_schedule(aws_retry=True, **kwargs)
            else:
                self.client.update_schedule(aws_retry=True, **kwargs)
            after = self.get()
        elif diff_fields:  # check mode: what apply would leave
            after = dict(desired, Arn=(current or {}).get("Arn"))
        result["schedule"] = facts(after)
        result["arn"] = result["schedule"].get("arn")
        if self.module._diff:
            result["diff"] = {"before": facts(current), "after": result["schedule"]}
        return result

    def absent(self):
        current = self.get()
        result = {"changed": current is not None, "schedule": {}}
        if self.module._diff:
            result["diff"] = {"before": facts(current), "after": {}}
        if current is None or self.module.check_mode:
            return result
        try:
            self.client.delete_schedule(Name=self.p["name"], GroupName=self.p["group"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            pass
        return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "group": {"type": "str", "default": "default"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "description": {"type": "str", "default": ""},
            "schedule_expression": {"type": "str"},
            "schedule_expression_timezone": {"type": "str", "default": DEFAULT_TIMEZONE},
            "enabled": {"type": "bool", "default": True},
            "flexible_window_minutes": {"type": "int", "default": 0},
            "target": {
                "type": "dict",
                "options": {
                    "arn": {"type": "str", "required": True},
                    "role_arn": {"type": "str", "required": True},
                    "input": {"type": "json"},
                    "retry_policy": {
                        "type": "dict",
                        "options": {
                            "maximum_event_age_in_seconds": {"type": "int", "default": 86400},
                            "maximum_retry_attempts": {"type": "int", "default": 185},
                        },
                    },
                    "dead_letter_arn": {"type": "str"},
                },
            },
        },
        required_if=[("state", "present", ["schedule_expression", "target"])],
        supports_check_mode=True,
    )
    problems = param_problems(module.params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    manager = ScheduleManager(module)
    try:
        result = manager.present() if module.params["state"] == "present" else manager.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(
            exc, msg=f"EventBridge Scheduler call failed for schedule {module.params['name']}"
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
