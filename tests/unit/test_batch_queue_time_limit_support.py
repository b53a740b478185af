"""plan_job_queue: a describe answer without jobStateTimeLimitActions means "not stored"."""

from __future__ import annotations

from ansible_collections.lmpspot.aws.plugins.module_utils import batch

CE = "arn:aws:batch:us-east-2:123456789012:compute-environment/ce"
ACTIONS = batch.time_limit_actions_request(
    [{"reason": "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "max_time_seconds": 1800}]
)


def queue(**over):
    q = {
        "jobQueueName": "q",
        "state": "ENABLED",
        "priority": 10,
        "computeEnvironmentOrder": batch.ce_order([CE]),
    }
    q.update(over)
    return q


def test_missing_key_is_unsupported_not_a_change():
    plan = batch.plan_job_queue(queue(jobStateTimeLimitActions=ACTIONS), queue())
    assert plan["update"] == {}
    assert plan["unsupported"] == ["jobStateTimeLimitActions"]


def test_present_key_is_compared():
    plan = batch.plan_job_queue(queue(jobStateTimeLimitActions=ACTIONS), queue(jobStateTimeLimitActions=[]))
    assert plan["update"] == {"jobStateTimeLimitActions": ACTIONS}
    assert plan["unsupported"] == []


def test_unmanaged_key_is_neither():
    plan = batch.plan_job_queue(queue(), queue())
    assert plan == {"create": False, "update": {}, "problems": [], "unsupported": []}
