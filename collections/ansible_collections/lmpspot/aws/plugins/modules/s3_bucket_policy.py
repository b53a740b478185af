#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: s3_bucket_policy
version_added: 0.1.0
short_description: Set or remove an S3 bucket's policy, idempotently
description:
  - Puts O(policy) on the bucket when it differs from the current one (compared as
    parsed JSON, so key order and whitespace do not count), or removes the bucket's
    policy with O(state=absent).
  - Exists because amazon.aws.s3_bucket (10.1) cannot remove a policy - it deletes it,
    then waits for a comparison that never succeeds and fails after a minute.
  - Supports check mode and diff.
options:
  bucket:
    description: Bucket name.
    type: str
    required: true
  state:
    description: Whether the bucket has O(policy) (present) or no policy at all (absent).
    type: str
    choices: [present, absent]
    default: present
  policy:
    description: The policy document (a mapping or a JSON string). Required with O(state=present).
    type: json
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: TLS-only bucket
  lmpspot.aws.s3_bucket_policy:
    bucket: my-results
    policy: "{{ lookup('ansible.builtin.template', 'bucket_policy.json.j2') }}"

- name: No bucket policy
  lmpspot.aws.s3_bucket_policy:
    bucket: my-results
    state: absent
"""

RETURN = r"""
policy:
  description: The bucket's policy after the task (null when it has none).
  returned: always
  type: dict
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import json_document


def current_policy(client, bucket):
    try:
        return json.loads(client.get_bucket_policy(aws_retry=True, Bucket=bucket)["Policy"])
    except is_boto3_error_code("NoSuchBucketPolicy"):
        return None


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "bucket": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "policy": {"type": "json"},
        },
        required_if=[("state", "present", ["policy"])],
        supports_check_mode=True,
    )
    bucket = module.params["bucket"]
    want = json_document.wanted(module, "policy")
    client = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
    result, have = json_document.sync(
        module,
        want,
        read=lambda: current_policy(client, bucket),
        put=lambda doc: client.put_bucket_policy(aws_retry=True, Bucket=bucket, Policy=json.dumps(doc)),
        delete=lambda: client.delete_bucket_policy(aws_retry=True, Bucket=bucket),
        fail_msg=f"Failed to manage the policy of bucket {bucket}",
    )
    result["policy"] = want if result["changed"] else have
    module.exit_json(**result)


if __name__ == "__main__":
    main()
