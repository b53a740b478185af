#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cloudwatch_dashboard
version_added: 0.1.0
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

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils import json_document


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
    want = json_document.wanted(module, "body")
    if want is not None and not isinstance(want, dict):
        module.fail_json(msg=f"body of dashboard {name} must be a JSON object with a 'widgets' list")
    client = module.client("cloudwatch", retry_decorator=AWSRetry.jittered_backoff())
    seen = {}  # the dashboard's ARN as last read, and PutDashboard's validation messages

    def read():
        body, seen["arn"] = current_dashboard(client, name)
        return body

    def put(body):
        res = client.put_dashboard(aws_retry=True, DashboardName=name, DashboardBody=json.dumps(body))
        seen["validation_messages"] = res.get("DashboardValidationMessages", [])
        _body, seen["arn"] = current_dashboard(client, name)

    result, have = json_document.sync(
        module,
        want,
        read=read,
        put=put,
        delete=lambda: client.delete_dashboards(aws_retry=True, DashboardNames=[name]),
        fail_msg=f"Failed to manage CloudWatch dashboard {name}",
    )
    if "validation_messages" in seen:
        result["validation_messages"] = seen["validation_messages"]
    result["body"] = want if result["changed"] else have
    result["arn"] = seen["arn"] if want is not None else None
    module.exit_json(**result)


if __name__ == "__main__":
    main()
