#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_job_queue
short_description: Manage an AWS Batch job queue
description:
  - Creates, updates or deletes an AWS Batch job queue with an ordered list of compute
    environments, a priority, an optional fair-share scheduling policy and job state
    time limit actions. Names with hyphens work.
  - Compares the wanted state with the current one and calls C(UpdateJobQueue) only with
    the fields that differ. Resource tags are changed with C(TagResource)/C(UntagResource).
  - A scheduling policy can be swapped for another, but AWS cannot add one to a queue
    created without one (FIFO); the module then fails and says so.
  - When an endpoint's C(DescribeJobQueues) answer lacks C(jobStateTimeLimitActions)
    entirely (the local AWS, moto, does not store it), the field is treated as not
    supported there - the module warns and does not compare it - instead of reporting a
    change on every run. (A real AWS answer omitting the key for a queue without such
    actions would also be read this way, and the warning then says that the field was not set.)
  - O(state=absent) disables the queue, waits until it is C(VALID), deletes it and waits
    until it is gone. Jobs still in the queue are cancelled by AWS.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Name of the job queue.
    type: str
    required: true
  state:
    description: Whether the job queue should exist.
    type: str
    choices: [present, absent]
    default: present
  priority:
    description: Priority among queues sharing compute environments (higher goes first).
    type: int
    default: 1
  compute_environments:
    description:
      - Compute environments, by name or ARN, in the order jobs should try them
        (at most 3). Required when O(state=present).
      - In check mode, environments that do not exist yet are assumed to be created by
        an earlier task; outside check mode they must exist.
    type: list
    elements: str
  enabled:
    description: Whether the queue accepts jobs (C(ENABLED)) or not (C(DISABLED)).
    type: bool
    default: true
  scheduling_policy_arn:
    description:
      - ARN of a fair-share scheduling policy. Omit it to leave the queue's policy alone
        (FIFO for a new queue).
    type: str
  job_state_time_limit_actions:
    description:
      - Actions taken on jobs that stay too long in a state, for example cancelling jobs
        stuck C(RUNNABLE) because no instance type fits. Omit to leave them alone;
        an empty list removes them.
    type: list
    elements: dict
    suboptions:
      reason:
        description: Reason logged with the action, for example C(CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY).
        type: str
        required: true
      state:
        description: Job state the limit applies to.
        type: str
        choices: [RUNNABLE]
        default: RUNNABLE
      max_time_seconds:
        description: Seconds (600-86400) a job may stay in O(job_state_time_limit_actions[].state).
        type: int
        required: true
      action:
        description: What to do with the job.
        type: str
        choices: [CANCEL, TERMINATE]
        default: CANCEL
  wait_timeout:
    description: Seconds to wait for each status change.
    type: int
    default: 600
  wait_delay:
    description: Seconds between status polls.
    type: int
    default: 5
extends_documentation_fragment:
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(batch:DescribeJobQueues), C(batch:CreateJobQueue), C(batch:UpdateJobQueue),
    C(batch:DeleteJobQueue), C(batch:DescribeComputeEnvironments), C(batch:TagResource),
    C(batch:UntagResource).
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Spot first, On-Demand as fallback
  lmpspot.aws.batch_job_queue:
    name: lmpspot-prod-gpu
    priority: 10
    compute_environments:
      - lmpspot-prod-gpu-spot
      - lmpspot-prod-gpu-ondemand
    job_state_time_limit_actions:
      - reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY
        max_time_seconds: 3600
    tags:
      project: lmpspot

- name: Delete it
  lmpspot.aws.batch_job_queue:
    name: lmpspot-prod-gpu
    state: absent
"""

RETURN = r"""
job_queue:
  description: The job queue after the run, in snake_case; empty when absent.
  returned: always
  type: dict
  contains:
    job_queue_arn:
      description: ARN.
      type: str
    job_queue_name:
      description: Name.
      type: str
    priority:
      description: Priority.
      type: int
    state:
      description: ENABLED or DISABLED.
      type: str
    status:
      description: VALID, CREATING, UPDATING ...
      type: str
    compute_environment_order:
      description: List of {order, compute_environment (ARN)}.
      type: list
      elements: dict
    scheduling_policy_arn:
      description: Fair-share policy ARN, if any.
      type: str
    tags:
      description: Resource tags.
      type: dict
arn:
  description: ARN of the job queue.
  returned: when state=present
  type: str
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.lmpspot.aws.plugins.module_utils import batch
from ansible_collections.lmpspot.aws.plugins.module_utils.batch_common import BatchResource
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import tags_after

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


class JobQueueManager(BatchResource):
    kind = "job queue"

    def describe(self):
        return batch.describe_job_queue(self.client, self.name)

    def resolve(self, identifiers):
        """Compute environment names or ARNs -> ARNs (all must exist)."""
        arns, missing = [], []
        for ident in identifiers:
            env = batch.describe_compute_environment(self.client, ident)
            if env is not None:
                arns.append(env["computeEnvironmentArn"])
            elif self.module.check_mode:
                # An earlier task of the same check run would create it: assume it does.
                arns.append(ident)
            else:
                missing.append(ident)
        if missing:
            self.module.fail_json(msg=f"compute environment(s) not found: {', '.join(missing)}")
        return arns

    def desired(self):
        p = self.params
        want = {
            "jobQueueName": self.name,
            "state": "ENABLED" if p["enabled"] else "DISABLED",
            "priority": p["priority"],
            "computeEnvironmentOrder": batch.ce_order(self.resolve(p["compute_environments"])),
        }
        if p["scheduling_policy_arn"]:
            want["schedulingPolicyArn"] = p["scheduling_policy_arn"]
        if p["job_state_time_limit_actions"] is not None:
            want["jobStateTimeLimitActions"] = batch.time_limit_actions_request(
                p["job_state_time_limit_actions"]
            )
        return want

    def describe_settled(self):
        """The queue once no create, update or delete of it is in flight (None if gone)."""
        current = self.describe()
        if current is not None and current.get("status") in ("CREATING", "UPDATING"):
            current = self.wait(batch.settled, "settling before changes")
        if current is not None and current.get("status") in ("DELETING", "DELETED"):
            self.wait(batch.gone, "finishing an earlier delete")
            current = None
        return current

    def review(self, plan):
        """Fail on the plan's problems; warn of the fields the endpoint cannot store."""
        if plan["problems"]:
            self.module.fail_json(msg=f"job queue {self.name}: {'; '.join(plan['problems'])}")
        for field in plan["unsupported"]:
            self.module.warn(
                f"job queue {self.name}: the endpoint's DescribeJobQueues answer has no {field};"
                " it does not store that field, so it is not compared (and not updated)"
            )

    def create(self, want):
        kwargs = dict(want)
        if kwargs.get("jobStateTimeLimitActions") == []:
            del kwargs["jobStateTimeLimitActions"]
        if self.params["tags"]:
            kwargs["tags"] = self.params["tags"]
        self.client.create_job_queue(aws_retry=True, **kwargs)
        return self.wait(batch.settled, "creating")

    def present(self):
        p = self.params
        result = {"changed": False}
        try:
            want = self.desired()
        except batch.BatchInputError as exc:
            self.module.fail_json(msg=str(exc))
        current = self.describe_settled()
        plan = batch.plan_job_queue(want, current)
        self.review(plan)
        after = current
        if plan["create"]:
            result["changed"] = True
            if not self.module.check_mode:
                after = self.create(want)
        else:
            if plan["update"]:
                result["changed"] = True
                if not self.module.check_mode:
                    self.client.update_job_queue(jobQueue=self.name, aws_retry=True, **plan["update"])
                    after = self.wait(batch.settled, "updating")
            if batch.apply_tags(
                self.client,
                current["jobQueueArn"],
                current.get("tags"),
                p["tags"],
                p["purge_tags"],
                self.module.check_mode,
            ):
                result["changed"] = True
                if not self.module.check_mode:
                    after = self.describe()
        if self.module.check_mode and result["changed"]:
            after = dict(current or {})
            after.update(want)
            if p["tags"] is not None:
                after["tags"] = tags_after(after.get("tags"), p["tags"], p["purge_tags"])
        facts = batch.to_snake(after or {}, ignore_list=("tags",))
        if self.module._diff:
            result["diff"] = {
                "before": batch.to_snake(current or {}, ignore_list=("tags",)),
                "after": facts,
            }
        result["job_queue"] = facts
        result["arn"] = facts.get("job_queue_arn")
        return result

    def absent(self):
        result = {"changed": False, "job_queue": {}}
        current = self.describe()
        if current is None or current.get("status") == "DELETED":
            return result
        result["changed"] = True
        if self.module._diff:
            result["diff"] = {
                "before": batch.to_snake(current, ignore_list=("tags",)),
                "after": {},
            }
        if self.module.check_mode:
            return result
        if current.get("status") != "DELETING":
            if current.get("state") != "DISABLED":
                self.client.update_job_queue(jobQueue=self.name, state="DISABLED", aws_retry=True)
                self.wait(lambda r: batch.settled(r) and r.get("state") == "DISABLED", "disabling")
            try:
                self.client.delete_job_queue(jobQueue=self.name, aws_retry=True)
            except is_boto3_error_code("ResourceNotFoundException"):
                return result
        self.wait(batch.gone, "deleting")
        return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "priority": {"type": "int", "default": 1},
            "compute_environments": {"type": "list", "elements": "str"},
            "enabled": {"type": "bool", "default": True},
            "scheduling_policy_arn": {"type": "str"},
            "job_state_time_limit_actions": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "reason": {"type": "str", "required": True},
                    "state": {"type": "str", "choices": ["RUNNABLE"], "default": "RUNNABLE"},
                    "max_time_seconds": {"type": "int", "required": True},
                    "action": {
                        "type": "str",
                        "choices": ["CANCEL", "TERMINATE"],
                        "default": "CANCEL",
                    },
                },
            },
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 600},
            "wait_delay": {"type": "int", "default": 5},
        },
        required_if=[("state", "present", ["compute_environments"])],
        supports_check_mode=True,
    )
    runner = JobQueueManager(module)
    try:
        result = runner.present() if module.params["state"] == "present" else runner.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"AWS Batch call failed for job queue {runner.name}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
