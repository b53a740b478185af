"""The compute layer (playbooks/compute.yml, roles/compute) against a real local AWS.

One module-scoped chain: network + identity + storage (prerequisites) -> compute in
--check (changed, nothing created) -> apply -> apply again (changed=0) -> --check
(changed=0); then the state is read back through boto3; a one-field change makes exactly
one job-definition revision; the absent path leaves nothing behind.

The Spot -> On-Demand fallback rule is checked twice: as stored (pattern, Batch target,
input transformer, role), and by behaviour: its stored pattern and transformer are put
on a scratch event bus with an SQS target, realistic "Batch Job State Change" events are
sent, and what arrives is what the On-Demand job would be submitted with. (moto 5.2's
TestEventPattern answers with an empty body, and its rule engine cannot deliver to a
Batch target, hence the SQS stand-in that runs moto's real matcher and transformer.)
"""

from __future__ import annotations

import base64
import contextlib
import email
import json
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import run_playbook
from lmp_helpers import EVALUATE_ON_EXIT, OUTCOMES

from lmpspot.cli import build_parser
from lmpspot_local.executor import LocalExecutor, decide
from lmpspot_local.fallback import capacity_fallback, job_failed, run_definition

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

COMPUTE = "playbooks/compute.yml"
# Interface endpoints change nothing here and cost minutes of a loaded machine.
EV = {"network_interface_endpoints_enabled": False}
P = "lmpspot-local"
SPOT_CE, OD_CE = f"{P}-gpu-spot", f"{P}-gpu-ondemand"
SPOT_Q, OD_Q = f"{P}-spot", f"{P}-ondemand"
JOBDEF = f"{P}-lammps-gpu"
RULE = f"{JOBDEF}-fallback"
LT = f"{P}-gpu"
EVENTS_ROLE = f"{P}-batch-fallback"
SFN_ROLE = f"{P}-batch-fallback-sfn"
SFN_ARN = f"arn:aws:states:us-east-2:123456789012:stateMachine:{P}-ondemand-fallback"
BUCKET = f"{P}-results"
CANCELLED = "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"


def inventory(aws) -> dict:
    """What exists of the compute layer, read through boto3."""
    batch, ec2, events, iam = (aws.client(s) for s in ("batch", "ec2", "events", "iam"))
    roles = [r["RoleName"] for r in iam.list_roles(PathPrefix="/lmpspot/")["Roles"]]
    return {
        "compute_environments": sorted(
            e["computeEnvironmentName"] for e in batch.describe_compute_environments()["computeEnvironments"]
        ),
        "job_queues": sorted(q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]),
        "job_definitions": sorted(
            f"{d['jobDefinitionName']}:{d['revision']}"
            for d in batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
        ),
        "launch_templates": sorted(
            t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ),
        "rules": sorted(r["Name"] for r in events.list_rules()["Rules"]),
        "events_role": [r for r in roles if r == EVENTS_ROLE],
    }


EMPTY = {
    "compute_environments": [],
    "job_queues": [],
    "job_definitions": [],
    "launch_templates": [],
    "rules": [],
    "events_role": [],
}


@pytest.fixture(scope="module")
def layer(moto_server):
    aws = moto_server
    aws.reset()
    for pb in ("playbooks/network.yml", "playbooks/identity.yml", "playbooks/storage.yml"):
        res = run_playbook(pb, aws, extra_vars=EV)
        assert res.rc == 0, res
    runs = {"check": run_playbook(COMPUTE, aws, "--check", extra_vars=EV)}
    after_check = inventory(aws)
    runs["apply"] = run_playbook(COMPUTE, aws, extra_vars=EV)
    runs["again"] = run_playbook(COMPUTE, aws, extra_vars=EV)
    runs["recheck"] = run_playbook(COMPUTE, aws, "--check", extra_vars=EV)
    return SimpleNamespace(aws=aws, runs=runs, after_check=after_check)


def test_check_apply_idempotent(layer):
    r = layer.runs
    assert r["check"].rc == 0, r["check"]
    assert r["check"].changed > 0, r["check"]
    assert layer.after_check == EMPTY
    assert r["apply"].rc == 0, r["apply"]
    assert r["apply"].changed > 0, r["apply"]
    assert r["again"].rc == 0, r["again"]
    assert r["again"].changed == 0, r["again"]
    assert r["recheck"].rc == 0, r["recheck"]
    assert r["recheck"].changed == 0, r["recheck"]
    # moto does not store jobStateTimeLimitActions: the queue module says so, not "changed".
    assert "does not store that field" in r["again"].stdout + r["again"].stderr


def test_launch_template(layer):
    ec2 = layer.aws.client("ec2")
    data = ec2.describe_launch_template_versions(LaunchTemplateName=LT, Versions=["$Latest"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=LT)["LaunchTemplateVersions"]
    assert len(versions) == 1  # idempotent: no version per run
    md = data["MetadataOptions"]
    assert md["HttpTokens"] == "required"
    # Job containers cannot reach IMDS; the host handler in the user data SIGTERMs them on
    # a Spot notice (tests/integration/test_spot_notice_host.py runs that handler).
    assert md["HttpPutResponseHopLimit"] == 1
    mime = email.message_from_bytes(base64.b64decode(data["UserData"]))
    assert mime.is_multipart()  # AWS Batch merges its own part into MIME multi-part user data
    (part,) = mime.get_payload()
    assert part.get_content_type() == "text/x-shellscript"
    script = part.get_payload()
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in script
    assert "ECS_CONTAINER_STOP_TIMEOUT=110s" in script
    assert "-d 169.254.169.254/32 -m owner ! --uid-owner 0 -j DROP" in script
    handler = (REPO / "roles/compute/files/lmpspot-spot-notice.sh").read_text()
    assert handler.strip() in script
    assert md["HttpEndpoint"] == "enabled"
    (bdm,) = data["BlockDeviceMappings"]
    assert bdm["DeviceName"] == "/dev/xvda"
    assert bdm["Ebs"]["VolumeType"] == "gp3"
    assert bdm["Ebs"]["Encrypted"] is True
    assert bdm["Ebs"]["VolumeSize"] == 200
    specs = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in data["TagSpecifications"]}
    assert set(specs) == {"instance", "volume"}
    assert all(s["Project"] == "lmpspot" and s["Environment"] == "local" for s in specs.values())
    lt_id = ec2.describe_launch_templates(LaunchTemplateNames=[LT])["LaunchTemplates"][0]["LaunchTemplateId"]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lt_id]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["ManagedBy"] == "lmpspot"


def test_compute_environments(layer):
    aws = layer.aws
    ec2 = aws.client("ec2")
    private = sorted(
        s["SubnetId"]
        for s in ec2.describe_subnets(
            Filters=[
                {"Name": "tag:Tier", "Values": ["private"]},
                {"Name": "tag:Project", "Values": ["lmpspot"]},
            ]
        )["Subnets"]
    )
    assert len(private) == 2
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{P}-compute"]}])[
        "SecurityGroups"
    ][0]["GroupId"]
    envs = {
        e["computeEnvironmentName"]: e
        for e in aws.client("batch").describe_compute_environments()["computeEnvironments"]
    }
    assert set(envs) == {SPOT_CE, OD_CE}
    expect = {
        SPOT_CE: ("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED", 384),
        OD_CE: ("EC2", "BEST_FIT_PROGRESSIVE", 192),
    }
    for name, (cr_type, strategy, max_vcpus) in expect.items():
        env = envs[name]
        cr = env["computeResources"]
        assert env["state"] == "ENABLED"
        assert (cr["type"], cr["allocationStrategy"], cr["maxvCpus"], cr["minvCpus"]) == (
            cr_type,
            strategy,
            max_vcpus,
            0,
        )
        assert sorted(cr["instanceTypes"]) == ["p4d.24xlarge"]  # one A100 per job, 8 jobs per instance
        assert sorted(cr["subnets"]) == private
        assert cr["securityGroupIds"] == [sg]
        assert cr["instanceRole"].endswith(":instance-profile/lmpspot/lmpspot-local-ecs-instance")
        assert cr["ec2Configuration"] == [{"imageType": "ECS_AL2_NVIDIA"}]
        assert cr["launchTemplate"] == {"launchTemplateName": LT, "version": "$Latest"}
        assert cr["tags"]["Name"] == name
    assert envs[SPOT_CE]["computeResources"]["bidPercentage"] == 100


def test_job_queues(layer):
    batch = layer.aws.client("batch")
    queues = {q["jobQueueName"]: q for q in batch.describe_job_queues()["jobQueues"]}
    envs = {
        e["computeEnvironmentName"]: e["computeEnvironmentArn"]
        for e in batch.describe_compute_environments()["computeEnvironments"]
    }

    def order(q):
        return [
            o["computeEnvironment"] for o in sorted(q["computeEnvironmentOrder"], key=lambda o: o["order"])
        ]

    assert set(queues) == {SPOT_Q, OD_Q}
    # Spot only: with the On-Demand environment behind it, Batch would never report the
    # queue starved of capacity, and the fallback would never fire (docs/COMPUTE.md).
    assert order(queues[SPOT_Q]) == [envs[SPOT_CE]]
    assert order(queues[OD_Q]) == [envs[OD_CE]]
    # Resubmitted (already delayed) jobs go first on the On-Demand environment.
    assert queues[OD_Q]["priority"] > queues[SPOT_Q]["priority"]
    assert all(q["state"] == "ENABLED" for q in queues.values())


def latest_jobdef(batch) -> dict:
    defs = batch.describe_job_definitions(jobDefinitionName=JOBDEF, status="ACTIVE")["jobDefinitions"]
    return max(defs, key=lambda d: d["revision"])


def test_job_definition(layer):
    aws = layer.aws
    jd = latest_jobdef(aws.client("batch"))
    c = jd["containerProperties"]
    req = {r["type"]: r["value"] for r in c["resourceRequirements"]}
    assert req["GPU"] == "1"
    p4d = aws.client("ec2").describe_instance_types(InstanceTypes=["p4d.24xlarge"])["InstanceTypes"][0]
    usable_mib = int(p4d["MemoryInfo"]["SizeInMiB"] * 0.95) - 32
    # One eighth of the p4d.24xlarge each: 8 one-GPU jobs share an instance.
    assert float(req["VCPU"]) == p4d["VCpuInfo"]["DefaultVCpus"] // 8 == 12
    assert int(req["MEMORY"]) == usable_mib // 8
    assert jd["retryStrategy"]["attempts"] == 5
    # First match wins; no match means RETRY (exit 76, 1, task-start failures, crashes).
    rules = [{**r, "action": r["action"].upper()} for r in jd["retryStrategy"]["evaluateOnExit"]]
    assert rules == EVALUATE_ON_EXIT
    # The registered strategy, applied the way Batch applies it (the local executor's
    # decide): what retries and what ends the job.
    for what, exit_code, status_reason, reason, action in OUTCOMES:
        assert decide(jd["retryStrategy"], 1, exit_code, status_reason, reason).action == action, what
    assert jd["timeout"] == {"attemptDurationSeconds": 172800}
    assert jd["propagateTags"] is True
    assert c["jobRoleArn"].endswith(":role/lmpspot/lmpspot-local-job")
    assert c["linuxParameters"]["sharedMemorySize"] == 4096
    assert c["linuxParameters"]["initProcessEnabled"] is True
    env = {e["name"]: e["value"] for e in c["environment"]}
    assert env == {
        "AWS_DEFAULT_REGION": "us-east-2",
        "LMPSPOT_BUCKET": "lmpspot-local-results",
        "LMPSPOT_CHECKPOINT_PREFIX": "checkpoints/",
        "LMPSPOT_RESULTS_PREFIX": "results/",
        "LMPSPOT_INPUTS_PREFIX": "inputs/",
        "LMPSPOT_CHECKPOINT_INTERVAL": "600",
        "LMPSPOT_CHECKPOINT_RETENTION": "3",
        "LMPSPOT_SPOT_QUEUE": SPOT_Q,
        "LMPSPOT_ONDEMAND_QUEUE": OD_Q,
        "LMPSPOT_CAPACITY_WAIT_S": "1800",
        "OMP_NUM_THREADS": "12",
    }
    # The content tag the image layer derives from this checkout (what image.yml pushes).
    assert re.fullmatch(r"127\.0\.0\.1:5050/lmpspot-local-lammps:cpu-[0-9a-f]{16}", c["image"]), c["image"]
    # The command is what the image's ENTRYPOINT (lmpspot) gets: the real CLI must accept
    # it once Batch has filled in the Ref:: parameters.
    assert jd["parameters"] == {"deadline": "none"}  # a job submitted without a deadline
    params = {"Ref::input": "/work/inputs/in.chain", "Ref::sim_id": "sim-42", "Ref::deadline": "none"}
    argv = [params.get(a, a) for a in c["command"]]
    assert "Ref::input" in c["command"] and "Ref::sim_id" in c["command"]
    args = build_parser().parse_args(argv)
    assert args.command == "run"
    assert str(args.input) == "/work/inputs/in.chain"
    assert args.job_id == "sim-42"
    assert (args.bucket, args.prefix, args.interval, args.retention) == (
        "lmpspot-local-results",
        "checkpoints/",
        600.0,
        3,
    )
    assert args.lammps_arg == []  # the local image is the cpu one: no KOKKOS switches
    # The job first fetches what submit uploaded to inputs/<sim_id>/.
    assert (args.fetch_inputs, args.inputs_prefix) == (True, "inputs/")
    assert args.deadline == "none"


def test_fallback_rule_as_stored(layer):
    aws = layer.aws
    events = aws.client("events")
    rule = events.describe_rule(Name=RULE)
    assert rule["State"] == "ENABLED"
    pattern = json.loads(rule["EventPattern"])
    spot_arn = f"arn:aws:batch:us-east-2:123456789012:job-queue/{SPOT_Q}"
    assert pattern == {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "jobQueue": [spot_arn],
            "jobDefinition": [{"prefix": f"arn:aws:batch:us-east-2:123456789012:job-definition/{JOBDEF}:"}],
            "status": ["FAILED"],
            "statusReason": [{"prefix": CANCELLED}],
        },
    }
    (target,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert target["Arn"] == SFN_ARN
    assert target["RoleArn"].endswith(f":role/lmpspot/{EVENTS_ROLE}")
    assert "InputTransformer" not in target and "BatchParameters" not in target  # the whole event
    iam = aws.client("iam")
    trust = iam.get_role(RoleName=EVENTS_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "events.amazonaws.com"}]
    assert iam.list_role_policies(RoleName=EVENTS_ROLE)["PolicyNames"] == ["start-fallback"]
    policy = iam.get_role_policy(RoleName=EVENTS_ROLE, PolicyName="start-fallback")["PolicyDocument"]
    (stmt,) = policy["Statement"]
    assert (stmt["Action"], stmt["Resource"]) == ("states:StartExecution", [SFN_ARN])
    # The state machine's role may submit to lmpspot's queues (the deadline policy moves
    # jobs both ways) and job definitions, and tag what it submits; nothing else.
    trust = iam.get_role(RoleName=SFN_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "states.amazonaws.com"}]
    submit, tag = iam.get_role_policy(RoleName=SFN_ROLE, PolicyName="submit-ondemand")["PolicyDocument"][
        "Statement"
    ]
    assert submit["Action"] == "batch:SubmitJob"
    assert f"arn:aws:batch:us-east-2:123456789012:job-queue/{OD_Q}" in submit["Resource"]
    assert spot_arn in submit["Resource"]
    assert f"arn:aws:batch:us-east-2:123456789012:job-definition/{JOBDEF}:*" in submit["Resource"]
    assert all(":job-queue/" in r or ":job-definition/" in r for r in submit["Resource"])
    assert (tag["Action"], tag["Resource"]) == (
        "batch:TagResource",
        ["arn:aws:batch:us-east-2:123456789012:job/*"],
    )
    machine = aws.client("stepfunctions").describe_state_machine(stateMachineArn=SFN_ARN)
    assert machine["roleArn"].endswith(f":role/lmpspot/{SFN_ROLE}")
    tasks = [s for s in json.loads(machine["definition"])["States"].values() if s["Type"] == "Task"]
    assert {t["Resource"] for t in tasks} == {"arn:aws:states:::batch:submitJob"}
    for t in tasks:
        assert t["Parameters"]["JobQueue.$"] == "$.lmpspot_queue"  # set by ToSpot / ToOnDemand
        assert t["Parameters"]["JobName.$"] == "$.detail.jobName"
        assert t["Parameters"]["JobDefinition.$"] == "$.detail.jobDefinition"  # ARN with revision


def batch_event(queue: str, status: str, reason: str, jobdef: str = JOBDEF, sim_id: str = "sim-42") -> dict:
    """A "Batch Job State Change" detail as AWS Batch sends it (trimmed of container details)."""
    acct = "arn:aws:batch:us-east-2:123456789012"
    return {
        "jobArn": f"{acct}:job/0f1e2d3c-{sim_id}",
        "jobName": sim_id,
        "jobId": f"0f1e2d3c-{sim_id}",
        "jobQueue": f"{acct}:job-queue/{queue}",
        "status": status,
        "statusReason": reason,
        "attempts": [],
        "createdAt": 1767225600000,
        "retryStrategy": {"attempts": 5},
        "dependsOn": [],
        "jobDefinition": f"{acct}:job-definition/{jobdef}:1",
        "parameters": {"input": f"/work/inputs/{sim_id}/in.chain", "sim_id": sim_id},
        "container": {"image": "lammps", "vcpus": 4, "command": ["run"], "environment": []},
        "tags": {"Project": "lmpspot"},
        "propagateTags": True,
        "platformCapabilities": ["EC2"],
    }


def test_fallback_rule_matches_and_resubmits(layer):
    aws = layer.aws
    events, sqs = aws.client("events"), aws.client("sqs")
    rule = events.describe_rule(Name=RULE)
    (target,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    # The stored pattern, on a scratch bus, delivering (the whole event, as to the state
    # machine) to SQS.
    events.create_event_bus(Name="compute-test")
    queue_url = sqs.create_queue(QueueName="compute-test")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="copy", EventBusName="compute-test", EventPattern=rule["EventPattern"])
    events.put_targets(
        Rule="copy",
        EventBusName="compute-test",
        Targets=[{"Id": "q", "Arn": queue_arn}],
    )
    cases = [
        (batch_event(SPOT_Q, "FAILED", CANCELLED, sim_id="sim-42"), True),
        (batch_event(SPOT_Q, "FAILED", "Essential container in task exited", sim_id="sim-1"), False),
        (batch_event(SPOT_Q, "SUCCEEDED", "Essential container in task exited", sim_id="sim-2"), False),
        (
            batch_event(
                SPOT_Q, "RUNNABLE", "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot", sim_id="sim-3"
            ),
            False,
        ),
        (batch_event(OD_Q, "FAILED", CANCELLED, sim_id="sim-4"), False),  # no loop from On-Demand
        (batch_event(SPOT_Q, "FAILED", CANCELLED, jobdef=f"{P}-lammps-node", sim_id="sim-5"), False),
        (batch_event(SPOT_Q, "FAILED", CANCELLED, jobdef=f"{JOBDEF}-other", sim_id="sim-6"), False),
    ]
    try:
        res = events.put_events(
            Entries=[
                {
                    "EventBusName": "compute-test",
                    "Source": "aws.batch",
                    "DetailType": "Batch Job State Change",
                    "Detail": json.dumps(detail),
                    "Resources": [detail["jobArn"]],
                }
                for detail, _ in cases
            ]
        )
        assert res["FailedEntryCount"] == 0
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
    finally:
        events.remove_targets(Rule="copy", EventBusName="compute-test", Ids=["q"])
        events.delete_rule(Name="copy", EventBusName="compute-test")
        events.delete_event_bus(Name="compute-test")
        sqs.delete_queue(QueueUrl=queue_url)
    bodies = [json.loads(m["Body"]) for m in msgs]
    # Exactly the capacity-cancelled Spot job of this job definition.
    assert [b["detail"]["jobName"] for b in bodies] == ["sim-42"]
    # What the stored state machine submits for the event moto's matcher delivered: the
    # same name, job-definition revision, parameters and SimId, in the On-Demand queue.
    batch = aws.client("batch")
    machine = aws.client("stepfunctions").describe_state_machine(stateMachineArn=target["Arn"])
    (new,) = run_definition(json.loads(machine["definition"]), bodies[0], batch)
    (job,) = batch.describe_jobs(jobs=[new["jobId"]])["jobs"]
    assert job["jobName"] == "sim-42"
    assert job["jobQueue"].endswith(f":job-queue/{OD_Q}")
    assert job["jobDefinition"] == cases[0][0]["jobDefinition"]
    # the job definition's default (deadline "none") joins the submitted parameters, as on Batch
    assert job["parameters"] == {"deadline": "none", **cases[0][0]["parameters"]}
    assert job["tags"] == {
        "Project": "lmpspot",
        "Environment": "local",
        "ManagedBy": "lmpspot",
        "SimId": "sim-42",
    }
    # An array child (one sweep point) comes back as a plain job that knows its index.
    child = {
        **bodies[0],
        "detail": {**bodies[0]["detail"], "jobId": "0f1e2d3c:3", "arrayProperties": {"index": 3}},
    }
    (new_child,) = run_definition(json.loads(machine["definition"]), child, batch)
    (job,) = batch.describe_jobs(jobs=[new_child["jobId"]])["jobs"]
    want = {"deadline": "none", **cases[0][0]["parameters"]}
    assert (job["jobName"], job["parameters"]) == ("sim-42", want)
    assert {"name": "LMPSPOT_ARRAY_INDEX", "value": "3"} in job["container"]["environment"]
    # EventBridge's own TestEventPattern, where the endpoint implements it (moto 5.2 does not).
    matching = {
        "id": "1",
        "account": "123456789012",
        "source": "aws.batch",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-2",
        "resources": [],
        "detail-type": "Batch Job State Change",
        "detail": cases[0][0],
    }
    answer = events.test_event_pattern(EventPattern=rule["EventPattern"], Event=json.dumps(matching))
    if "Result" in answer:
        assert answer["Result"] is True


def test_capacity_fallback_keeps_identity(layer, playbook, tmp_path):
    """A job submitted by submit.yml to the Spot queue, cancelled for lack of capacity:
    the local executor plays Batch's event, the rule and the stored state machine; the
    On-Demand job is the same simulation; a resubmit then starts nothing new."""
    aws = layer.aws
    batch = aws.client("batch")
    # A script submit's parser accepts (it refuses a run before the system is defined).
    (tmp_path / "in.lj").write_text(
        "units lj\nlattice fcc 0.8442\nregion box block 0 2 0 2 0 2\ncreate_box 1 box\n"
        "create_atoms 1 box\nmass 1 1.0\npair_style lj/cut 2.5\npair_coeff 1 1 1.0 1.0 2.5\nrun 10\n"
    )
    ev = {
        **EV,
        "lmpspot_job_executor": "batch",  # the AWS path of submit.yml (no local executor)
        "submit_input": str(tmp_path / "in.lj"),
        "submit_sim_id": "lj-fallback",
    }
    res = playbook("playbooks/submit.yml", aws, extra_vars=ev)
    assert res.rc == 0, res
    (spot,) = [j for j in batch.list_jobs(jobQueue=SPOT_Q, jobStatus="SUCCEEDED")["jobSummaryList"]]
    (original,) = batch.describe_jobs(jobs=[spot["jobId"]])["jobs"]
    sfn = aws.client("stepfunctions")
    (new,) = capacity_fallback(batch, aws.client("events"), sfn, spot["jobId"])
    (job,) = batch.describe_jobs(jobs=[new["jobId"]])["jobs"]
    assert job["jobQueue"].endswith(f":job-queue/{OD_Q}")
    for key in ("jobName", "jobDefinition", "parameters", "tags"):
        assert job[key] == original[key], key
    assert job["jobDefinition"].endswith(":" + original["jobDefinition"].rsplit(":", 1)[1])  # the revision
    (execution,) = sfn.list_executions(stateMachineArn=SFN_ARN)["executions"]
    detail = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["detail"]
    assert (detail["jobId"], detail["status"], detail["statusReason"]) == (spot["jobId"], "FAILED", CANCELLED)

    def all_jobs():
        return sorted(
            j["jobId"]
            for q in (SPOT_Q, OD_Q)
            for st in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
            for j in batch.list_jobs(jobQueue=q, jobStatus=st)["jobSummaryList"]
        )

    before = all_jobs()
    # A real account: the simulation's newest job (the On-Demand one; moto calls it
    # SUCCEEDED at once) is found by sim id in the other queue: finished, nothing submitted.
    res = playbook("playbooks/submit.yml", aws, extra_vars={**ev, "submit_skip_finished": True})
    assert res.rc == 0, res
    assert f"job {new['jobId']} " in res.stdout and "already SUCCEEDED" in res.stdout, res
    assert all_jobs() == before
    # Local mode: the local executor has taken the fallback job and holds it RUNNABLE (its
    # night window is closed); a resubmit of the simulation starts nothing.
    ex = LocalExecutor(
        batch, aws.client("s3"), window=f"cycle 1 100000 {int(time.time()) - 10}", log=lambda _m: None
    )
    runner = threading.Thread(target=ex.run_job, args=(new["jobId"],), daemon=True)
    runner.start()
    try:
        s3, key = aws.client("s3"), "results/lj-fallback/attempts.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(s3.exceptions.NoSuchKey):
                if json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["job_id"] == new["jobId"]:
                    break
            time.sleep(0.5)
        res = playbook("playbooks/submit.yml", aws, extra_vars={**ev, "lmpspot_job_executor": "local"})
        assert res.rc == 0, res
        assert "lj-fallback is already active (RUNNABLE, job " + new["jobId"] in res.stdout, res
        assert all_jobs() == before
    finally:
        ex.stop_waiting()
        runner.join(30)


def test_deadline_moves_resubmit_to_the_named_queue(layer):
    """The deadline policy's exits (22: to On-Demand, 23: to Spot) reach the stored
    ``-move`` rule and the stored state machine, which resubmits the same job -- name,
    definition revision, parameters (the deadline among them), SimId -- to the queue the
    exit code names; any other failure is left alone."""
    aws = layer.aws
    batch, events, sfn = aws.client("batch"), aws.client("events"), aws.client("stepfunctions")
    rule = events.describe_rule(Name=f"{JOBDEF}-move")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["container"] == {"exitCode": [22, 23]}
    assert pattern["detail"]["status"] == ["FAILED"]
    ((target,),) = [events.list_targets_by_rule(Rule=f"{JOBDEF}-move")["Targets"]]
    assert target["Arn"] == SFN_ARN
    params = {"sim_id": "sim-dl", "input": "/work/input/in.lj", "deadline": "2026-12-24T18:00:00Z"}
    first = batch.submit_job(jobName="sim-dl", jobQueue=SPOT_Q, jobDefinition=JOBDEF, parameters=params)
    (to_od,) = job_failed(batch, events, sfn, first["jobId"], 22, "Essential container in task exited")
    (od,) = batch.describe_jobs(jobs=[to_od["jobId"]])["jobs"]
    assert od["jobQueue"].endswith(f":job-queue/{OD_Q}")
    assert (od["jobName"], od["parameters"], od["tags"]["SimId"]) == ("sim-dl", params, "sim-dl")
    (to_spot,) = job_failed(batch, events, sfn, od["jobId"], 23, "Essential container in task exited")
    (back,) = batch.describe_jobs(jobs=[to_spot["jobId"]])["jobs"]
    assert back["jobQueue"].endswith(f":job-queue/{SPOT_Q}")
    assert back["parameters"] == params and back["jobDefinition"] == od["jobDefinition"]
    # a crash, bad input: no rule submits anything
    assert job_failed(batch, events, sfn, back["jobId"], 1, "Essential container in task exited") == []
    assert job_failed(batch, events, sfn, back["jobId"], 2, "Essential container in task exited") == []


def test_one_change_one_revision_then_absent(layer):
    aws = layer.aws
    batch = aws.client("batch")
    before = latest_jobdef(batch)["revision"]
    changed = {**EV, "compute_shared_memory_mib": 8192}
    res = run_playbook(COMPUTE, aws, extra_vars=changed)
    assert res.rc == 0, res
    assert res.changed == 1, res
    revs = batch.describe_job_definitions(jobDefinitionName=JOBDEF, status="ACTIVE")["jobDefinitions"]
    assert sorted(d["revision"] for d in revs) == [before, before + 1]
    assert latest_jobdef(batch)["containerProperties"]["linuxParameters"]["sharedMemorySize"] == 8192
    res = run_playbook(COMPUTE, aws, extra_vars=changed)
    assert res.rc == 0, res
    assert res.changed == 0, res
    assert (
        len(batch.describe_job_definitions(jobDefinitionName=JOBDEF, status="ACTIVE")["jobDefinitions"]) == 2
    )

    absent = {**EV, "compute_state": "absent"}
    res = run_playbook(COMPUTE, aws, "--check", extra_vars=absent)
    assert res.rc == 0, res
    assert res.changed > 0, res
    assert inventory(aws)["job_queues"] == sorted([SPOT_Q, OD_Q])  # --check deleted nothing
    res = run_playbook(COMPUTE, aws, extra_vars=absent)
    assert res.rc == 0, res
    assert res.changed > 0, res
    assert inventory(aws) == EMPTY
    res = run_playbook(COMPUTE, aws, extra_vars=absent)
    assert res.rc == 0, res
    assert res.changed == 0, res
