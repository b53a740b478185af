#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_job_definition_info
version_added: 0.1.0
short_description: List the ACTIVE revisions of AWS Batch job definitions, with their images
description:
  - Read-only (C(DescribeJobDefinitions)); supports check mode.
  - For each name, the C(ACTIVE) revisions oldest first, each with its revision number,
    ARN and container image. A job submitted by name runs the latest one.
options:
  names:
    description: Job definition names.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author: lmpspot developers
"""

EXAMPLES = r"""
- name: Which image each revision runs
  lmpspot.aws.batch_job_definition_info:
    names: [lmpspot-local-lammps-gpu]
  register: jobdefs
"""

RETURN = r"""
job_definitions:
  description: Per name, its ACTIVE revisions (oldest first); an empty list when there is none.
  returned: always
  type: dict
  sample:
    lmpspot-local-lammps-gpu:
      - revision: 1
        arn: "arn:aws:batch:us-east-2:123456789012:job-definition/lmpspot-local-lammps-gpu:1"
        image: "r/x:cpu-0123"
"""

import contextlib

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.lmpspot.aws.plugins.module_utils.batch import job_definition_revisions


def main():
    module = AnsibleAWSModule(
        argument_spec={"names": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
    out = {}
    for name in module.params["names"]:
        try:
            revs = job_definition_revisions(client, name)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not describe job definition {name}")
        out[name] = [
            {
                "revision": int(r["revision"]),
                "arn": r["jobDefinitionArn"],
                "image": (r.get("containerProperties") or {}).get("image", ""),
            }
            for r in revs
        ]
    module.exit_json(changed=False, job_definitions=out)


if __name__ == "__main__":
    main()
