#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatchlogs_resource_policy
version_added: 0.1.0
short_description: Set or remove a CloudWatch Logs resource policy (account level), idempotently
description:
  - Puts the CloudWatch Logs resource policy O(name) with O(policy) when it differs from the
    current one (compared as parsed JSON), or deletes it with O(state=absent).
  - Such a policy lets AWS services write to log groups - for example EventBridge rules whose
    target is a log group need C(logs:CreateLogStream) and C(logs:PutLogEvents) granted to
    C(events.amazonaws.com) (the console adds this itself; the API does not).
  - An account holds at most 10 of these policies per region; use one per purpose.
  - Supports check mode and diff.
options:
  name:
    description: Policy name.
    type: str
    required: true
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
  policy:
    description: The policy document (a mapping or its JSON text). Required with O(state=present).
    type: json
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(logs:DescribeResourcePolicies), C(logs:PutResourcePolicy) and C(logs:DeleteResourcePolicy).
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Let EventBridge write to the /aws/events/lmpspot-* log groups
  lmpspot.aws.cloudwatchlogs_resource_policy:
    name: lmpspot-prod-events-to-logs
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Service: [events.amazonaws.com, delivery.logs.amazonaws.com]}
          Action: [logs:CreateLogStream, logs:PutLogEvents]
          Resource: arn:aws:logs:us-east-2:123456789012:log-group:/aws/events/lmpspot-prod-*:*
"""

RETURN = r"""
policy:
  description: The policy document after the task (null when absent).
  returned: always
  type: dict
"""

import contextlib
import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import json_document


def current_policy(client, name):
    token = None
    while True:
        kwargs = {"nextToken": token} if token else {}
        res = client.describe_resource_policies(aws_retry=True, **kwargs)
        for pol in res.get("resourcePolicies", []):
            if pol.get("policyName") == name:
                return json.loads(pol["policyDocument"])
        token = res.get("nextToken")
        if not token:
            return None


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "policy": {"type": "json"},
        },
        required_if=[("state", "present", ["policy"])],
        supports_check_mode=True,
    )
    name = module.params["name"]
    want = json_document.wanted(module, "policy")
    client = module.client("logs", retry_decorator=AWSRetry.jittered_backoff())

    def delete():
        with contextlib.suppress(is_boto3_error_code("ResourceNotFoundException")):
            client.delete_resource_policy(aws_retry=True, policyName=name)

    result, have = json_document.sync(
        module,
        want,
        read=lambda: current_policy(client, name),
        put=lambda doc: client.put_resource_policy(
            aws_retry=True, policyName=name, policyDocument=json.dumps(doc)
        ),
        delete=delete,
        fail_msg=f"Failed to manage CloudWatch Logs resource policy {name}",
    )
    result["policy"] = want if result["changed"] else have
    module.exit_json(**result)


if __name__ == "__main__":
    main()
