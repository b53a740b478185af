"""AWS Batch retry semantics of the local executor (lmpspot_local.executor.decide) and job specs.

Semantics (AWS Batch documentation, RetryStrategy / EvaluateOnExit): rules are evaluated
in order; a rule matches when every condition it sets matches; patterns match exactly or,
ending with ``*``, by prefix; the first matching rule's action decides; when no rule
matches the job is retried; exit code 0 succeeds; a retry needs an attempt left; a
timed-out attempt is never retried.
"""

from __future__ import annotations

import os

import pytest
from lmp_helpers import EVALUATE_ON_EXIT, OOM, OUTCOMES

from lmpspot_local.executor import (
    EXITED_REASON,
    SPOT_RECLAIM_REASON,
    TIMEOUT_REASON,
    container_environment,
    decide,
    glob_match,
    is_loopback_registry,
    job_spec,
    podman_run_args,
    rule_matches,
    substitute,
)

# The compute layer's retry strategy (roles/compute/vars/main.yml; the registered one is
# checked against the same outcomes in tests/integration/test_compute_layer.py).
LMPSPOT = {"attempts": 5, "evaluateOnExit": EVALUATE_ON_EXIT}


@pytest.mark.parametrize(("what", "exit_code", "status_reason", "reason", "action"), OUTCOMES)
def test_lmpspot_outcomes(what, exit_code, status_reason, reason, action):
    d = decide(LMPSPOT, 1, exit_code, status_reason, reason)
    assert d.action == action, (what, d.why)
    # ... and no retry once the attempts are used up.
    last = decide(LMPSPOT, 5, exit_code, status_reason, reason)
    assert last.action == ("SUCCEEDED" if action == "SUCCEEDED" else "FAILED"), (what, last.why)


def test_lmpspot_rules_fit_batch_limits():
    rules = LMPSPOT["evaluateOnExit"]
    assert len(rules) <= 5  # Batch's limit
    for rule in rules:
        for key in ("onStatusReason", "onReason", "onExitCode"):
            if key in rule:
                assert "*" not in rule[key][:-1], rule  # a glob only at the end
                assert len(rule[key]) <= 512


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("75", "75", True),
        ("75", "750", False),
        ("7*", "75", True),
        ("7*", "7", True),
        ("7*", "17", False),
        ("*", "", True),
        ("*", None, True),
        ("", "", True),
        ("", None, True),
        ("Host EC2*", SPOT_RECLAIM_REASON, True),
        ("host ec2*", SPOT_RECLAIM_REASON, False),  # case-sensitive
        ("Host EC2", SPOT_RECLAIM_REASON, False),  # no star: exact only
        ("*EC2*", SPOT_RECLAIM_REASON, False),  # a leading * is literal (Batch refuses it)
        ("Essential container in task exited", EXITED_REASON, True),
    ],
)
def test_glob_match(pattern, value, expected):
    assert glob_match(pattern, value) is expected


@pytest.mark.parametrize(
    ("rule", "exit_code", "status_reason", "reason", "expected"),
    [
        ({"onExitCode": "75", "action": "RETRY"}, 75, EXITED_REASON, None, True),
        ({"onExitCode": "75", "action": "RETRY"}, 2, EXITED_REASON, None, False),
        ({"onExitCode": "*", "action": "RETRY"}, None, SPOT_RECLAIM_REASON, None, False),  # no exit code
        ({"onExitCode": "1*", "action": "RETRY"}, 137, EXITED_REASON, None, True),
        # every set field must match
        ({"onExitCode": "75", "onStatusReason": "Host*", "action": "RETRY"}, 75, EXITED_REASON, None, False),
        ({"onExitCode": "75", "onStatusReason": "Ess*", "action": "RETRY"}, 75, EXITED_REASON, None, True),
        ({"onReason": "OutOfMemory*", "action": "EXIT"}, 137, EXITED_REASON, "OutOfMemoryError: x", True),
        ({"onReason": "OutOfMemory*", "action": "EXIT"}, 137, EXITED_REASON, None, False),
        ({"onReason": "*", "action": "EXIT"}, 1, EXITED_REASON, None, True),
        ({"action": "EXIT"}, 1, EXITED_REASON, None, False),  # no condition: never matches
    ],
)
def test_rule_matches(rule, exit_code, status_reason, reason, expected):
    assert rule_matches(rule, exit_code, status_reason, reason) is expected


@pytest.mark.parametrize(
    ("strategy", "attempt", "exit_code", "status_reason", "reason", "timed_out", "action", "rule"),
    [
        # exit 0 succeeds, whatever the rules say
        (LMPSPOT, 1, 0, EXITED_REASON, None, False, "SUCCEEDED", None),
        ({"attempts": 1, "evaluateOnExit": [{"onExitCode": "0", "action": "EXIT"}]}, 1, 0, "", None, False,
         "SUCCEEDED", None),
        # lmpspot's rules: reclaim and exit 75 retry by rule, 2/3/OOM end the job, the
        # rest matches nothing and is retried
        (LMPSPOT, 1, None, SPOT_RECLAIM_REASON, None, False, "RETRY", 0),
        (LMPSPOT, 1, 75, EXITED_REASON, None, False, "RETRY", 1),
        (LMPSPOT, 1, 2, EXITED_REASON, None, False, "FAILED", 2),
        (LMPSPOT, 1, 3, EXITED_REASON, None, False, "FAILED", 3),
        (LMPSPOT, 1, 137, EXITED_REASON, OOM, False, "FAILED", 4),
        (LMPSPOT, 1, 1, EXITED_REASON, None, False, "RETRY", None),
        (LMPSPOT, 1, 76, EXITED_REASON, None, False, "RETRY", None),
        (LMPSPOT, 4, 75, EXITED_REASON, None, False, "RETRY", 1),
        (LMPSPOT, 5, 75, EXITED_REASON, None, False, "FAILED", 1),  # attempts exhausted
        (LMPSPOT, 5, None, SPOT_RECLAIM_REASON, None, False, "FAILED", 0),
        # first match wins, even when a later rule would say otherwise
        ({"attempts": 3, "evaluateOnExit": [{"onStatusReason": "*", "action": "EXIT"},
                                            {"onExitCode": "75", "action": "RETRY"}]},
         1, 75, EXITED_REASON, None, False, "FAILED", 0),
        # no rule matches: Batch RETRIES (the trap the catch-all EXIT avoids)
        ({"attempts": 3, "evaluateOnExit": [{"onExitCode": "75", "action": "RETRY"}]},
         1, 2, EXITED_REASON, None, False, "RETRY", None),
        ({"attempts": 3, "evaluateOnExit": [{"onExitCode": "75", "action": "RETRY"}]},
         3, 2, EXITED_REASON, None, False, "FAILED", None),
        # no strategy: one attempt
        ({}, 1, 75, EXITED_REASON, None, False, "FAILED", None),
        (None, 1, 1, EXITED_REASON, None, False, "FAILED", None),
        ({"attempts": 2}, 1, 1, EXITED_REASON, None, False, "RETRY", None),
        # actions are case-insensitive
        ({"attempts": 2, "evaluateOnExit": [{"onExitCode": "7*", "action": "retry"}]}, 1, 75, "", None, False,
         "RETRY", 0),
        ({"attempts": 2, "evaluateOnExit": [{"onExitCode": "2", "action": "exit"}]}, 1, 2, "", None, False,
         "FAILED", 0),
        # patterns are not: a lower-case reason pattern misses "Host EC2 ..." -> no match -> retry
        ({"attempts": 2, "evaluateOnExit": [{"onStatusReason": "host ec2*", "action": "EXIT"}]},
         1, None, SPOT_RECLAIM_REASON, None, False, "RETRY", None),
        # onReason (the container's reason, e.g. OOM)
        ({"attempts": 3, "evaluateOnExit": [{"onReason": "OutOfMemoryError*", "action": "EXIT"}]},
         1, 137, EXITED_REASON, "OutOfMemoryError: Container killed due to memory usage", False, "FAILED", 0),
        # a timeout is never retried, whatever the exit code and rules
        (LMPSPOT, 1, 75, TIMEOUT_REASON, None, True, "FAILED", None),
        (LMPSPOT, 1, 0, TIMEOUT_REASON, None, True, "FAILED", None),
    ],
)  # fmt: skip
def test_decide(strategy, attempt, exit_code, status_reason, reason, timed_out, action, rule):
    d = decide(strategy, attempt, exit_code, status_reason, reason, timed_out=timed_out)
    assert (d.action, d.rule) == (action, rule), d.why


def test_substitute_whole_arguments_only():
    cmd = ["run", "Ref::input", "--job-id", "Ref::sim_id", "x-Ref::input", "Ref::missing"]
    assert substitute(cmd, {"input": "/work/input/in.lj", "sim_id": "lj-1"}) == [
        "run",
        "/work/input/in.lj",
        "--job-id",
        "lj-1",
        "x-Ref::input",
        "Ref::missing",
    ]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("127.0.0.1:5050/lmpspot-local-lammps:cpu-0123", True),
        ("localhost:5000/x:y", True),
        ("[::1]:5000/x:y", True),
        ("123456789012.dkr.ecr.us-east-2.amazonaws.com/x:y", False),
        ("localhost/lmpspot-base:bookworm", True),
        ("127.example.com:5000/x:y", False),  # a name, not a loopback address
        ("127.0.0.1.nip.invalid:5000/x:y", False),
        ("[::ffff:127.0.0.1]:5000/x:y", False),  # ipaddress: a mapped address, not loopback
        ("127.1.2.3:5000/x:y", True),
        ("docker.io/library/debian:12", False),
        ("debian:12", False),
    ],
)
def test_loopback_registry(image, expected):
    assert is_loopback_registry(image) is expected


JOB_DEFINITION = {
    "jobDefinitionArn": "arn:aws:batch:us-east-2:123456789012:job-definition/jd:3",
    "parameters": {"input": "default.in", "extra": "d"},
    "containerProperties": {
        "image": "127.0.0.1:5050/repo:cpu-1",
        "command": ["run", "Ref::input", "--job-id", "Ref::sim_id", "Ref::extra"],
        "environment": [{"name": "LMPSPOT_BUCKET", "value": "bk"}, {"name": "OMP_NUM_THREADS", "value": "4"}],
        "resourceRequirements": [
            {"type": "VCPU", "value": "4"},
            {"type": "MEMORY", "value": "15360"},
            {"type": "GPU", "value": "1"},
        ],
        "linuxParameters": {"sharedMemorySize": 4096, "initProcessEnabled": True},
    },
    "retryStrategy": LMPSPOT,
    "timeout": {"attemptDurationSeconds": 172800},
}


def test_job_spec_merges_job_over_definition():
    job = {
        "jobId": "abc",
        "jobName": "lmpspot-lj-1",
        "jobQueue": "arn:aws:batch:us-east-2:123456789012:job-queue/lmpspot-local-spot",
        "jobDefinition": JOB_DEFINITION["jobDefinitionArn"],
        "parameters": {"input": "/work/input/in.lj", "sim_id": "lj-1"},
        "container": {
            "environment": [
                {"name": "OMP_NUM_THREADS", "value": "2"},
                {"name": "AWS_BATCH_JOB_ID", "value": "spoofed"},
            ]
        },
        "timeout": {"attemptDurationSeconds": 90},
    }
    spec = job_spec(job, JOB_DEFINITION)
    assert spec.command == ["run", "/work/input/in.lj", "--job-id", "lj-1", "d"]
    assert spec.environment == {"LMPSPOT_BUCKET": "bk", "OMP_NUM_THREADS": "2"}
    assert (spec.vcpus, spec.memory_mib, spec.gpus, spec.shm_mib) == (4.0, 15360, 1, 4096)
    assert spec.init_process is True
    assert spec.timeout_s == 90.0
    assert spec.queue == "lmpspot-local-spot"
    assert spec.retry_strategy == LMPSPOT

    args = podman_run_args(spec, name="c1", attempt=2, env_file="/tmp/c1.env", gpu_devices=False)
    assert args[args.index("--env-file") + 1] == "/tmp/c1.env"
    assert "-e" not in args  # no variable on the command line
    assert args[:5] == ["run", "--name", "c1", "--network", "host"]
    cpus = f"{min(4.0, float(os.cpu_count() or 1)):g}"  # capped to this machine's CPUs
    for flag, value in (("--cpus", cpus), ("--memory", "15360m"), ("--shm-size", "4096m")):
        assert args[args.index(flag) + 1] == value
    assert "--tls-verify=false" in args
    assert "--device" not in args  # no NVIDIA device here: CPU
    envs = container_environment(spec, attempt=2, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert {
        "AWS_BATCH_JOB_ID": "abc",
        "AWS_BATCH_JOB_ATTEMPT": "2",
        "AWS_BATCH_JQ_NAME": "lmpspot-local-spot",
    }.items() <= envs.items()
    assert args[-6:] == ["127.0.0.1:5050/repo:cpu-1", "run", "/work/input/in.lj", "--job-id", "lj-1", "d"]
    assert "--init" in args  # initProcessEnabled
    gpu = podman_run_args(spec, name="c1", attempt=1, env_file="/tmp/e", gpu_devices=True, init=False)
    assert gpu[gpu.index("--device") + 1] == "nvidia.com/gpu=all"
    assert "--init" not in gpu  # podman's init (catatonit) missing: warned, run without
    ca = podman_run_args(
        spec, name="c1", attempt=1, env_file="/tmp/e", gpu_devices=False, ca_bundle="/tmp/ca.pem"
    )
    assert ca[ca.index("-v") + 1] == "/tmp/ca.pem:/etc/lmpspot/aws-ca-bundle.pem:ro"
    ca_env = container_environment(spec, attempt=1, env={}, ca_bundle="/tmp/ca.pem")
    assert ca_env["AWS_CA_BUNDLE"] == "/etc/lmpspot/aws-ca-bundle.pem"
