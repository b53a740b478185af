"""Pure logic of lmpspot.aws module_utils/batch.py: request building, normalization, plans."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.lmpspot.aws.plugins.module_utils import batch

SLR = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
ROLE_A = "arn:aws:iam::123456789012:role/batch-a"
ROLE_B = "arn:aws:iam::123456789012:role/batch-b"
PROFILE = "arn:aws:iam::123456789012:instance-profile/lmpspot-instance"


# --------------------------------------------------------------------------- generic helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": None, "b": [], "c": {}, "d": 0, "e": False}, {"d": 0, "e": False}),
        ({"a": {"b": {"c": []}}}, {}),
        ({"a": [{"b": None, "c": 1}]}, {"a": [{"c": 1}]}),
        ([{}, {"a": 1}], [{}, {"a": 1}]),
        ("text", "text"),
    ],
)
def test_strip_empty(value, expected):
    assert batch.strip_empty(value) == expected


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (None, {}),
        ({"A": 1, "B": True, "C": False, "D": "x"}, {"A": "1", "B": "true", "C": "false", "D": "x"}),
    ],
)
def test_str_map(mapping, expected):
    assert batch.str_map(mapping, "environment") == expected


@pytest.mark.parametrize("bad", [["A=1"], {"A": None}, {"A": [1]}, {"A": {"b": 1}}, "A=1"])
def test_str_map_rejects(bad):
    with pytest.raises(batch.BatchInputError, match="environment"):
        batch.str_map(bad, "environment")


def test_to_snake_spells_vcpus_and_keeps_tag_keys():
    facts = batch.to_snake(
        {
            "computeResources": {"minvCpus": 0, "maxvCpus": 8, "desiredvCpus": 2},
            "tags": {"CostCenter": "x"},
        },
        ignore_list=("tags",),
    )
    assert facts == {
        "compute_resources": {"min_vcpus": 0, "max_vcpus": 8, "desired_vcpus": 2},
        "tags": {"CostCenter": "x"},
    }


# --------------------------------------------------------------------------- job definitions


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"vcpus": 4, "memory": 15000, "gpus": 1}, [("VCPU", "4"), ("MEMORY", "15000"), ("GPU", "1")]),
        ({"vcpus": 0.25, "memory": 512}, [("VCPU", "0.25"), ("MEMORY", "512")]),
        ({"vcpus": 2.0, "gpus": 0}, [("VCPU", "2")]),
        ({}, []),
    ],
)
def test_resource_requirements(kwargs, expected):
    reqs = batch.resource_requirements(**kwargs)
    assert [(r["type"], r["value"]) for r in reqs] == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"vcpus": 0}, "vcpus"), ({"memory": 2}, "memory"), ({"gpus": -1}, "gpus")],
)
def test_resource_requirements_rejects(kwargs, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.resource_requirements(**kwargs)


def test_retry_strategy_request():
    out = batch.retry_strategy_request(
        {
            "attempts": 3,
            "evaluate_on_exit": [
                {"on_status_reason": "Host EC2*", "action": "retry"},
                {"on_exit_code": 75, "action": "RETRY", "on_reason": None},
                {"on_reason": "*", "action": "Exit"},
            ],
        }
    )
    assert out == {
        "attempts": 3,
        "evaluateOnExit": [
            {"action": "RETRY", "onStatusReason": "Host EC2*"},
            {"action": "RETRY", "onExitCode": "75"},
            {"action": "EXIT", "onReason": "*"},
        ],
    }
    assert batch.retry_strategy_request(None) is None
    assert batch.retry_strategy_request({"attempts": None, "evaluate_on_exit": []}) is None


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        ({"attempts": 0}, "1-10"),
        ({"attempts": 11}, "1-10"),
        ({"evaluate_on_exit": [{"on_reason": "*", "action": "retry"}] * 6}, "at most 5"),
        ({"evaluate_on_exit": [{"on_reason": "*", "action": "ignore"}]}, "RETRY or EXIT"),
        ({"evaluate_on_exit": [{"on_reason": "*"}]}, "RETRY or EXIT"),
        ({"evaluate_on_exit": [{"action": "exit"}]}, "needs one of"),
        ({"evaluate_on_exit": [{"on_status_reason": "Host*EC2", "action": "retry"}]}, "only end"),
        ({"evaluate_on_exit": ["retry"]}, "mapping"),
    ],
)
def test_retry_strategy_rejects(retry, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.retry_strategy_request(retry)


def module_params(**over):
    params = {
        "name": "lmpspot-test-lammps",
        "type": "container",
        "image": "lammps:test",
        "command": ["lmp", "-in", "Ref::input"],
        "vcpus": 4,
        "memory": 15000,
        "gpus": 1,
        "environment": {"B": "2", "A": "1"},
        "job_role_arn": None,
        "execution_role_arn": None,
        "linux_parameters": {
            "shared_memory_size": 2048,
            "init_process_enabled": None,
            "max_swap": None,
            "swappiness": None,
            "devices": None,
            "tmpfs": None,
        },
        "log_configuration": {
            "log_driver": "awslogs",
            "options": {"awslogs-group": "/lmpspot", "mode": "non-blocking"},
            "secret_options": None,
        },
        "parameters": {"input": "in.chain"},
        "attempt_duration_seconds": 3600,
        "retry_strategy": {
            "attempts": 3,
            "evaluate_on_exit": [
                {"on_status_reason": "Host EC2*", "action": "retry"},
                {"on_reason": "*", "action": "exit"},
            ],
        },
        "propagate_tags": False,
        "platform_capabilities": ["EC2"],
    }
    params.update(over)
    return params


def test_job_definition_request_shape():
    req = batch.job_definition_request(module_params())
    cp = req["containerProperties"]
    assert cp["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert cp["linuxParameters"] == {"sharedMemorySize": 2048}
    # Driver option names are not camel-cased.
    assert cp["logConfiguration"]["options"] == {"awslogs-group": "/lmpspot", "mode": "non-blocking"}
    assert req["timeout"] == {"attemptDurationSeconds": 3600}
    assert req["retryStrategy"]["evaluateOnExit"][0]["action"] == "RETRY"
    assert {r["type"] for r in cp["resourceRequirements"]} == {"VCPU", "MEMORY", "GPU"}


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"image": None}, "image"),
        ({"attempt_duration_seconds": 30}, "at least 60"),
        ({"environment": {"A": {"nested": 1}}}, "environment.A"),
    ],
)
def test_job_definition_request_rejects(over, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.job_definition_request(module_params(**over))


def aws_answer(request):
    """What DescribeJobDefinitions answers for ``request`` (the shape real AWS/moto give)."""
    jd = copy.deepcopy(request)
    cp = jd["containerProperties"]
    cp["environment"] = list(reversed(cp["environment"]))
    cp["resourceRequirements"] = list(reversed(cp["resourceRequirements"]))
    for key in ("secrets", "mountPoints", "ulimits", "volumes"):
        cp[key] = []
    cp["linuxParameters"]["devices"] = []
    for rule in jd["retryStrategy"]["evaluateOnExit"]:
        rule["action"] = rule["action"].lower()
    jd.update(
        jobDefinitionArn="arn:aws:batch:us-east-2:123456789012:job-definition/x:1",
        revision=1,
        status="ACTIVE",
        tags={"project": "lmpspot"},
        containerOrchestrationType="ECS",
    )
    return jd


def test_aws_answer_for_same_content_does_not_differ():
    req = batch.job_definition_request(module_params())
    assert not batch.job_definition_differs(req, aws_answer(req))


def test_aws_filled_container_keys_are_ignored_unless_requested():
    req = batch.job_definition_request(module_params())
    answer = aws_answer(req)
    answer["containerProperties"]["runtimePlatform"] = {"cpuArchitecture": "X86_64"}
    assert not batch.job_definition_differs(req, answer)
    answer["containerProperties"]["jobRoleArn"] = "arn:aws:iam::1:role/other"
    assert batch.job_definition_differs(req, answer)  # a field we manage, removed by the user


def test_missing_aws_defaults_do_not_differ():
    req = batch.job_definition_request(module_params())
    answer = aws_answer(req)
    del answer["platformCapabilities"]
    del answer["propagateTags"]
    assert not batch.job_definition_differs(req, answer)


@pytest.mark.parametrize(
    "over",
    [
        {"attempt_duration_seconds": 7200},
        {"gpus": 2},
        {"vcpus": 8},
        {"environment": {"A": "1", "B": "3"}},
        {"command": ["lmp", "-in", "in.other"]},
        {"parameters": {}},
        {"propagate_tags": True},
        {"linux_parameters": {"shared_memory_size": 4096}},
        {
            "retry_strategy": {
                "attempts": 3,
                "evaluate_on_exit": [
                    {"on_reason": "*", "action": "exit"},
                    {"on_status_reason": "Host EC2*", "action": "retry"},
                ],
            }
        },
    ],
)
def test_real_changes_differ(over):
    current = aws_answer(batch.job_definition_request(module_params()))
    assert batch.job_definition_differs(batch.job_definition_request(module_params(**over)), current)


def test_differs_when_nothing_registered():
    assert batch.job_definition_differs(batch.job_definition_request(module_params()), None)


def test_empty_env_values_are_dropped_on_both_sides():
    req = batch.job_definition_request(module_params(environment={"A": "1", "B": "2", "E": ""}))
    answer = aws_answer(batch.job_definition_request(module_params()))
    assert not batch.job_definition_differs(req, answer)


@pytest.mark.parametrize("bad", [None, "x", ["a"]])
def test_normalize_rejects_non_mapping(bad):
    with pytest.raises(batch.BatchInputError):
        batch.normalize_job_definition(bad)


# --------------------------------------------------------------------------- compute environments


def cr_params(**over):
    cr = {
        "type": "SPOT",
        "allocation_strategy": None,
        "instance_types": ["g5.xlarge", "g6.xlarge"],
        "min_vcpus": 0,
        "max_vcpus": 64,
        "desired_vcpus": None,
        "subnets": ["subnet-1"],
        "security_group_ids": ["sg-1"],
        "instance_role": PROFILE,
        "launch_template": {"launch_template_id": "lt-1", "launch_template_name": None, "version": "$Latest"},
        "ec2_configuration": [
            {"image_type": "ECS_AL2_NVIDIA", "image_id_override": None, "image_kubernetes_version": None}
        ],
        "bid_percentage": None,
        "tags": None,
        "ec2_key_pair": None,
        "placement_group": None,
    }
    cr.update(over)
    return cr


@pytest.mark.parametrize(
    ("cr_type", "strategy"),
    [("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED"), ("EC2", "BEST_FIT_PROGRESSIVE")],
)
def test_default_allocation_strategy(cr_type, strategy):
    out = batch.compute_resources_request(cr_params(type=cr_type))
    assert out["allocationStrategy"] == strategy
    assert out["launchTemplate"] == {"launchTemplateId": "lt-1", "version": "$Latest"}
    assert out["ec2Configuration"] == [{"imageType": "ECS_AL2_NVIDIA"}]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"instance_types": []}, "instance_types"),
        ({"instance_role": None}, "instance_role"),
        ({"subnets": []}, "subnets"),
        (
            {"type": "EC2", "allocation_strategy": "SPOT_CAPACITY_OPTIMIZED"},
            "needs compute_resources.type SPOT",
        ),
        ({"type": "EC2", "bid_percentage": 50}, "SPOT"),
        ({"bid_percentage": 150}, "0-100"),
        ({"min_vcpus": 8, "max_vcpus": 4}, "min_vcpus"),
        ({"desired_vcpus": 128}, "desired_vcpus"),
        (
            {"launch_template": {"launch_template_id": "lt-1", "launch_template_name": "x", "version": None}},
            "exactly one",
        ),
        ({"type": "FARGATE", "max_vcpus": 4}, "launch_template does not apply"),
    ],
)
def test_compute_resources_rejects(over, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.compute_resources_request(cr_params(**over))


def test_compute_resources_requires_something():
    with pytest.raises(batch.BatchInputError, match="required"):
        batch.compute_resources_request(None)


def described(cr_request, service_role=ROLE_A, state="ENABLED"):
    """A DescribeComputeEnvironments answer for a request, with AWS-filled fields."""
    cr = copy.deepcopy(cr_request)
    cr["instanceTypes"] = list(reversed(cr["instanceTypes"]))
    cr["desiredvCpus"] = 16  # moved with the load
    cr["launchTemplate"] = {**cr.get("launchTemplate", {}), "launchTemplateName": "lmpspot-gpu"}
    cr.setdefault("bidPercentage", 100)
    return {
        "computeEnvironmentName": "lmpspot-test-gpu-spot",
        "computeEnvironmentArn": "arn:aws:batch:us-east-2:1:compute-environment/lmpspot-test-gpu-spot",
        "type": "MANAGED",
        "state": state,
        "status": "VALID",
        "serviceRole": service_role,
        "computeResources": cr,
    }


def desired_env(service_role=None, state="ENABLED", **cr_over):
    want = {
        "computeEnvironmentName": "lmpspot-test-gpu-spot",
        "type": "MANAGED",
        "state": state,
        "computeResources": batch.compute_resources_request(cr_params(**cr_over)),
    }
    if service_role:
        want["serviceRole"] = service_role
    return want


def test_plan_in_sync_ignores_aws_filled_fields():
    want = desired_env(service_role=ROLE_A)
    plan = batch.plan_compute_environment(want, described(want["computeResources"]))
    assert plan == {"create": False, "update": {}, "replace": []}


def test_instance_role_by_name_matches_arn():
    want = desired_env(instance_role="lmpspot-instance")
    current = described(desired_env()["computeResources"], service_role=SLR)
    assert batch.plan_compute_environment(want, current)["update"] == {}


def test_plan_create():
    assert batch.plan_compute_environment(desired_env(), None)["create"] is True


@pytest.mark.parametrize(
    ("service_role", "current_role", "over", "update", "replace"),
    [
        # Scaling is always in place.
        (ROLE_A, ROLE_A, {"max_vcpus": 128}, {"computeResources": {"maxvCpus": 128}}, []),
        (None, ROLE_A, {"desired_vcpus": 8}, {"computeResources": {"desiredvCpus": 8}}, []),
        # Infrastructure fields: in place with the service-linked role and a
        # non-BEST_FIT strategy, replacement otherwise.
        (
            None,
            SLR,
            {"instance_types": ["p4d.24xlarge"]},
            {"computeResources": {"instanceTypes": ["p4d.24xlarge"]}},
            [],
        ),
        (ROLE_A, ROLE_A, {"instance_types": ["p4d.24xlarge"]}, {}, ["compute_resources.instanceTypes"]),
        (
            None,
            SLR,
            {"allocation_strategy": "BEST_FIT"},
            {},
            ["compute_resources.allocationStrategy"],
        ),
        (
            None,
            SLR,
            {"launch_template": {"launch_template_id": "lt-1", "launch_template_name": None, "version": "3"}},
            {"computeResources": {"launchTemplate": {"launchTemplateId": "lt-1", "version": "3"}}},
            [],
        ),
        # Service role: regular -> regular in place; to/from service-linked: replacement.
        (ROLE_B, ROLE_A, {}, {"serviceRole": ROLE_B}, []),
        (SLR, ROLE_A, {}, {}, ["serviceRole (service-linked <-> regular role)"]),
    ],
)
def test_plan_updates_and_replacements(service_role, current_role, over, update, replace):
    current = described(desired_env()["computeResources"], service_role=current_role)
    plan = batch.plan_compute_environment(desired_env(service_role=service_role, **over), current)
    assert plan["update"] == update
    assert plan["replace"] == replace


def test_plan_state_change_in_place():
    want = desired_env(service_role=ROLE_A, state="DISABLED")
    plan = batch.plan_compute_environment(want, described(want["computeResources"]))
    assert plan["update"] == {"state": "DISABLED"}


def test_plan_current_best_fit_forces_replacement():
    current = described(desired_env()["computeResources"], service_role=SLR)
    current["computeResources"].pop("allocationStrategy")  # AWS default: BEST_FIT
    plan = batch.plan_compute_environment(desired_env(), current)
    assert plan["replace"] == ["compute_resources.allocationStrategy"]


@pytest.mark.parametrize(
    ("key", "want", "have", "changed"),
    [
        ("instanceTypes", ["a", "b"], ["b", "a"], False),
        ("instanceRole", "lmpspot-instance", PROFILE, False),
        (
            "launchTemplate",
            {"launchTemplateId": "lt-1", "version": "$Default"},
            {"launchTemplateId": "lt-1"},
            False,
        ),
        (
            "launchTemplate",
            {"launchTemplateName": "x", "version": "1"},
            {"launchTemplateName": "x", "version": "2"},
            True,
        ),
        ("ec2Configuration", [{"imageType": "ECS_AL2_NVIDIA"}], [{"imageType": "ECS_AL2"}], True),
        ("bidPercentage", 90, None, True),
        ("tags", {"a": "1"}, {"a": "1"}, False),
    ],
)
def test_compute_resources_changes(key, want, have, changed):
    current = {key: have} if have is not None else {}
    assert (batch.compute_resources_changes({key: want}, current) == [key]) is changed


# --------------------------------------------------------------------------- job queues

CE1 = "arn:aws:batch:us-east-2:1:compute-environment/spot"
CE2 = "arn:aws:batch:us-east-2:1:compute-environment/ondemand"
POLICY = "arn:aws:batch:us-east-2:1:scheduling-policy/fair"


@pytest.mark.parametrize(
    ("arns", "message"),
    [([], "at least one"), ([CE1, CE2, "c", "d"], "at most 3"), ([CE1, CE1], "twice")],
)
def test_ce_order_rejects(arns, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.ce_order(arns)


def test_ordered_ce_arns_sorts_by_order():
    order = [{"order": 2, "computeEnvironment": CE2}, {"order": 1, "computeEnvironment": CE1}]
    assert batch.ordered_ce_arns(order) == [CE1, CE2]
    assert batch.ordered_ce_arns(batch.ce_order([CE2, CE1])) == [CE2, CE1]


def queue(**over):
    q = {
        "jobQueueName": "q",
        "state": "ENABLED",
        "priority": 10,
        "computeEnvironmentOrder": batch.ce_order([CE1, CE2]),
    }
    q.update(over)
    return q


@pytest.mark.parametrize(
    ("want", "have", "update", "problems"),
    [
        (queue(), queue(status="VALID"), {}, 0),
        (
            queue(),
            queue(
                computeEnvironmentOrder=[
                    {"order": 5, "computeEnvironment": CE1},
                    {"order": 9, "computeEnvironment": CE2},
                ]
            ),
            {},
            0,
        ),
        (queue(priority=20), queue(), {"priority": 20}, 0),
        (queue(state="DISABLED"), queue(), {"state": "DISABLED"}, 0),
        (
            queue(computeEnvironmentOrder=batch.ce_order([CE2, CE1])),
            queue(),
            {"computeEnvironmentOrder": batch.ce_order([CE2, CE1])},
            0,
        ),
        (
            queue(schedulingPolicyArn=POLICY + "2"),
            queue(schedulingPolicyArn=POLICY),
            {"schedulingPolicyArn": POLICY + "2"},
            0,
        ),
        (queue(schedulingPolicyArn=POLICY), queue(), {}, 1),
        (queue(), queue(schedulingPolicyArn=POLICY), {}, 0),  # unmanaged: left alone
        (
            queue(
                jobStateTimeLimitActions=batch.time_limit_actions_request(
                    [{"reason": "CAPACITY", "max_time_seconds": 3600}]
                )
            ),
            queue(
                jobStateTimeLimitActions=[
                    {"reason": "CAPACITY", "state": "RUNNABLE", "maxTimeSeconds": 3600, "action": "CANCEL"}
                ]
            ),
            {},
            0,
        ),
        (
            queue(jobStateTimeLimitActions=[]),
            queue(
                jobStateTimeLimitActions=[
                    {"reason": "CAPACITY", "state": "RUNNABLE", "maxTimeSeconds": 3600, "action": "CANCEL"}
                ]
            ),
            {"jobStateTimeLimitActions": []},
            0,
        ),
    ],
)
def test_plan_job_queue(want, have, update, problems):
    plan = batch.plan_job_queue(want, have)
    assert plan["create"] is False
    assert plan["update"] == update
    assert len(plan["problems"]) == problems


def test_plan_job_queue_create():
    assert batch.plan_job_queue(queue(), None)["create"] is True


@pytest.mark.parametrize("seconds", [599, 86401])
def test_time_limit_actions_rejects(seconds):
    with pytest.raises(batch.BatchInputError, match="600-86400"):
        batch.time_limit_actions_request([{"reason": "x", "max_time_seconds": seconds}])


# --------------------------------------------------------------------------- waiter


def sequence(*answers):
    it = iter(answers)
    return lambda: next(it)


def test_wait_for_polls_until_ready():
    fetch = sequence({"status": "CREATING"}, {"status": "UPDATING"}, {"status": "VALID"})
    assert batch.wait_for(fetch, batch.settled, timeout=5, delay=0) == {"status": "VALID"}


def test_wait_for_gone():
    assert batch.wait_for(sequence({"status": "DELETING"}, None), batch.gone, 5, delay=0) is None


def test_wait_for_invalid_fails_at_once():
    fetch = sequence({"status": "INVALID", "statusReason": "no instance role"})
    with pytest.raises(batch.BatchWaitError, match="no instance role"):
        batch.wait_for(fetch, batch.settled, timeout=5, delay=0)


def test_wait_for_times_out():
    with pytest.raises(batch.BatchWaitError, match="timed out"):
        batch.wait_for(lambda: {"status": "CREATING"}, batch.settled, timeout=0, delay=0)


# --------------------------------------------------------------------------- scheduling policies


def test_fairshare_request_and_normalization():
    req = batch.fairshare_policy_request(
        {
            "share_decay_seconds": 3600,
            "compute_reservation": None,
            "share_distribution": [
                {"share_identifier": "proteins", "weight_factor": None},
                {"share_identifier": "polymer", "weight_factor": 0.5},
            ],
        }
    )
    assert req == {
        "shareDecaySeconds": 3600,
        "computeReservation": 0,
        "shareDistribution": [
            {"shareIdentifier": "proteins"},
            {"shareIdentifier": "polymer", "weightFactor": 0.5},
        ],
    }
    # What AWS answers: defaults filled in, shares in another order.
    answer = {
        "shareDecaySeconds": 3600,
        "computeReservation": 0,
        "shareDistribution": [
            {"shareIdentifier": "polymer", "weightFactor": 0.5},
            {"shareIdentifier": "proteins", "weightFactor": 1.0},
        ],
    }
    assert batch.normalize_fairshare_policy(req) == batch.normalize_fairshare_policy(answer)
    answer["shareDistribution"][0]["weightFactor"] = 0.25
    assert batch.normalize_fairshare_policy(req) != batch.normalize_fairshare_policy(answer)
    assert batch.normalize_fairshare_policy(None) == batch.normalize_fairshare_policy(
        batch.fairshare_policy_request(None)
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"share_decay_seconds": -1}, "share_decay_seconds"),
        ({"share_decay_seconds": 604801}, "share_decay_seconds"),
        ({"compute_reservation": 100}, "compute_reservation"),
        ({"share_distribution": [{"share_identifier": ""}]}, "needs share_identifier"),
        ({"share_distribution": [{"share_identifier": "a"}, {"share_identifier": "a"}]}, "twice"),
        ({"share_distribution": [{"share_identifier": "a", "weight_factor": 0}]}, "weight_factor"),
        ({"share_distribution": [{"share_identifier": "a", "weight_factor": 1000}]}, "weight_factor"),
    ],
)
def test_fairshare_rejects(policy, message):
    with pytest.raises(batch.BatchInputError, match=message):
        batch.fairshare_policy_request(policy)
