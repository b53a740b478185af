#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_job_definition
short_description: Register AWS Batch container job definitions idempotently (GPU, retries, timeouts)
description:
  - Registers a new revision of a C(container) job definition only when its content
    differs from the latest C(ACTIVE) revision, so one real change gives exactly one new
    revision and a re-run gives none.
  - "Both sides are normalized before comparing: key order, environment and secret order,
    resource requirement order, the case of C(evaluateOnExit) actions, the empty lists and
    maps AWS fills in, and AWS defaults (C(platformCapabilities=[EC2]),
    C(propagateTags=false)). The order of C(evaluate_on_exit) rules is significant."
  - vCPUs, memory and GPUs are sent as C(resourceRequirements) (C(VCPU), C(MEMORY), C(GPU)).
  - Tags are not part of a revision's content; they are set on the latest revision with
    C(TagResource)/C(UntagResource).
  - O(state=absent) deregisters every C(ACTIVE) revision.
  - Multi-node (C(nodeProperties)) and EKS job definitions are not supported.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Job definition name (letters, digits, hyphens, underscores).
    type: str
    required: true
  state:
    description: C(present) registers a revision if needed; C(absent) deregisters all revisions.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Job definition type.
    type: str
    choices: [container]
    default: container
  image:
    description: Container image. Required when O(state=present).
    type: str
  command:
    description: Command (exec form); C(Ref::name) placeholders are filled from O(parameters).
    type: list
    elements: str
  vcpus:
    description: vCPUs reserved for the container (C(VCPU) resource requirement).
    type: float
  memory:
    description: Memory in MiB (C(MEMORY) resource requirement).
    type: int
  gpus:
    description: NVIDIA GPUs for the container (C(GPU) resource requirement); 0 or omitted means none.
    type: int
  environment:
    description: Environment variables (name to value); ones with an empty value are dropped, as AWS does.
    type: dict
  secrets:
    description: Secrets exposed as environment variables.
    type: list
    elements: dict
    suboptions:
      name:
        description: Environment variable name.
        type: str
        required: true
      value_from:
        description: ARN of the Secrets Manager secret or SSM parameter.
        type: str
        required: true
  job_role_arn:
    description: IAM role the container's AWS calls use.
    type: str
  execution_role_arn:
    description: IAM role the ECS agent uses (image pulls, logs, secrets).
    type: str
  user:
    description: User name or uid to run as.
    type: str
  instance_type:
    description: Instance type (multi-node only; kept for completeness).
    type: str
  privileged:
    description: Give the container elevated privileges.
    type: bool
  readonly_root_filesystem:
    description: Mount the root file system read-only.
    type: bool
  linux_parameters:
    description: Linux-specific container settings.
    type: dict
    suboptions:
      shared_memory_size:
        description: Size of C(/dev/shm) in MiB (MPI and NCCL want more than the default 64).
        type: int
      init_process_enabled:
        description: Run an init process that reaps zombies and forwards signals.
        type: bool
      max_swap:
        description: Swap (MiB) the container may use.
        type: int
      swappiness:
        description: Swappiness (0-100).
        type: int
      devices:
        description: Host devices mapped into the container.
        type: list
        elements: dict
        suboptions:
          host_path:
            description: Path on the host.
            type: str
            required: true
          container_path:
            description: Path in the container.
            type: str
          permissions:
            description: Any of READ, WRITE, MKNOD.
            type: list
            elements: str
      tmpfs:
        description: tmpfs mounts.
        type: list
        elements: dict
        suboptions:
          container_path:
            description: Mount point.
            type: str
            required: true
          size:
            description: Size in MiB.
            type: int
            required: true
          mount_options:
            description: Mount options.
            type: list
            elements: str
  log_configuration:
    description: Log driver of the container.
    type: dict
    suboptions:
      log_driver:
        description: Driver, for example C(awslogs).
        type: str
        required: true
      options:
        description: Driver options, passed as they are (for example C(awslogs-group)).
        type: dict
      secret_options:
        description: Secret driver options.
        type: list
        elements: dict
        suboptions:
          name:
            description: Option name.
            type: str
            required: true
          value_from:
            description: Secret ARN.
            type: str
            required: true
  mount_points:
    description: Volume mount points, as {source_volume, container_path, read_only}.
    type: list
    elements: dict
  volumes:
    description: Volumes, as {name, host{source_path}} or {name, efs_volume_configuration{...}}.
    type: list
    elements: dict
  ulimits:
    description: ulimits, as {name, soft_limit, hard_limit}.
    type: list
    elements: dict
  parameters:
    description: Default values of C(Ref::) placeholders in O(command).
    type: dict
  attempt_duration_seconds:
    description: Timeout of each attempt in seconds (at least 60); AWS sends SIGTERM, then SIGKILL 30 s later.
    type: int
  retry_strategy:
    description: How failed attempts are retried.
    type: dict
    suboptions:
      attempts:
        description: Total attempts (1-10).
        type: int
      evaluate_on_exit:
        description:
          - Up to 5 rules, first match wins. When none matches the job IS retried, so
            end with a catch-all C(EXIT) rule. Patterns may end with C(*).
        type: list
        elements: dict
        suboptions:
          on_status_reason:
            description: Pattern for the status reason (a Spot reclaim reads C(Host EC2*)).
            type: str
          on_reason:
            description: Pattern for the container reason.
            type: str
          on_exit_code:
            description: Pattern for the exit code.
            type: str
          action:
            description: RETRY or EXIT (case-insensitive).
            type: str
            required: true
  propagate_tags:
    description: Copy the job definition's tags to the ECS task.
    type: bool
    default: false
  platform_capabilities:
    description: EC2 or FARGATE.
    type: list
    elements: str
    choices: [EC2, FARGATE]
    default: [EC2]
  deregister_old_revisions:
    description: Deregister every C(ACTIVE) revision but the latest.
    type: bool
    default: false
extends_documentation_fragment:
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(batch:DescribeJobDefinitions), C(batch:RegisterJobDefinition),
    C(batch:DeregisterJobDefinition), C(batch:TagResource), C(batch:UntagResource) and
    C(iam:PassRole) on the job and execution roles.
  - Supports check mode and diff mode.
  - O(tags) are set on the latest revision without registering a new revision.
"""

EXAMPLES = r"""
- name: One-GPU LAMMPS job, retried on Spot reclaims only, 12 h per attempt
  lmpspot.aws.batch_job_definition:
    name: lmpspot-prod-lammps
    image: 123456789012.dkr.ecr.us-east-2.amazonaws.com/lmpspot/lammps:2025.07
    command: [lmpspot-run, --input, Ref::input]
    parameters:
      input: s3://lmpspot-prod-data/inputs/in.chain
    vcpus: 4
    memory: 15000
    gpus: 1
    environment:
      OMP_NUM_THREADS: "4"
    job_role_arn: arn:aws:iam::123456789012:role/lmpspot-prod-job
    linux_parameters:
      shared_memory_size: 2048
      init_process_enabled: true
    log_configuration:
      log_driver: awslogs
      options:
        awslogs-group: /lmpspot/prod/jobs
    attempt_duration_seconds: 43200
    retry_strategy:
      attempts: 10
      evaluate_on_exit:
        - on_status_reason: "Host EC2*"
          action: RETRY
        - on_exit_code: "75"
          action: RETRY
        - on_reason: "*"
          action: EXIT
    tags:
      project: lmpspot
    deregister_old_revisions: true
  register: jobdef

- name: Deregister every revision
  lmpspot.aws.batch_job_definition:
    name: lmpspot-prod-lammps
    state: absent
"""

RETURN = r"""
revision:
  description: Latest ACTIVE revision after the run (in check mode, the one that would be registered).
  returned: when state=present
  type: int
  sample: 3
arn:
  description: ARN of that revision.
  returned: when state=present
  type: str
  sample: arn:aws:batch:us-east-2:123456789012:job-definition/lmpspot-prod-lammps:3
registered:
  description: Whether a new revision was (or in check mode would be) registered.
  returned: always
  type: bool
deregistered:
  description: ARNs of revisions deregistered (or that would be).
  returned: always
  type: list
  elements: str
job_definition:
  description: The latest ACTIVE revision after the run, in snake_case (tag and parameter keys kept).
  returned: when state=present
  type: dict
"""

import contextlib
import copy

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import batch
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import tags_after

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

FACT_IGNORE = ("tags", "parameters", "options")


def facts(job_def):
    return batch.to_snake(job_def or {}, ignore_list=FACT_IGNORE)


def deregister(module, client, revisions):
    arns = [r["jobDefinitionArn"] for r in revisions]
    if not module.check_mode:
        for arn in arns:
            client.deregister_job_definition(jobDefinition=arn, aws_retry=True)
    return arns


def register(module, client, request, latest):
    """Register ``request`` as a new revision and return it (in check mode: what it would be)."""
    p = module.params
    if module.check_mode:
        after = copy.deepcopy(request)
        after["revision"] = (int(latest["revision"]) + 1) if latest else 1
        after["tags"] = p["tags"] or {}
        return after
    kwargs = dict(request)
    if p["tags"]:
        kwargs["tags"] = p["tags"]
    res = client.register_job_definition(aws_retry=True, **kwargs)
    after = next(
        (
            r
            for r in batch.job_definition_revisions(client, p["name"])
            if r["jobDefinitionArn"] == res["jobDefinitionArn"]
        ),
        None,
    )
    if after is None:
        module.fail_json(
            msg=f"registered {res['jobDefinitionArn']} but cannot describe it",
        )
    return after


def present(module, client):
    p = module.params
    try:
        request = batch.job_definition_request(p)
    except batch.BatchInputError as exc:
        module.fail_json(msg=str(exc))
    revisions = batch.job_definition_revisions(client, p["name"])
    latest = revisions[-1] if revisions else None
    result = {"changed": False, "registered": False, "deregistered": []}
    after = latest
    if batch.job_definition_differs(request, latest):
        result.update(changed=True, registered=True)
        after = register(module, client, request, latest)
    elif batch.apply_tags(
        client,
        latest["jobDefinitionArn"],
        latest.get("tags"),
        p["tags"],
        p["purge_tags"],
        module.check_mode,
    ):
        result["changed"] = True
        if module.check_mode:
            after = dict(latest)
            after["tags"] = tags_after(latest.get("tags"), p["tags"], p["purge_tags"])
        else:
            after = batch.job_definition_revisions(client, p["name"])[-1]
    if p["deregister_old_revisions"]:
        keep = None if result["registered"] else (latest or {}).get("jobDefinitionArn")
        old = [r for r in revisions if r["jobDefinitionArn"] != keep]
        if old:
            result["changed"] = True
            result["deregistered"] = deregister(module, client, old)
    if module._diff:
        result["diff"] = {
            "before": batch.normalize_job_definition(latest) if latest else {},
            "after": batch.normalize_job_definition(after),
        }
    result["job_definition"] = facts(after)
    result["revision"] = int(after["revision"])
    arn = after.get("jobDefinitionArn")
    if arn is None and latest is not None:  # check mode: the ARN the new revision will get
        arn = f"{latest['jobDefinitionArn'].rsplit(':', 1)[0]}:{after['revision']}"
    result["arn"] = arn
    return result


def absent(module, client):
    revisions = batch.job_definition_revisions(client, module.params["name"])
    result = {"changed": bool(revisions), "registered": False}
    result["deregistered"] = deregister(module, client, revisions)
    if module._diff:
        result["diff"] = {
            "before": batch.normalize_job_definition(revisions[-1]) if revisions else {},
            "after": {},
        }
    return result


def main():
    pair = {
        "name": {"type": "str", "required": True},
        "value_from": {"type": "str", "required": True},
    }
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "type": {"type": "str", "choices": ["container"], "default": "container"},
            "image": {"type": "str"},
            "command": {"type": "list", "elements": "str"},
            "vcpus": {"type": "float"},
            "memory": {"type": "int"},
            "gpus": {"type": "int"},
            "environment": {"type": "dict"},
            "secrets": {"type": "list", "elements": "dict", "options": pair, "no_log": False},
            "job_role_arn": {"type": "str"},
            "execution_role_arn": {"type": "str"},
            "user": {"type": "str"},
            "instance_type": {"type": "str"},
            "privileged": {"type": "bool"},
            "readonly_root_filesystem": {"type": "bool"},
            "linux_parameters": {
                "type": "dict",
                "options": {
                    "shared_memory_size": {"type": "int"},
                    "init_process_enabled": {"type": "bool"},
                    "max_swap": {"type": "int"},
                    "swappiness": {"type": "int"},
                    "devices": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "host_path": {"type": "str", "required": True},
                            "container_path": {"type": "str"},
                            "permissions": {"type": "list", "elements": "str"},
                        },
                    },
                    "tmpfs": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "container_path": {"type": "str", "required": True},
                            "size": {"type": "int", "required": True},
                            "mount_options": {"type": "list", "elements": "str"},
                        },
                    },
                },
            },
            "log_configuration": {
                "type": "dict",
                "options": {
                    "log_driver": {"type": "str", "required": True},
                    "options": {"type": "dict"},
                    "secret_options": {
                        "type": "list",
                        "elements": "dict",
                        "options": pair,
                        "no_log": False,
                    },
                },
            },
            "mount_points": {"type": "list", "elements": "dict"},
            "volumes": {"type": "list", "elements": "dict"},
            "ulimits": {"type": "list", "elements": "dict"},
            "parameters": {"type": "dict"},
            "attempt_duration_seconds": {"type": "int"},
            "retry_strategy": {
                "type": "dict",
                "options": {
                    "attempts": {"type": "int"},
                    "evaluate_on_exit": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "on_status_reason": {"type": "str"},
                            "on_reason": {"type": "str"},
                            "on_exit_code": {"type": "str"},
                            "action": {"type": "str", "required": True},
                        },
                    },
                },
            },
            "propagate_tags": {"type": "bool", "default": False},
            "platform_capabilities": {
                "type": "list",
                "elements": "str",
                "choices": ["EC2", "FARGATE"],
                "default": ["EC2"],
            },
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
            "deregister_old_revisions": {"type": "bool", "default": False},
        },
        required_if=[("state", "present", ["image"])],
        supports_check_mode=True,
    )
    client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
    try:
        handler = present if module.params["state"] == "present" else absent
        result = handler(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"AWS Batch call failed for job definition {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
