#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_compute_environment
short_description: Manage a MANAGED AWS Batch compute environment (Spot or On-Demand, GPU-ready)
description:
  - Creates, updates, replaces or deletes an AWS Batch compute environment of type C(MANAGED).
  - Unlike C(community.aws.batch_compute_environment) it expresses launch templates,
    allocation strategies, C(ec2Configuration) (for example C(ECS_AL2_NVIDIA)), bid
    percentage and instance tags, and accepts names with hyphens.
  - Compares the wanted state with the current one first and changes only the difference.
    Only the compute resource fields given are managed; AWS-filled ones (for example
    C(desiredvCpus), which moves with the load) are left alone unless set.
  - "Updates in place what C(UpdateComputeEnvironment) allows: the state, the service role
    (regular role to regular role), min/max/desired vCPUs always, and the infrastructure
    fields (instance types, subnets, security groups, launch template, allocation
    strategy, ec2Configuration, instance role, bid percentage, type EC2/SPOT, tags) when
    both the current and the wanted allocation strategy are C(BEST_FIT_PROGRESSIVE),
    C(SPOT_CAPACITY_OPTIMIZED) or C(SPOT_PRICE_CAPACITY_OPTIMIZED) and the environment uses
    the service-linked role."
  - Any other change needs a replacement. Without O(replace=true) the module fails and says
    which fields force it. With O(replace=true) it detaches the environment from the job
    queues that use it (a queue where it is the only environment stops the module before
    anything is touched), disables it, waits, deletes it, waits, creates it again, waits
    until it is C(VALID) and puts it back in each queue at its former position.
  - O(state=absent) disables, waits, deletes and waits. Job queues that still use the
    environment make it fail with their names; delete or change those queues first.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Name of the compute environment (letters, digits, hyphens, underscores).
    type: str
    required: true
  state:
    description: Whether the compute environment should exist.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Compute environment type. Only C(MANAGED) is supported.
    type: str
    choices: [MANAGED]
    default: MANAGED
  compute_environment_state:
    description: C(ENABLED) lets job queues place jobs on the environment.
    type: str
    choices: [ENABLED, DISABLED]
    default: ENABLED
  service_role:
    description:
      - ARN of the IAM role AWS Batch uses. Omit it to use the service-linked role
        C(AWSServiceRoleForBatch) (recommended; infrastructure updates need it).
      - When omitted on an existing environment, its role is left as it is.
    type: str
  compute_resources:
    description: The compute resources. Required when O(state=present).
    type: dict
    suboptions:
      type:
        description: Capacity type.
        type: str
        choices: [EC2, SPOT, FARGATE, FARGATE_SPOT]
        required: true
      allocation_strategy:
        description:
          - How instance types are chosen. Defaults to C(SPOT_PRICE_CAPACITY_OPTIMIZED) for
            C(SPOT) and C(BEST_FIT_PROGRESSIVE) for C(EC2). Not used for Fargate.
        type: str
        choices: [BEST_FIT, BEST_FIT_PROGRESSIVE, SPOT_CAPACITY_OPTIMIZED, SPOT_PRICE_CAPACITY_OPTIMIZED]
      instance_types:
        description: Instance types or families (required for C(EC2) and C(SPOT)).
        type: list
        elements: str
      min_vcpus:
        description: vCPUs kept running when there is no work.
        type: int
        default: 0
      max_vcpus:
        description: Most vCPUs the environment may run.
        type: int
        required: true
      desired_vcpus:
        description: vCPUs wanted now. Only managed when given; AWS changes it with the load.
        type: int
      subnets:
        description: VPC subnet ids the instances start in.
        type: list
        elements: str
        required: true
      security_group_ids:
        description: Security group ids of the instances.
        type: list
        elements: str
      instance_role:
        description: Instance profile (name or ARN) of the ECS container instances.
        type: str
      launch_template:
        description: Launch template the instances start from.
        type: dict
        suboptions:
          launch_template_id:
            description: Launch template id (or give the name instead).
            type: str
          launch_template_name:
            description: Launch template name.
            type: str
          version:
            description: Version number, C($Latest) or C($Default).
            type: str
            default: $Default
      ec2_configuration:
        description: AMI selection, for example C(image_type=ECS_AL2_NVIDIA) for GPU instances.
        type: list
        elements: dict
        suboptions:
          image_type:
            description: Image type (C(ECS_AL2), C(ECS_AL2_NVIDIA), C(ECS_AL2023) ...).
            type: str
            required: true
          image_id_override:
            description: AMI id that overrides the image type's default AMI.
            type: str
          image_kubernetes_version:
            description: Kubernetes version (EKS environments only).
            type: str
      bid_percentage:
        description: Highest Spot price as a percentage of the On-Demand price (C(SPOT) only).
        type: int
      tags:
        description: Tags applied to the instances the environment launches.
        type: dict
      ec2_key_pair:
        description: EC2 key pair of the instances.
        type: str
        no_log: false
      placement_group:
        description: Placement group of the instances.
        type: str
  replace:
    description:
      - Allow deleting and re-creating the environment when a field changes that AWS
        cannot update in place. Running jobs on it are lost.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for each status change.
    type: int
    default: 900
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
  - Needs C(batch:DescribeComputeEnvironments), C(batch:CreateComputeEnvironment),
    C(batch:UpdateComputeEnvironment), C(batch:DeleteComputeEnvironment),
    C(batch:DescribeJobQueues), C(batch:UpdateJobQueue), C(batch:TagResource),
    C(batch:UntagResource) and C(iam:PassRole) on the instance and service roles.
  - Supports check mode and diff mode.
  - O(tags) are the tags of the compute environment resource itself;
    O(compute_resources.tags) are applied to the instances it launches.
"""

EXAMPLES = r"""
- name: GPU Spot compute environment from a launch template
  lmpspot.aws.batch_compute_environment:
    name: lmpspot-prod-gpu-spot
    compute_resources:
      type: SPOT
      instance_types: [g5.xlarge, g6.xlarge]
      max_vcpus: 384
      subnets: [subnet-0123456789abcdef0]
      security_group_ids: [sg-0123456789abcdef0]
      instance_role: arn:aws:iam::123456789012:instance-profile/lmpspot-batch-instance
      launch_template:
        launch_template_name: lmpspot-prod-gpu
        version: $Latest
      ec2_configuration:
        - image_type: ECS_AL2_NVIDIA
      bid_percentage: 100
    tags:
      project: lmpspot

- name: Switch to other instance types, replacing the environment if AWS needs it
  lmpspot.aws.batch_compute_environment:
    name: lmpspot-prod-gpu-spot
    replace: true
    compute_resources:
      type: SPOT
      allocation_strategy: SPOT_CAPACITY_OPTIMIZED
      instance_types: [p4d.24xlarge]
      max_vcpus: 384
      subnets: [subnet-0123456789abcdef0]
      security_group_ids: [sg-0123456789abcdef0]
      instance_role: lmpspot-batch-instance

- name: Delete it
  lmpspot.aws.batch_compute_environment:
    name: lmpspot-prod-gpu-spot
    state: absent
"""

RETURN = r"""
compute_environment:
  description: The compute environment after the run (snake_case); empty when absent.
  returned: always
  type: dict
  contains:
    compute_environment_arn:
      description: ARN.
      type: str
      sample: arn:aws:batch:us-east-2:123456789012:compute-environment/lmpspot-prod-gpu-spot
    compute_environment_name:
      description: Name.
      type: str
    state:
      description: ENABLED or DISABLED.
      type: str
    status:
      description: VALID, INVALID, CREATING, UPDATING, DELETING ...
      type: str
    compute_resources:
      description: Compute resources, keys in snake_case (min_vcpus, max_vcpus, launch_template ...).
      type: dict
    service_role:
      description: Service role ARN.
      type: str
    tags:
      description: Resource tags.
      type: dict
arn:
  description: ARN of the compute environment.
  returned: when state=present
  type: str
replaced:
  description: Whether the environment was (or in check mode would be) deleted and re-created.
  returned: always
  type: bool
replace_reasons:
  description: Fields whose change forces a replacement.
  returned: always
  type: list
  elements: str
detached_queues:
  description: Job queues the environment was taken out of and put back into during a replacement.
  returned: always
  type: list
  elements: str
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.lmpspot.aws.plugins.module_utils import batch
from ansible_collections.lmpspot.aws.plugins.module_utils.batch_common import BatchResource
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import tags_after

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


class ComputeEnvironmentManager(BatchResource):
    kind = "compute environment"

    # -- helpers -------------------------------------------------------------------------------
    def describe(self):
        return batch.describe_compute_environment(self.client, self.name)

    def wait_queue(self, name):
        self.wait_until(
            lambda: batch.describe_job_queue(self.client, name), batch.settled, f"job queue {name}"
        )

    def users(self, arn):
        """Job queues whose computeEnvironmentOrder names this environment."""
        return [
            q
            for q in batch.all_job_queues(self.client)
            if any(o["computeEnvironment"] in (arn, self.name) for o in q.get("computeEnvironmentOrder", []))
        ]

    def desired(self):
        p = self.params
        want = {
            "computeEnvironmentName": self.name,
            "type": p["type"],
            "state": p["compute_environment_state"],
            "computeResources": batch.compute_resources_request(p["compute_resources"]),
        }
        if p["service_role"]:
            want["serviceRole"] = p["service_role"]
        return want

    # -- actions -------------------------------------------------------------------------------
    def create(self, want):
        kwargs = dict(want)
        if self.params["tags"]:
            kwargs["tags"] = self.params["tags"]
        self.client.create_compute_environment(aws_retry=True, **kwargs)
        return self.wait(batch.settled, "creating")

    def disable_and_delete(self, current):
        if current.get("state") != "DISABLED":
            self.client.update_compute_environment(
                computeEnvironment=self.name, state="DISABLED", aws_retry=True
            )
            self.wait(lambda r: batch.settled(r) and r.get("state") == "DISABLED", "disabling")
        try:
            self.client.delete_compute_environment(computeEnvironment=self.name, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return
        self.wait(batch.gone, "deleting")

    def replace(self, current, want, users):
        arn = current["computeEnvironmentArn"]
        detached = []
        for queue in users:
            order = batch.ordered_ce_arns(queue["computeEnvironmentOrder"])
            rest = [a for a in order if a not in (arn, self.name)]
            self.client.update_job_queue(
                jobQueue=queue["jobQueueArn"],
                computeEnvironmentOrder=batch.ce_order(rest),
                aws_retry=True,
            )
            detached.append((queue, order))
            self.wait_queue(queue["jobQueueArn"])
        self.disable_and_delete(current)
        created = self.create(want)
        for queue, order in detached:
            new_order = [created["computeEnvironmentArn"] if a in (arn, self.name) else a for a in order]
            self.client.update_job_queue(
                jobQueue=queue["jobQueueArn"],
                computeEnvironmentOrder=batch.ce_order(new_order),
                aws_retry=True,
            )
            self.wait_queue(queue["jobQueueArn"])
        return created

    def describe_settled(self):
        """The environment once no create, update or delete of it is in flight (None if gone)."""
        current = self.describe()
        if current is not None and current.get("status") in ("CREATING", "UPDATING"):
            current = self.wait(batch.settled, "settling before changes")
        if current is not None and current.get("status") == "DELETING":
            self.wait(batch.gone, "finishing an earlier delete")
            current = None
        return current

    def refuse_unsafe_replace(self, reasons, users, names):
        """Fail unless replace=true, and when a job queue would be left without an environment."""
        if not self.params["replace"]:
            how = "disable, delete and re-create it"
            if names:
                how += f" (detaching it from job queues {', '.join(names)} meanwhile)"
            self.module.fail_json(
                msg=(
                    f"compute environment {self.name} must be replaced to change"
                    f" {', '.join(reasons)}, which AWS cannot update in place."
                    f" Use replace=true to {how}, or a new name."
                ),
                replace_reasons=reasons,
                job_queues=names,
            )
        sole = [q["jobQueueName"] for q in users if len(q.get("computeEnvironmentOrder", [])) < 2]
        if sole:
            self.module.fail_json(
                msg=(
                    f"cannot replace compute environment {self.name}: it is the only compute"
                    f" environment of job queue(s) {', '.join(sole)}, which cannot be left"
                    " empty. Add another compute environment to them or delete them first."
                ),
                replace_reasons=reasons,
                job_queues=names,
            )

    # -- entry points --------------------------------------------------------------------------
    def present(self):
        p = self.params
        result = {"changed": False, "replaced": False, "replace_reasons": [], "detached_queues": []}
        try:
            want = self.desired()
        except batch.BatchInputError as exc:
            self.module.fail_json(msg=str(exc))
        current = self.describe_settled()
        plan = batch.plan_compute_environment(want, current)
        after = current
        if plan["create"]:
            result["changed"] = True
            if not self.module.check_mode:
                after = self.create(want)
        elif plan["replace"]:
            result["replace_reasons"] = plan["replace"]
            users = self.users(current["computeEnvironmentArn"])
            names = [q["jobQueueName"] for q in users]
            self.refuse_unsafe_replace(plan["replace"], users, names)
            result.update(changed=True, replaced=True, detached_queues=names)
            if not self.module.check_mode:
                after = self.replace(current, want, users)
        elif plan["update"]:
            result["changed"] = True
            if not self.module.check_mode:
                self.client.update_compute_environment(
                    computeEnvironment=self.name, aws_retry=True, **plan["update"]
                )
                after = self.wait(batch.settled, "updating")
        # New environments get their tags from CreateComputeEnvironment.
        if (
            not plan["create"]
            and not result["replaced"]
            and batch.apply_tags(
                self.client,
                current["computeEnvironmentArn"],
                current.get("tags"),
                p["tags"],
                p["purge_tags"],
                self.module.check_mode,
            )
        ):
            result["changed"] = True
            if not self.module.check_mode:
                after = self.describe()
        if self.module.check_mode and result["changed"]:
            after = self.predicted(current, want)
        facts = batch.to_snake(after or {}, ignore_list=("tags",))
        if self.module._diff:
            result["diff"] = {
                "before": batch.to_snake(current or {}, ignore_list=("tags",)),
                "after": facts,
            }
        result["compute_environment"] = facts
        result["arn"] = facts.get("compute_environment_arn")
        return result

    def predicted(self, current, want):
        """What the environment would look like after the run (check/diff mode)."""
        after = dict(current or {})
        after.update({k: v for k, v in want.items() if k != "computeResources"})
        merged = dict((current or {}).get("computeResources") or {})
        merged.update(want["computeResources"])
        after["computeResources"] = merged
        if self.params["tags"] is not None:
            after["tags"] = tags_after(after.get("tags"), self.params["tags"], self.params["purge_tags"])
        return after

    def absent(self):
        result = {"changed": False, "replaced": False, "replace_reasons": [], "detached_queues": []}
        current = self.describe()
        if current is None or current.get("status") == "DELETED":
            result["compute_environment"] = {}
            return result
        users = self.users(current["computeEnvironmentArn"])
        if users:
            self.module.fail_json(
                msg=(
                    f"compute environment {self.name} is used by job queue(s)"
                    f" {', '.join(q['jobQueueName'] for q in users)}; delete them or take it"
                    " out of them first"
                )
            )
        result["changed"] = True
        if not self.module.check_mode:
            self.disable_and_delete(current)
        if self.module._diff:
            result["diff"] = {"before": batch.to_snake(current, ignore_list=("tags",)), "after": {}}
        result["compute_environment"] = {}
        return result


def main():
    lt_spec = {
        "launch_template_id": {"type": "str"},
        "launch_template_name": {"type": "str"},
        "version": {"type": "str", "default": "$Default"},
    }
    cr_spec = {
        "type": {"type": "str", "required": True, "choices": ["EC2", "SPOT", "FARGATE", "FARGATE_SPOT"]},
        "allocation_strategy": {
            "type": "str",
            "choices": [
                "BEST_FIT",
                "BEST_FIT_PROGRESSIVE",
                "SPOT_CAPACITY_OPTIMIZED",
                "SPOT_PRICE_CAPACITY_OPTIMIZED",
            ],
        },
        "instance_types": {"type": "list", "elements": "str"},
        "min_vcpus": {"type": "int", "default": 0},
        "max_vcpus": {"type": "int", "required": True},
        "desired_vcpus": {"type": "int"},
        "subnets": {"type": "list", "elements": "str", "required": True},
        "security_group_ids": {"type": "list", "elements": "str"},
        "instance_role": {"type": "str"},
        "launch_template": {
            "type": "dict",
            "options": lt_spec,
            "mutually_exclusive": [["launch_template_id", "launch_template_name"]],
            "required_one_of": [["launch_template_id", "launch_template_name"]],
        },
        "ec2_configuration": {
            "type": "list",
            "elements": "dict",
            "options": {
                "image_type": {"type": "str", "required": True},
                "image_id_override": {"type": "str"},
                "image_kubernetes_version": {"type": "str"},
            },
        },
        "bid_percentage": {"type": "int"},
        "tags": {"type": "dict"},
        "ec2_key_pair": {"type": "str", "no_log": False},
        "placement_group": {"type": "str"},
    }
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "type": {"type": "str", "choices": ["MANAGED"], "default": "MANAGED"},
            "compute_environment_state": {
                "type": "str",
                "choices": ["ENABLED", "DISABLED"],
                "default": "ENABLED",
            },
            "service_role": {"type": "str"},
            "compute_resources": {"type": "dict", "options": cr_spec},
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
            "replace": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 900},
            "wait_delay": {"type": "int", "default": 5},
        },
        required_if=[("state", "present", ["compute_resources"])],
        supports_check_mode=True,
    )
    runner = ComputeEnvironmentManager(module)
    try:
        result = runner.present() if module.params["state"] == "present" else runner.absent()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"AWS Batch call failed for compute environment {runner.name}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
