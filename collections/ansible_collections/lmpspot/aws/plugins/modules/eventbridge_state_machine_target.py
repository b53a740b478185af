#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eventbridge_state_machine_target
short_description: An EventBridge rule whose one target starts a Step Functions state machine
description:
  - Creates, updates or deletes an EventBridge rule with an event pattern and exactly one
    target, a Step Functions state machine, started with the whole matched event as its
    input (or the part O(input_path) selects), through the IAM role O(role_arn) (which needs
    C(states:StartExecution) on the state machine).
  - Compares first and changes only the difference. Event patterns are compared as JSON
    values (key order and spacing do not matter). Other targets on the rule are removed.
  - O(state=absent) removes the rule's targets, then the rule.
version_added: 0.1.0
author: lmpspot developers
options:
  target_id:
    description: Id of the target on the rule.
    type: str
    default: state-machine
  state_machine_arn:
    description: ARN of the state machine to start. Required when O(state=present).
    type: str
  role_arn:
    description: IAM role EventBridge assumes to start it. Required when O(state=present).
    type: str
  input_path:
    description: JSON path of the part of the event to pass; omit to pass the whole event.
    type: str
extends_documentation_fragment:
  - lmpspot.aws.eventbridge_rule
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(events:DescribeRule), C(events:PutRule), C(events:EnableRule),
    C(events:DisableRule), C(events:DeleteRule), C(events:ListTargetsByRule),
    C(events:PutTargets), C(events:RemoveTargets), C(events:ListTagsForResource),
    C(events:TagResource), C(events:UntagResource), and C(iam:PassRole) on O(role_arn).
  - Supports check mode and diff mode.
"""
EXAMPLES = r"""
- name: Hand spot jobs cancelled for lack of capacity to the fallback state machine
  lmpspot.aws.eventbridge_state_machine_target:
    name: lmpspot-prod-lammps-gpu-fallback
    event_pattern:
      source: [aws.batch]
      detail-type: [Batch Job State Change]
      detail:
        jobQueue: [arn:aws:batch:us-east-2:123456789012:job-queue/lmpspot-prod-spot]
        status: [FAILED]
        statusReason:
          - prefix: >-
              Canceled by JobStateTimeLimit action due to reason:
              CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY
    state_machine_arn: arn:aws:states:us-east-2:123456789012:stateMachine:lmpspot-prod-ondemand-fallback
    role_arn: arn:aws:iam::123456789012:role/lmpspot/lmpspot-prod-batch-fallback
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
    target = {"Id": p["target_id"], "Arn": p["state_machine_arn"], "RoleArn": p["role_arn"]}
    if p["input_path"]:
        target["InputPath"] = p["input_path"]
    return target


def comparable_target(target):
    """A target as PutTargets takes it, without the empty parts AWS may add."""
    if not target:
        return None
    return {k: target[k] for k in ("Id", "Arn", "RoleArn", "InputPath") if target.get(k)}


def main():
    module = AnsibleAWSModule(
        argument_spec={
            **eventbridge.RULE_ARGUMENT_SPEC,
            "target_id": {"type": "str", "default": "state-machine"},
            "state_machine_arn": {"type": "str"},
            "role_arn": {"type": "str"},
            "input_path": {"type": "str"},
            **eventbridge.TAG_ARGUMENT_SPEC,
        },
        required_if=[("state", "present", ["event_pattern", "state_machine_arn", "role_arn"])],
        supports_check_mode=True,
    )
    eventbridge.run(module, desired_target, comparable_target)


if __name__ == "__main__":
    main()
