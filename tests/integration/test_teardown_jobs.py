"""Teardown's plan names the Batch jobs that deleting the queues would terminate (--check
against the local AWS, which holds the deployment's Spot queue and no On-Demand queue)."""

from __future__ import annotations

import pytest
from conftest import run_playbook
from lmp_helpers import unmanaged_queue

pytestmark = pytest.mark.integration


def test_plan_has_a_jobs_line_before_anything_is_deleted(aws):
    unmanaged_queue(aws, "lmpspot-local-spot", ce_name="lmpspot-local-gpu-spot", role_name="r-teardown")
    # The guard (and its plan) runs whatever the tags; storage alone keeps this short.
    res = run_playbook("playbooks/teardown.yml", aws, "--check", "--tags", "storage")
    assert res.rc == 0, res
    out = res.stdout
    # moto calls every job SUCCEEDED at once, so none is active here; the missing
    # On-Demand queue counts as empty instead of failing the plan.
    assert "jobs      -- none running or waiting in lmpspot-local-spot, lmpspot-local-ondemand" in out, res
    assert out.index("jobs      --") < out.index("storage   --")
