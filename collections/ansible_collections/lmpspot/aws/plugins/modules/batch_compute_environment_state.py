#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_compute_environment_state
short_description: Set AWS Batch compute environments ENABLED or DISABLED, nothing else
description:
  - Sets only the C(state) of existing AWS Batch compute environments (C(UpdateComputeEnvironment)
    with C(state)), leaving their definition to M(lmpspot.aws.batch_compute_environment).
  - A C(DISABLED) environment takes no new jobs (they wait C(RUNNABLE) in their queue);
    jobs already running go on. Used by the night window (roles/night_window).
  - Environments that do not exist are reported in RV(missing) and left alone.
version_added: 0.1.0
author: lmpspot developers
options:
  names:
    description: Names (or ARNs) of the compute environments.
    type: list
    elements: str
    required: true
  state:
    description: The state to set.
    type: str
    choices: [ENABLED, DISABLED]
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(batch:DescribeComputeEnvironments) and C(batch:UpdateComputeEnvironment).
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Close the night window now
  lmpspot.aws.batch_compute_environment_state:
    names: [lmpspot-prod-gpu-spot, lmpspot-prod-gpu-ondemand]
    state: DISABLED
"""

RETURN = r"""
states:
  description: Name to state after the run, for the environments that exist.
  returned: always
  type: dict
  sample: {lmpspot-prod-gpu-spot: DISABLED}
updated:
  description: Environments whose state was (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
missing:
  description: Requested environments that do not exist.
  returned: always
  type: list
  elements: str
"""

import contextlib

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def plan(found, names, state):
    """(states before, names to update, missing names) from DescribeComputeEnvironments entries."""
    by_key = {}
    for env in found:
        by_key[env["computeEnvironmentName"]] = env
        by_key[env["computeEnvironmentArn"]] = env
    before, update, missing = {}, [], []
    for name in names:
        env = by_key.get(name)
        if env is None:
            missing.append(name)
            continue
        before[env["computeEnvironmentName"]] = env.get("state")
        if env.get("state") != state and env["computeEnvironmentName"] not in update:
            update.append(env["computeEnvironmentName"])
    return before, update, missing


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["ENABLED", "DISABLED"], "required": True},
        },
        supports_check_mode=True,
    )
    client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
    names, state = module.params["names"], module.params["state"]
    try:
        found = []
        if names:
            found = client.describe_compute_environments(computeEnvironments=names, aws_retry=True)[
                "computeEnvironments"
            ]
        before, update, missing = plan(found, names, state)
        if not module.check_mode:
            for name in update:
                client.update_compute_environment(computeEnvironment=name, state=state, aws_retry=True)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"could not set the compute environments {names} {state}")
    after = {name: (state if name in update else s) for name, s in before.items()}
    result = {"changed": bool(update), "states": after, "updated": update, "missing": missing}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
