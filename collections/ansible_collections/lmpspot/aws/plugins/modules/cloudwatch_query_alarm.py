#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_query_alarm
short_description: A CloudWatch alarm on a Metrics Insights query or metric math expression
description:
  - Creates, updates or deletes a CloudWatch alarm whose one returned series is a Metrics
    Insights query (for example C(SELECT MAX(CheckpointAge\) FROM SCHEMA("lmpspot", JobId\)),
    which covers every job without naming one) or a metric math expression.
  - Compares first and changes only the difference.
  - Exists because amazon.aws.cloudwatch_metric_alarm (10.1) reports C(changed) on every run
    for alarms with O(expression)-style C(metrics) (it drops the current C(Metrics) before
    comparing) and so can neither keep them idempotent nor detect their drift.
  - Supports check mode and diff.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Alarm name.
    type: str
    required: true
  state:
    description: Whether the alarm should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Alarm description.
    type: str
    default: ""
  expression:
    description: The Metrics Insights query or metric math expression. Required when O(state=present).
    type: str
  period:
    description: Period of the expression in seconds (10, 30, or a multiple of 60).
    type: int
    default: 300
  comparison:
    description: How the expression's value is compared with O(threshold).
    type: str
    choices:
      - GreaterThanOrEqualToThreshold
      - GreaterThanThreshold
      - LessThanThreshold
      - LessThanOrEqualToThreshold
    default: GreaterThanThreshold
  threshold:
    description: Threshold. Required when O(state=present).
    type: float
  evaluation_periods:
    description: Periods over which the value is compared.
    type: int
    default: 1
  datapoints_to_alarm:
    description: Breaching periods (of O(evaluation_periods)) that trigger the alarm; default all.
    type: int
  treat_missing_data:
    description: How periods without data count.
    type: str
    choices: [breaching, notBreaching, ignore, missing]
    default: missing
  alarm_actions:
    description: ARNs notified on ALARM.
    type: list
    elements: str
    default: []
  ok_actions:
    description: ARNs notified on OK.
    type: list
    elements: str
    default: []
  insufficient_data_actions:
    description: ARNs notified on INSUFFICIENT_DATA.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(cloudwatch:DescribeAlarms), C(cloudwatch:PutMetricAlarm) and C(cloudwatch:DeleteAlarms).
"""

EXAMPLES = r"""
- name: Some job's checkpoint is older than 20 minutes
  lmpspot.aws.cloudwatch_query_alarm:
    name: lmpspot-prod-checkpoint-stale
    expression: SELECT MAX(CheckpointAge) FROM SCHEMA("lmpspot", JobId)
    period: 300
    threshold: 1200
    treat_missing_data: notBreaching
    alarm_actions: [arn:aws:sns:us-east-2:123456789012:lmpspot-prod-alerts]
"""

RETURN = r"""
alarm:
  description: The alarm's settings after the task (snake_case); empty when absent.
  returned: always
  type: dict
  contains:
    expression: {description: The query or expression., type: str}
    period: {description: Period (s)., type: int}
    threshold: {description: Threshold., type: float}
    comparison: {description: Comparison operator., type: str}
    treat_missing_data: {description: Missing-data treatment., type: str}
    alarm_actions: {description: ALARM actions., type: list}
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

METRIC_ID = "q"


def facts(alarm):
    """The settings this module manages, from a DescribeAlarms entry."""
    if not alarm:
        return {}
    metrics = alarm.get("Metrics") or []
    returned = [m for m in metrics if m.get("ReturnData", True)]
    first = returned[0] if returned else {}
    return {
        "description": alarm.get("AlarmDescription") or "",
        "expression": first.get("Expression"),
        "period": first.get("Period"),
        "metric_count": len(metrics),
        "comparison": alarm.get("ComparisonOperator"),
        "threshold": float(alarm.get("Threshold", 0)),
        "evaluation_periods": alarm.get("EvaluationPeriods"),
        "datapoints_to_alarm": alarm.get("DatapointsToAlarm", alarm.get("EvaluationPeriods")),
        "treat_missing_data": alarm.get("TreatMissingData") or "missing",
        "alarm_actions": sorted(alarm.get("AlarmActions") or []),
        "ok_actions": sorted(alarm.get("OKActions") or []),
        "insufficient_data_actions": sorted(alarm.get("InsufficientDataActions") or []),
    }


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "description": {"type": "str", "default": ""},
            "expression": {"type": "str"},
            "period": {"type": "int", "default": 300},
            "comparison": {
                "type": "str",
                "default": "GreaterThanThreshold",
                "choices": [
                    "GreaterThanOrEqualToThreshold",
                    "GreaterThanThreshold",
                    "LessThanThreshold",
                    "LessThanOrEqualToThreshold",
                ],
            },
            "threshold": {"type": "float"},
            "evaluation_periods": {"type": "int", "default": 1},
            "datapoints_to_alarm": {"type": "int"},
            "treat_missing_data": {
                "type": "str",
                "default": "missing",
                "choices": ["breaching", "notBreaching", "ignore", "missing"],
            },
            "alarm_actions": {"type": "list", "elements": "str", "default": []},
            "ok_actions": {"type": "list", "elements": "str", "default": []},
            "insufficient_data_actions": {"type": "list", "elements": "str", "default": []},
        },
        required_if=[("state", "present", ["expression", "threshold"])],
        supports_check_mode=True,
    )
    p = module.params
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found = client.describe_alarms(aws_retry=True, AlarmNames=[p["name"]], AlarmTypes=["MetricAlarm"])
        current = (found.get("MetricAlarms") or [None])[0]
        have = facts(current)
        if p["state"] == "absent":
            want = {}
        else:
            if p["period"] not in (10, 30) and p["period"] % 60:
                module.fail_json(msg=f"period must be 10, 30 or a multiple of 60, got {p['period']}")
            want = {
                "description": p["description"] or "",
                "expression": p["expression"],
                "period": p["period"],
                "metric_count": 1,
                "comparison": p["comparison"],
                "threshold": float(p["threshold"]),
                "evaluation_periods": p["evaluation_periods"],
                "datapoints_to_alarm": p["datapoints_to_alarm"] or p["evaluation_periods"],
                "treat_missing_data": p["treat_missing_data"],
                "alarm_actions": sorted(p["alarm_actions"]),
                "ok_actions": sorted(p["ok_actions"]),
                "insufficient_data_actions": sorted(p["insufficient_data_actions"]),
            }
        changed = have != want
        if changed and not module.check_mode:
            if not want:
                client.delete_alarms(aws_retry=True, AlarmNames=[p["name"]])
            else:
                client.put_metric_alarm(
                    aws_retry=True,
                    AlarmName=p["name"],
                    AlarmDescription=want["description"],
                    Metrics=[
                        {
                            "Id": METRIC_ID,
                            "Expression": want["expression"],
                            "Period": want["period"],
                            "ReturnData": True,
                        }
                    ],
                    ComparisonOperator=want["comparison"],
                    Threshold=want["threshold"],
                    EvaluationPeriods=want["evaluation_periods"],
                    DatapointsToAlarm=want["datapoints_to_alarm"],
                    TreatMissingData=want["treat_missing_data"],
                    AlarmActions=want["alarm_actions"],
                    OKActions=want["ok_actions"],
                    InsufficientDataActions=want["insufficient_data_actions"],
                )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"CloudWatch call failed for alarm {p['name']}")
    result = {"changed": changed, "alarm": want}
    if module._diff:
        result["diff"] = {"before": have, "after": want}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
