#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
short_description: Create, update or delete a CloudWatch dashboard, idempotently
description:
  - Puts O(body) as the dashboard's body when it differs from the current one (compared as
    parsed JSON, so key order and whitespace do not count), or deletes the dashboard with
    O(state=absent).
  - Neither amazon.aws nor community.aws has a dashboard module.
  - Supports check mode and diff.
options:
  name:
    description: Dashboard name (letters, digits, C(-) and C(_), at most 255 characters).
    type: str
    required: true
  state:
    description: Whether the dashboard should exist.
    type: str
    choices: [present, absent]
    default: present
  body:
    description:
      - The dashboard body (a mapping or its JSON text), as in C(PutDashboard). Required with
        O(state=present).
    type: json
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(cloudwatch:GetDashboard), C(cloudwatch:PutDashboard) and C(cloudwatch:DeleteDashboards).
author: lmpspot developers
"""

EXAMPLES = r"""
- name: The job dashboard
  lmpspot.aws.cloudwatch_dashboard:
    name: lmpspot-prod-jobs
    body: "{{ lookup('ansible.builtin.template', 'dashboard.json.j2') }}"

- name: No dashboard
  lmpspot.aws.cloudwatch_dashboard:
    name: lmpspot-prod-jobs
    state: absent
"""

RETURN = r"""
body:
  description: The dashboard body after the task (null when absent).
  returned: always
  type: dict
arn:
  description: ARN of the dashboard (null when absent or not created yet in check mode).
  returned: always
  type: str
validation_messages:
  description: Warnings CloudWatch returned about the body (widgets it could not parse).
  returned: when the body was put
  type: list
  elements: dict
"""

import contextlib
import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore


def current_dashboard(client, name):
    """(body, arn) of the dashboard, or (None, None) when it does not exist."""
    try:
        res = client.get_dashboard(aws_retry=True, DashboardName=name)
    except is_boto3_error_code("ResourceNotFound"):
        return None, None
    return json.loads(res["DashboardBody"]), res.get("DashboardArn")


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "body": {"type": "json"},
        },
        required_if=[("state", "present", ["body"])],
        supports_check_mode=True,
    )
    name = module.params["name"]
    want = json.loads(module.params["body"]) if module.params["state"] == "present" else None
    if want is not None and not isinstance(want, dict):
        module.fail_json(msg=f"body of dashboard {name} must be a JSON object with a 'widgets' list")
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    result = {"changed": False}
    try:
        have, arn = current_dashboard(client, name)
        result["changed"] = have != want
        if result["changed"] and not module.check_mode:
            if want is None:
                client.delete_dashboards(aws_retry=True, DashboardNames=[name])
                arn = None
            else:
                res = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=json.dumps(want))
                result["validation_messages"] = res.get("DashboardValidationMessages", [])
                _body, arn = current_dashboard(client, name)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg=f"Failed to manage CloudWatch dashboard {name}")
    result["body"] = want if result["changed"] else have
    result["arn"] = arn if want is not None else None
    if module._diff:
        result["diff"] = {"before": have or {}, "after": want or {}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
