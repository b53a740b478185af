#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_scheduling_policy
short_description: Manage an AWS Batch fair-share scheduling policy
description:
  - Creates, updates or deletes an AWS Batch scheduling policy (fair share), found by name.
  - The fair-share settings are compared after filling in AWS defaults (0 seconds of
    decay, no reservation, weight 1.0) and sorting the shares, and updated in place with
    C(UpdateSchedulingPolicy) only when they differ. Tags change with
    C(TagResource)/C(UntagResource).
  - A policy still used by a job queue cannot be deleted; AWS's error is reported.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description: Name of the scheduling policy.
    type: str
    required: true
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
  fairshare_policy:
    description: Fair-share settings.
    type: dict
    suboptions:
      share_decay_seconds:
        description: Time window (0-604800 s) over which past usage counts.
        type: int
        default: 0
      compute_reservation:
        description: Share (0-99) of capacity held back for share identifiers not yet active.
        type: int
        default: 0
      share_distribution:
        description: Weights of share identifiers (lower weight gets more capacity).
        type: list
        elements: dict
        suboptions:
          share_identifier:
            description: Share identifier, or a prefix ending with C(*).
            type: str
            required: true
          weight_factor:
            description: Weight (0.0001-999.9999); AWS's default is 1.0.
            type: float
extends_documentation_fragment:
  - lmpspot.aws.tags
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(batch:ListSchedulingPolicies), C(batch:DescribeSchedulingPolicies),
    C(batch:CreateSchedulingPolicy), C(batch:UpdateSchedulingPolicy),
    C(batch:DeleteSchedulingPolicy), C(batch:TagResource), C(batch:UntagResource).
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Two research groups share the GPU queue, polymer runs weigh less (get more)
  lmpspot.aws.batch_scheduling_policy:
    name: lmpspot-prod-fairshare
    fairshare_policy:
      share_decay_seconds: 3600
      compute_reservation: 10
      share_distribution:
        - share_identifier: polymer
          weight_factor: 0.5
        - share_identifier: proteins
  register: policy

- name: Use it in a queue created with it
  lmpspot.aws.batch_job_queue:
    name: lmpspot-prod-gpu-fair
    compute_environments: [lmpspot-prod-gpu-spot]
    scheduling_policy_arn: "{{ policy.arn }}"
"""

RETURN = r"""
arn:
  description: ARN of the scheduling policy.
  returned: when state=present
  type: str
  sample: arn:aws:batch:us-east-2:123456789012:scheduling-policy/lmpspot-prod-fairshare
scheduling_policy:
  description: The policy after the run, in snake_case (tag keys kept); empty when absent.
  returned: always
  type: dict
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import batch
from ansible_collections.lmpspot.aws.plugins.module_utils.tags import tags_after

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def facts(policy):
    return batch.to_snake(policy or {}, ignore_list=("tags",))


def present(module, client):
    p = module.params
    try:
        want = batch.fairshare_policy_request(p["fairshare_policy"])
    except batch.BatchInputError as exc:
        module.fail_json(msg=str(exc))
    current = batch.find_scheduling_policy(client, p["name"])
    if current is None:
        changed, after = True, create(module, client, want)
    else:
        changed, after = update(module, client, current, want)
    result = {"changed": changed}
    if module._diff:
        result["diff"] = {"before": facts(current), "after": facts(after)}
    result["scheduling_policy"] = facts(after)
    result["arn"] = (after or {}).get("arn")
    return result


def create(module, client, want):
    """Create the policy; return it (in check mode: what it would be)."""
    p = module.params
    if module.check_mode:
        return {"name": p["name"], "fairsharePolicy": want, "tags": p["tags"] or {}}
    kwargs = {"name": p["name"], "fairsharePolicy": want}
    if p["tags"]:
        kwargs["tags"] = p["tags"]
    arn = client.create_scheduling_policy(aws_retry=True, **kwargs)["arn"]
    return client.describe_scheduling_policies(arns=[arn], aws_retry=True)["schedulingPolicies"][0]


def update(module, client, current, want):
    """Bring the fairshare policy and tags of ``current`` to the wanted ones: (changed, policy after)."""
    p = module.params
    arn = current["arn"]
    changed = False
    if batch.normalize_fairshare_policy(want) != batch.normalize_fairshare_policy(
        current.get("fairsharePolicy")
    ):
        changed = True
        if not module.check_mode:
            client.update_scheduling_policy(arn=arn, fairsharePolicy=want, aws_retry=True)
    if batch.apply_tags(client, arn, current.get("tags"), p["tags"], p["purge_tags"], module.check_mode):
        changed = True
    if not changed:
        return False, current
    if module.check_mode:
        after = dict(current, fairsharePolicy=want)
        if p["tags"] is not None:
            after["tags"] = tags_after(current.get("tags"), p["tags"], p["purge_tags"])
        return True, after
    return True, batch.find_scheduling_policy(client, p["name"])


def absent(module, client):
    current = batch.find_scheduling_policy(client, module.params["name"])
    result = {"changed": current is not None, "scheduling_policy": {}}
    if current is not None:
        if not module.check_mode:
            client.delete_scheduling_policy(arn=current["arn"], aws_retry=True)
        if module._diff:
            result["diff"] = {"before": facts(current), "after": {}}
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "fairshare_policy": {
                "type": "dict",
                "options": {
                    "share_decay_seconds": {"type": "int", "default": 0},
                    "compute_reservation": {"type": "int", "default": 0},
                    "share_distribution": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "share_identifier": {"type": "str", "required": True},
                            "weight_factor": {"type": "float"},
                        },
                    },
                },
            },
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
    handler = present if module.params["state"] == "present" else absent
    try:
        result = handler(module, client)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"AWS Batch call failed for scheduling policy {module.params['name']}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
