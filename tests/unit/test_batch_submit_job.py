"""Pure logic of lmpspot.aws.batch_submit_job: which job counts as already submitted, the request.

The local AWS (moto without Docker) finishes every job the moment it is submitted, so the
"an active job of this name exists" branch cannot be reached through it; it is checked
here on DescribeJobs/ListJobs-shaped data.
"""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.modules.batch_submit_job import (
    ACTIVE_STATUSES,
    find_active,
    find_succeeded,
    submit_request,
)


def _job(job_id, status, name="lmpspot-sim1", created=0):
    return {"jobId": job_id, "jobName": name, "status": status, "createdAt": created}


@pytest.mark.parametrize(
    ("summaries", "expected"),
    [
        ([], None),
        ([_job("a", "SUCCEEDED"), _job("b", "FAILED")], None),  # finished jobs do not count
        ([_job("a", "RUNNING")], "a"),
        ([_job("a", "RUNNABLE", created=1), _job("b", "SUBMITTED", created=2)], "b"),  # the newest
        ([_job("a", "RUNNING", name="lmpspot-sim2")], None),  # another sim
        ([_job("a:3", "RUNNING")], None),  # an array child is not the job
        ([_job("a", "STARTING"), _job("a:0", "RUNNING")], "a"),
        ([_job("a", "PENDING", name="lmpspot-sim1x")], None),  # exact names only
    ],
)
def test_find_active(summaries, expected):
    found = find_active(summaries, "lmpspot-sim1")
    assert (found or {}).get("jobId") == expected


@pytest.mark.parametrize(
    ("summaries", "expected"),
    [
        ([], None),
        ([_job("a", "SUCCEEDED")], "a"),
        ([_job("a", "SUCCEEDED", created=1), _job("b", "FAILED", created=2)], None),  # newest failed
        ([_job("a", "FAILED", created=1), _job("b", "SUCCEEDED", created=2)], "b"),
        ([_job("a", "SUCCEEDED", name="lmpspot-sim2")], None),
        ([_job("a:1", "SUCCEEDED")], None),
    ],
)
def test_find_succeeded(summaries, expected):
    found = find_succeeded(summaries, "lmpspot-sim1")
    assert (found or {}).get("jobId") == expected


def test_active_statuses_are_batch_s_unfinished_ones():
    assert set(ACTIVE_STATUSES) == {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}


def _params(**kw):
    base = {
        "name": "lmpspot-sim1",
        "job_queue": "q",
        "job_definition": "jd",
        "parameters": {},
        "array_size": 0,
        "environment": {},
        "attempt_duration_seconds": None,
        "tags": None,
        "propagate_tags": None,
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (_params(), {"jobName": "lmpspot-sim1", "jobQueue": "q", "jobDefinition": "jd"}),
        (_params(array_size=1), {"jobName": "lmpspot-sim1", "jobQueue": "q", "jobDefinition": "jd"}),
        (
            _params(parameters={"sim_id": "sim1", "n": 3}, array_size=4, environment={"B": 2, "A": "x"}),
            {
                "jobName": "lmpspot-sim1",
                "jobQueue": "q",
                "jobDefinition": "jd",
                "parameters": {"sim_id": "sim1", "n": "3"},
                "arrayProperties": {"size": 4},
                "containerOverrides": {
                    "environment": [{"name": "A", "value": "x"}, {"name": "B", "value": "2"}]
                },
            },
        ),
        (
            _params(attempt_duration_seconds=3600, tags={"SimId": "sim1"}, propagate_tags=True),
            {
                "jobName": "lmpspot-sim1",
                "jobQueue": "q",
                "jobDefinition": "jd",
                "timeout": {"attemptDurationSeconds": 3600},
                "tags": {"SimId": "sim1"},
                "propagateTags": True,
            },
        ),
    ],
)
def test_submit_request(params, expected):
    assert submit_request(params) == expected
