"""lmpspot.aws.batch_active_jobs: every active status, every page.

moto marks every Batch job SUCCEEDED the moment it is submitted, so no local AWS can hold
an active job; botocore's own Stubber answers ListJobs here with AWS's documented shapes.
"""

from __future__ import annotations

import boto3
import pytest
from ansible_collections.lmpspot.aws.plugins.modules.batch_active_jobs import ACTIVE, queue_jobs
from botocore.stub import Stubber


class _Retrying:
    """The client as AWSRetry hands it to the module (accepts aws_retry=)."""

    def __init__(self, client):
        self.client = client

    def list_jobs(self, aws_retry=False, **kw):
        return self.client.list_jobs(**kw)


def _job(job_id, status, created):
    return {"jobId": job_id, "jobName": f"lmpspot-{job_id}", "status": status, "createdAt": created}


@pytest.fixture
def batch():
    return boto3.client("batch", region_name="us-east-2", aws_access_key_id="x", aws_secret_access_key="x")


def test_lists_every_active_status_and_page(batch):
    with Stubber(batch) as st:
        for status in ACTIVE:
            if status == "RUNNING":
                st.add_response(
                    "list_jobs",
                    {"jobSummaryList": [_job("j1", "RUNNING", 2)], "nextToken": "t"},
                    {"jobQueue": "q", "jobStatus": status},
                )  # fmt: skip
                st.add_response(
                    "list_jobs",
                    {
                        "jobSummaryList": [
                            {"jobId": "j2", "jobName": "lmpspot-b", "status": "RUNNING", "createdAt": 3}
                        ]
                    },
                    {"jobQueue": "q", "jobStatus": status, "nextToken": "t"},
                )
            elif status == "RUNNABLE":
                st.add_response(
                    "list_jobs",
                    {
                        "jobSummaryList": [
                            {"jobId": "j0", "jobName": "lmpspot-c", "status": "RUNNABLE", "createdAt": 1}
                        ]
                    },
                    {"jobQueue": "q", "jobStatus": status},
                )
            else:
                st.add_response("list_jobs", {"jobSummaryList": []}, {"jobQueue": "q", "jobStatus": status})
        jobs = queue_jobs(_Retrying(batch), "q")
        st.assert_no_pending_responses()
    assert [(j["job_id"], j["status"]) for j in jobs] == [
        ("j0", "RUNNABLE"),
        ("j1", "RUNNING"),
        ("j2", "RUNNING"),
    ]
    assert set(ACTIVE) == {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}
