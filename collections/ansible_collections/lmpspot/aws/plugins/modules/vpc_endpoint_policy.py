#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: vpc_endpoint_policy
version_added: 0.1.0
short_description: Keep a VPC endpoint's policy, idempotently
description:
  - Sets O(policy) on an existing VPC endpoint when it differs from the current one
    (compared as parsed JSON, so key order and whitespace do not count).
  - Exists because amazon.aws.ec2_vpc_endpoint (10.1) sets a policy only when it creates
    the endpoint and never updates it afterwards.
  - Supports check mode and diff.
options:
  vpc_endpoint_id:
    description: The endpoint's id (vpce-...).
    type: str
    required: true
  policy:
    description: The policy document (a mapping or a JSON string).
    type: json
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: S3 gateway endpoint for the project's bucket only
  lmpspot.aws.vpc_endpoint_policy:
    vpc_endpoint_id: "{{ endpoint.result.vpc_endpoint_id }}"
    policy: "{{ lookup('ansible.builtin.template', 's3_endpoint_policy.json.j2') }}"
"""

RETURN = r"""
policy:
  description: The endpoint's policy after the task.
  returned: always
  type: dict
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import json_document


def current_policy(client, endpoint_id):
    (ep,) = client.describe_vpc_endpoints(aws_retry=True, VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    doc = ep.get("PolicyDocument")
    return json.loads(doc) if doc else None


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "vpc_endpoint_id": {"type": "str", "required": True},
            "policy": {"type": "json", "required": True},
        },
        supports_check_mode=True,
    )
    endpoint_id = module.params["vpc_endpoint_id"]
    want = json.loads(module.params["policy"])
    client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    result, have = json_document.sync(
        module,
        want,
        read=lambda: current_policy(client, endpoint_id),
        put=lambda doc: client.modify_vpc_endpoint(
            aws_retry=True, VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(doc)
        ),
        delete=lambda: None,
        fail_msg=f"Failed to set the policy of VPC endpoint {endpoint_id}",
    )
    result["policy"] = want if result["changed"] else have
    module.exit_json(**result)


if __name__ == "__main__":
    main()
