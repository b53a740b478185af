#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_active_jobs
version_added: 0.1.0
short_description: List the jobs not yet finished in AWS Batch job queues
description:
  - Read-only (C(ListJobs)); supports check mode.
  - For each queue, the jobs in C(SUBMITTED), C(PENDING), C(RUNNABLE), C(STARTING) and
    C(RUNNING); deleting the queue would terminate them. A queue that does not exist has none.
options:
  queues:
    description: Job queue names or ARNs.
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
- name: What a teardown would stop
  lmpspot.aws.batch_active_jobs:
    queues: [lmpspot-local-spot, lmpspot-local-ondemand]
  register: active
"""

RETURN = r"""
jobs:
  description: The active jobs of all the queues, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - queue: lmpspot-local-spot
      job_id: "0c6f..."
      job_name: lmpspot-melt-1a2b
      status: RUNNING
      created_at: 1733230000000
"""

import contextlib

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")


def queue_jobs(client, queue):
    out = []
    for status in ACTIVE:
        token = None
        while True:
            kwargs = {"jobQueue": queue, "jobStatus": status}
            if token:
                kwargs["nextToken"] = token
            page = client.list_jobs(aws_retry=True, **kwargs)
            for job in page.get("jobSummaryList", []):
                out.append(
                    {
                        "queue": queue,
                        "job_id": job["jobId"],
                        "job_name": job.get("jobName", ""),
                        "status": job.get("status", status),
                        "created_at": job.get("createdAt", 0),
                    }
                )
            token = page.get("nextToken")
            if not token:
                break
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec={"queues": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    client = module.client("batch", retry_decorator=AWSRetry.jittered_backoff())
    jobs = []
    for queue in module.params["queues"]:
        try:
            jobs += queue_jobs(client, queue)
        except is_boto3_error_code("ClientException"):
            continue  # no such queue: nothing to stop there
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg=f"Could not list the jobs of queue {queue}")
    module.exit_json(changed=False, jobs=sorted(jobs, key=lambda j: (j["created_at"], j["job_id"])))


if __name__ == "__main__":
    main()
