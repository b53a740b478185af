#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ec2_instance_type_info
short_description: Describe EC2 instance types (vCPUs, memory, GPUs, spot support)
description:
  - Calls C(ec2:DescribeInstanceTypes) for the given instance types and returns their
    facts in snake_case, with the GPU details lmpspot needs to plan Batch jobs.
  - Instance types the region does not know are not an error. They are listed in
    RV(missing) so that a caller (lmpspot's preflight) can name them all at once.
  - Read-only; runs the same way in check mode.
version_added: 0.1.0
options:
  instance_types:
    description:
      - Instance type names to describe, e.g. V(g5.xlarge).
      - Duplicates are described once.
    type: list
    elements: str
    required: true
author: lmpspot developers
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs the IAM action C(ec2:DescribeInstanceTypes).
"""

EXAMPLES = r"""
- name: Describe the GPU types Batch may use
  lmpspot.aws.ec2_instance_type_info:
    instance_types: [g5.xlarge, p4d.24xlarge, g5.nonexistent]
  register: gpu_types

- name: Show the GPUs of each known type
  ansible.builtin.debug:
    msg: "{{ item.instance_type }}: {{ item.gpu_count }} x {{ item.gpus[0].name | default('no GPU') }}"
  loop: "{{ gpu_types.instance_types }}"

- name: Fail on types the region does not know
  ansible.builtin.assert:
    that: gpu_types.missing | length == 0
    fail_msg: "Unknown instance types: {{ gpu_types.missing | join(', ') }}"
"""

RETURN = r"""
instance_types:
  description: Facts of each instance type found, in the order requested.
  returned: always
  type: list
  elements: dict
  contains:
    instance_type:
      description: The instance type name.
      type: str
      sample: g5.xlarge
    vcpus:
      description: Default number of vCPUs.
      type: int
      sample: 4
    memory_mib:
      description: Memory in MiB.
      type: int
      sample: 16384
    gpus:
      description: GPU models on the type (empty for types without GPUs).
      type: list
      elements: dict
      contains:
        manufacturer: {description: GPU maker., type: str, sample: NVIDIA}
        name: {description: GPU model., type: str, sample: A10G}
        count: {description: Number of GPUs of this model., type: int, sample: 1}
        memory_mib: {description: Memory of one GPU in MiB., type: int, sample: 22888}
    gpu_count:
      description: Total number of GPUs (all models).
      type: int
      sample: 1
    gpu_memory_mib:
      description: Total GPU memory in MiB.
      type: int
      sample: 22888
    supported_usage_classes:
      description: Purchase options (C(on-demand), C(spot), ...).
      type: list
      elements: str
      sample: [on-demand, spot]
    supported_architectures:
      description: CPU architectures.
      type: list
      elements: str
      sample: [x86_64]
    current_generation:
      description: Whether the type is a current generation type.
      type: bool
      sample: true
missing:
  description: Requested instance types that DescribeInstanceTypes does not know in this region.
  returned: always
  type: list
  elements: str
  sample: [g5.nonexistent]
"""

# The amazon.aws idiom (AnsibleAWSModule reports a missing botocore); ansible-test expects it.
try:  # noqa: SIM105
    import botocore
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# DescribeInstanceTypes accepts at most 100 names per call.
BATCH_SIZE = 100
# Error codes that mean "no such instance type" for a single name (a malformed name may
# be answered with InvalidParameterValue instead of InvalidInstanceType).
UNKNOWN_TYPE_ERRORS = ["InvalidInstanceType", "InvalidParameterValue"]


def _facts(raw: dict) -> dict:
    """The snake_case facts lmpspot uses from one DescribeInstanceTypes entry."""
    gpu_info = raw.get("GpuInfo") or {}
    gpus = [
        {
            "manufacturer": g.get("Manufacturer"),
            "name": g.get("Name"),
            "count": int(g.get("Count") or 0),
            "memory_mib": int((g.get("MemoryInfo") or {}).get("SizeInMiB") or 0),
        }
        for g in gpu_info.get("Gpus") or []
    ]
    return {
        "instance_type": raw["InstanceType"],
        "vcpus": int((raw.get("VCpuInfo") or {}).get("DefaultVCpus") or 0),
        "memory_mib": int((raw.get("MemoryInfo") or {}).get("SizeInMiB") or 0),
        "gpus": gpus,
        "gpu_count": sum(g["count"] for g in gpus),
        "gpu_memory_mib": int(
            gpu_info.get("TotalGpuMemoryInMiB") or sum(g["count"] * g["memory_mib"] for g in gpus)
        ),
        "supported_usage_classes": list(raw.get("SupportedUsageClasses") or []),
        "supported_architectures": list((raw.get("ProcessorInfo") or {}).get("SupportedArchitectures") or []),
        "current_generation": bool(raw.get("CurrentGeneration")),
    }


def _describe(module, client, names: list) -> dict:
    """Raw entries by name for ``names``; unknown names are simply absent.

    One call per batch of 100.  AWS fails the whole call with InvalidInstanceType when
    any name is unknown, so such a batch is retried one name at a time to tell the known
    ones from the unknown ones.
    """
    found = {}
    for start in range(0, len(names), BATCH_SIZE):
        batch = names[start : start + BATCH_SIZE]
        try:
            entries = _query(client, batch)
        except is_boto3_error_code(UNKNOWN_TYPE_ERRORS):
            entries = []
            for name in batch:
                try:
                    entries.extend(_query(client, [name]))
                except is_boto3_error_code(UNKNOWN_TYPE_ERRORS):
                    continue
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
                    module.fail_json_aws(e, msg=f"Failed to describe instance type {name}")
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg="Failed to describe instance types")
        for entry in entries:
            found[entry["InstanceType"]] = entry
    return found


def _query(client, names: list) -> list:
    entries = []
    kwargs = {"InstanceTypes": names}
    while True:
        resp = client.describe_instance_types(aws_retry=True, **kwargs)
        entries.extend(resp.get("InstanceTypes", []))
        token = resp.get("NextToken")
        if not token:
            return entries
        kwargs["NextToken"] = token


def main():
    module = AnsibleAWSModule(
        argument_spec={"instance_types": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    names = list(dict.fromkeys(module.params["instance_types"]))
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    found = _describe(module, client, names) if names else {}
    module.exit_json(
        changed=False,
        instance_types=[_facts(found[n]) for n in names if n in found],
        missing=[n for n in names if n not in found],
    )


if __name__ == "__main__":
    main()
