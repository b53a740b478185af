"""Pure logic of lmpspot.aws.batch_compute_environment_state: which environments to update."""

from __future__ import annotations

import pytest
from ansible_collections.lmpspot.aws.plugins.modules.batch_compute_environment_state import plan

ARN = "arn:aws:batch:us-east-2:123456789012:compute-environment/"
FOUND = [
    {"computeEnvironmentName": "spot", "computeEnvironmentArn": ARN + "spot", "state": "ENABLED"},
    {"computeEnvironmentName": "od", "computeEnvironmentArn": ARN + "od", "state": "DISABLED"},
]


@pytest.mark.parametrize(
    ("names", "state", "update", "missing"),
    [
        (["spot", "od"], "DISABLED", ["spot"], []),
        (["spot", "od"], "ENABLED", ["od"], []),
        (["od"], "DISABLED", [], []),
        ([ARN + "spot", "spot"], "DISABLED", ["spot"], []),  # by ARN and name: once
        (["spot", "gone"], "DISABLED", ["spot"], ["gone"]),
        ([], "ENABLED", [], []),
    ],
)
def test_plan(names, state, update, missing):
    before, got_update, got_missing = plan(FOUND, names, state)
    assert (got_update, got_missing) == (update, missing)
    assert set(before) <= {"spot", "od"}
