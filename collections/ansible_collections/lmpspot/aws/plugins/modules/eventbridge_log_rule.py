#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eventbridge_log_rule
short_description: An EventBridge rule whose one target is a CloudWatch Logs log group
description:
  - Creates, updates or deletes an EventBridge rule with an event pattern and exactly one
    target, a CloudWatch Logs log group. Every matching event is written to the group as one
    JSON log event, where metric filters can count it (no Lambda function needed).
  - EventBridge needs a CloudWatch Logs resource policy that lets C(events.amazonaws.com)
    write to the group (see M(lmpspot.aws.cloudwatchlogs_resource_policy)); the log group's
    name should start with C(/aws/events/).
  - C(amazon.aws.cloudwatchevent_rule) has no check mode and no tags; this module has both.
  - Compares first and changes only the difference. Event patterns are compared as JSON
    values (key order and spacing do not matter). Other targets on the rule are removed.
  - O(state=absent) removes the rule's targets, then the rule.
version_added: 0.1.0
author: lmpspot developers
options:
  target_id:
    description: Id of the target on the rule.
    type: str
    default: logs
  log_group_arn:
    description:
      - ARN of the target log group, without the trailing C(:*). Required when O(state=present).
    type: str
extends_documentation_fragment:
  - lmpspot.aws.eventbridge_rule
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(events:DescribeRule), C(events:PutRule), C(events:DeleteRule),
    C(events:ListTargetsByRule), C(events:PutTargets), C(events:RemoveTargets),
    C(events:ListTagsForResource), C(events:TagResource) and C(events:UntagResource).
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Record EC2 Spot interruption warnings in a log group
  lmpspot.aws.eventbridge_log_rule:
    name: lmpspot-prod-spot-warnings
    event_pattern:
      source: [aws.ec2]
      detail-type: [EC2 Spot Instance Interruption Warning]
    log_group_arn: arn:aws:logs:us-east-2:123456789012:log-group:/aws/events/lmpspot-prod-monitoring
"""

RETURN = r"""
rule:
  description: The rule after the run (snake_case); empty when absent.
  returned: always
  type: dict
  contains:
    arn: {description: Rule ARN., type: str}
    name: {description: Rule name., type: str}
    event_pattern: {description: Event pattern (JSON text)., type: str}
    state: {description: ENABLED or DISABLED., type: str}
    tags: {description: Tags., type: dict}
target:
  description: The rule's target after the run, as the API spells it (PascalCase); empty when absent.
  returned: always
  type: dict
arn:
  description: ARN of the rule.
  returned: when state=present and the rule exists
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.lmpspot.aws.plugins.module_utils import eventbridge


def desired_target(p):
    return {"Id": p["target_id"], "Arn": p["log_group_arn"]}


def comparable_target(target):
    """A target as PutTargets takes it (Id and Arn; anything else on it is a difference)."""
    if not target:
        return None
    return {k: v for k, v in target.items() if k not in ("ResponseMetadata",)}


def main():
    module = AnsibleAWSModule(
        argument_spec={
            **eventbridge.RULE_ARGUMENT_SPEC,
            "target_id": {"type": "str", "default": "logs"},
            "log_group_arn": {"type": "str"},
            **eventbridge.TAG_ARGUMENT_SPEC,
        },
        required_if=[
            (
                "state",
                "present",
                ["event_pattern", "log_group_arn"],
            ),
        ],
        supports_check_mode=True,
    )
    arn = module.params["log_group_arn"]
    if arn and (not arn.startswith("arn:") or ":log-group:" not in arn or arn.endswith(":*")):
        module.fail_json(msg=f"log_group_arn must be a log group ARN without the trailing ':*', got {arn}")
    eventbridge.run(module, desired_target, comparable_target)


if __name__ == "__main__":
    main()
