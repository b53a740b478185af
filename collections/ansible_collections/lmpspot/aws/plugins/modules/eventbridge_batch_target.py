#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: eventbridge_batch_target
short_description: An EventBridge rule whose one target submits an AWS Batch job
description:
  - Creates, updates or deletes an EventBridge rule with an event pattern and exactly one
    target, an AWS Batch job queue. The target carries C(BatchParameters) (job definition,
    job name, optional attempts), the IAM role EventBridge uses to call C(batch:SubmitJob),
    and an optional input transformer. For a Batch target the transformed input may hold
    C(Parameters) (and C(ContainerOverrides)) of the submitted job.
  - C(amazon.aws.cloudwatchevent_rule) cannot express C(BatchParameters) and has no check
    mode; this module can and has.
  - Compares first and changes only the difference. Event patterns are compared as JSON
    values (key order and spacing do not matter). Other targets on the rule are removed.
  - O(state=absent) removes the rule's targets, then the rule.
version_added: 0.1.0
author: lmpspot developers
options:
  target_id:
    description: Id of the target on the rule.
    type: str
    default: batch
  job_queue_arn:
    description: ARN of the Batch job queue the job is submitted to. Required when O(state=present).
    type: str
  job_definition:
    description:
      - Job definition (name, C(name:revision) or ARN). A bare name means the latest
        C(ACTIVE) revision at submission time. Required when O(state=present).
    type: str
  job_name:
    description: Name of the submitted jobs. Required when O(state=present).
    type: str
  attempts:
    description: Overrides the job definition's retry attempts (1-10); omit to keep them.
    type: int
  role_arn:
    description: IAM role EventBridge assumes to submit the job. Required when O(state=present).
    type: str
  input_paths_map:
    description: Input transformer variables (name to JSON path into the event).
    type: dict
  input_template:
    description:
      - Input transformer template; C(<name>) placeholders are replaced by the values of
        O(input_paths_map). Without it the whole event is sent.
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
- name: Resubmit spot jobs cancelled for lack of capacity to the on-demand queue
  lmpspot.aws.eventbridge_batch_target:
    name: lmpspot-prod-spot-fallback
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
    job_queue_arn: arn:aws:batch:us-east-2:123456789012:job-queue/lmpspot-prod-ondemand
    job_definition: lmpspot-prod-lammps-gpu
    job_name: lmpspot-prod-ondemand-fallback
    role_arn: arn:aws:iam::123456789012:role/lmpspot/lmpspot-prod-events
    input_paths_map:
      sim_id: $.detail.parameters.sim_id
    input_template: '{"Parameters": {"sim_id": "<sim_id>"}}'
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
    batch_params = {"JobDefinition": p["job_definition"], "JobName": p["job_name"]}
    if p["attempts"] is not None:
        batch_params["RetryStrategy"] = {"Attempts": p["attempts"]}
    target = {
        "Id": p["target_id"],
        "Arn": p["job_queue_arn"],
        "RoleArn": p["role_arn"],
        "BatchParameters": batch_params,
    }
    if p["input_template"] is not None:
        target["InputTransformer"] = {
            "InputPathsMap": {str(k): str(v) for k, v in (p["input_paths_map"] or {}).items()},
            "InputTemplate": p["input_template"],
        }
    return target


def comparable_target(target):
    """A target as PutTargets takes it, without the empty parts AWS may add."""
    if not target:
        return None
    out = {
        k: target[k] for k in ("Id", "Arn", "RoleArn", "BatchParameters", "InputTransformer") if k in target
    }
    transformer = out.get("InputTransformer")
    if transformer is not None:
        out["InputTransformer"] = {
            "InputPathsMap": dict(transformer.get("InputPathsMap") or {}),
            "InputTemplate": transformer.get("InputTemplate"),
        }
    batch_params = dict(out.get("BatchParameters") or {})
    if not batch_params.get("RetryStrategy"):
        batch_params.pop("RetryStrategy", None)
    if not batch_params.get("ArrayProperties"):
        batch_params.pop("ArrayProperties", None)
    out["BatchParameters"] = batch_params
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec={
            **eventbridge.RULE_ARGUMENT_SPEC,
            "target_id": {"type": "str", "default": "batch"},
            "job_queue_arn": {"type": "str"},
            "job_definition": {"type": "str"},
            "job_name": {"type": "str"},
            "attempts": {"type": "int"},
            "role_arn": {"type": "str"},
            "input_paths_map": {"type": "dict"},
            "input_template": {"type": "str"},
            **eventbridge.TAG_ARGUMENT_SPEC,
        },
        required_if=[
            (
                "state",
                "present",
                ["event_pattern", "job_queue_arn", "job_definition", "job_name", "role_arn"],
            ),
        ],
        supports_check_mode=True,
    )
    attempts = module.params["attempts"]
    if attempts is not None and not 1 <= attempts <= 10:
        module.fail_json(msg=f"attempts must be 1-10, got {attempts}")
    eventbridge.run(module, desired_target, comparable_target)


if __name__ == "__main__":
    main()
