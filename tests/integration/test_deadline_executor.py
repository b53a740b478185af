"""The deadline policy replayed through the local executor: real podman, the real cpu
image, real LAMMPS, the moto S3/Batch/EventBridge/Step Functions, and a Spot capacity
trace in compressed time (seconds instead of hours).

The trace interrupts the first Spot attempt and then leaves Spot without capacity for
longer than the deadline allows: "spot only" would miss it. What must happen, each part
by the product's own code: the runner checkpoints on the notice (exit 75, retried on
Spot); the retry waits for capacity past the queue's limit and is cancelled, the
fallback rule's state machine resubmits it On-Demand; the runner there follows the
deadline policy (back to Spot when far enough ahead: exit 23, the move rule resubmits it
to Spot) -- and the simulation finishes before its deadline, equal to a plain ``lmp
-in`` of the same input. Its cost is printed beside what the policy simulator gives
"spot only" and "on-demand only" on the same trace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from image_fixture import cpu_image  # noqa: F401 (a fixture)
from lmp_helpers import (
    EVALUATE_ON_EXIT,
    job_environment,
    lj_fcc,
    steps_for,
    thermo_text_rows,
    unmanaged_queue,
)

from lmpspot import spotsim, spottrace
from lmpspot_local.executor import Podman, run_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "lmpspot-test-deadline"
SPOT_Q, OD_Q = "lmpspot-test-dl-spot", "lmpspot-test-dl-ondemand"
WORK_S = 30.0  # compute the job needs at this machine's measured speed
DEADLINE_S = 300.0
CAPACITY_WAIT_S = 6.0  # the Spot queue's capacity fallback, compressed
TRACE = spottrace.from_json({"seed": None, "spot_interruptions_s": [14.0], "spot_outages_s": [[14.0, 400.0]]})

LJ = f"""\
units           lj
atom_style      atomic
{lj_fcc(6, "1.5")}\
neighbor        0.3 bin
fix             1 all nve
thermo_style    custom step pe ke etotal press
thermo_modify   format float %.15g
thermo          1000
run             {{steps}}
"""

WRAPPER = (
    'python -m lmpspot.inputs "s3://$LMPSPOT_BUCKET/$LMPSPOT_INPUTS_PREFIX$0/" /work/input'
    ' && exec lmpspot run "$1" --job-id "$0" --workdir /work/run --bucket "$LMPSPOT_BUCKET"'
    ' --prefix "$LMPSPOT_CHECKPOINT_PREFIX" --interval 3 --allow-short-interval --imds off'
    ' --notice-grace 2 --deadline "$2"'
)


def submit_definition(account_arn: str) -> dict:
    """The compute layer's state machine (roles/compute/vars/main.yml), for these queues."""
    qa = f"{account_arn}:job-queue/"
    submit = {
        "Type": "Task",
        "Resource": "arn:aws:states:::batch:submitJob",
        "End": True,
        "Parameters": {
            "JobName.$": "$.detail.jobName",
            "JobQueue.$": "$.lmpspot_queue",
            "JobDefinition.$": "$.detail.jobDefinition",
            "Parameters.$": "$.detail.parameters",
        },
    }
    return {
        "StartAt": "Target",
        "States": {
            "Target": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.detail.container.exitCode", "IsPresent": True},
                            {"Variable": "$.detail.container.exitCode", "NumericEquals": 23},
                        ],
                        "Next": "ToSpot",
                    }
                ],
                "Default": "ToOnDemand",
            },
            "ToSpot": {
                "Type": "Pass",
                "Result": qa + SPOT_Q,
                "ResultPath": "$.lmpspot_queue",
                "Next": "Submit",
            },
            "ToOnDemand": {
                "Type": "Pass",
                "Result": qa + OD_Q,
                "ResultPath": "$.lmpspot_queue",
                "Next": "Submit",
            },
            "Submit": submit,
        },
    }


def setup_aws(aws, image: str) -> str:
    batch, events, sfn, iam = (aws.client(s) for s in ("batch", "events", "stepfunctions", "iam"))
    unmanaged_queue(aws, SPOT_Q, ce_name="lmpspot-test-dl-spot", role_name="lmpspot-test-dl-1")
    unmanaged_queue(aws, OD_Q, ce_name="lmpspot-test-dl-od", role_name="lmpspot-test-dl-2")
    aws.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"}
    )
    env = job_environment(BUCKET) + [
        {"name": "LMPSPOT_SPOT_QUEUE", "value": SPOT_Q},
        {"name": "LMPSPOT_ONDEMAND_QUEUE", "value": OD_Q},
        {"name": "LMPSPOT_CAPACITY_WAIT_S", "value": str(CAPACITY_WAIT_S)},
        {"name": "LMPSPOT_CHANGEOVER_S", "value": "4"},
    ]
    jobdef = batch.register_job_definition(
        jobDefinitionName="lmpspot-test-dl",
        type="container",
        parameters={"deadline": "none"},
        containerProperties={
            "image": image,
            "command": ["sh", "-c", WRAPPER, "Ref::sim_id", "Ref::input", "Ref::deadline"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "environment": env,
        },
        retryStrategy={"attempts": 10, "evaluateOnExit": EVALUATE_ON_EXIT},
    )["jobDefinitionArn"]
    account_arn = jobdef.split(":job-definition/")[0]
    role = iam.create_role(RoleName="lmpspot-test-dl-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(
        name="lmpspot-test-dl", definition=json.dumps(submit_definition(account_arn)), roleArn=role
    )["stateMachineArn"]
    for name, detail in (
        (
            "fallback",
            {"jobQueue": [f"{account_arn}:job-queue/{SPOT_Q}"], "statusReason": [{"prefix": "Canceled"}]},
        ),
        ("move", {"container": {"exitCode": [22, 23]}}),
    ):
        pattern = {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"], "detail": {**detail}}
        pattern["detail"]["status"] = ["FAILED"]
        events.put_rule(Name=f"lmpspot-test-dl-{name}", EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(
            Rule=f"lmpspot-test-dl-{name}", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role}]
        )
    return jobdef


def test_deadline_policy_through_the_executor(aws, cpu_image, tmp_path):  # noqa: F811
    wrapped = cpu_image.derive("wrap-" + cpu_image.ref.rsplit(":", 1)[1], "ENTRYPOINT []\nCMD []\n")
    batch, s3 = aws.client("batch"), aws.client("s3")
    jobdef = setup_aws(aws, wrapped)
    sim_id = "lj-deadline"
    steps = steps_for(LJ, WORK_S, tmp_path, 6000)
    script = LJ.format(steps=steps)
    s3.put_object(
        Bucket=BUCKET, Key=f"inputs/{sim_id}/in.lj", Body=script.encode(), ChecksumAlgorithm="SHA256"
    )
    (tmp_path / "in.lj").write_text(script)
    plain_run = subprocess.Popen(
        [shutil.which("lmp") or "lmp", "-in", "in.lj", "-log", "plain.log", "-screen", "none"], cwd=tmp_path
    )
    t0 = time.time()
    deadline = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + DEADLINE_S))
    job_id = batch.submit_job(
        jobName=f"lmpspot-{sim_id}",
        jobQueue=SPOT_Q,
        jobDefinition=jobdef,
        parameters={"sim_id": sim_id, "input": "/work/input/in.lj", "deadline": deadline},
    )["jobId"]
    logs: list[str] = []
    results = run_job(
        batch,
        job_id,
        s3_client=s3,
        podman=Podman(containers_conf=cpu_image.containers_conf),
        log=logs.append,
        notice_lead_s=20,
        events_client=aws.client("events"),
        sfn_client=aws.client("stepfunctions"),
        trace=TRACE,
        capacity_wait_limit_s=CAPACITY_WAIT_S,
    )
    finished = time.time()
    outputs = {(r.job_id, a.attempt): "\n".join(a.output) for r in results for a in r.attempts}
    assert results[-1].status == "SUCCEEDED", (logs, outputs)
    assert finished - t0 < DEADLINE_S, (finished - t0, logs)
    queues = [batch.describe_jobs(jobs=[r.job_id])["jobs"][0]["jobQueue"].rsplit("/", 1)[-1] for r in results]
    # the notice: the first attempt on Spot checkpointed (SIGTERM) and was retried
    first = results[0].attempts[0]
    assert (queues[0], first.exit_code) == (SPOT_Q, 75), outputs
    assert any(r.cancelled for r in results), logs  # the outage outlasted the capacity limit
    assert OD_Q in queues, queues  # ... and the fallback ran it On-Demand
    codes = [a.exit_code for r in results for a in r.attempts]
    assert 23 in codes, (codes, logs)  # the policy took it back to Spot when far enough ahead
    # exact: the log kept in S3 equals the plain run's
    assert plain_run.wait(timeout=600) == 0
    plain = thermo_text_rows((tmp_path / "plain.log").read_text())
    got = thermo_text_rows(
        s3.get_object(Bucket=BUCKET, Key=f"results/{sim_id}/log.lammps")["Body"].read().decode()
    )
    assert plain[steps] == got[steps]
    assert all(plain[s] == got[s] for s in set(plain) & set(got))

    # the cost, side by side with the simulator's other policies on the same trace
    spot_s = sum(
        a.duration_s for r, q in zip(results, queues, strict=True) for a in r.attempts if q == SPOT_Q
    )
    od_s = sum(a.duration_s for r, q in zip(results, queues, strict=True) for a in r.attempts if q == OD_Q)
    cfg = spotsim.Config(
        work_s=WORK_S,
        deadline_s=DEADLINE_S,
        checkpoint_interval_s=3,
        restart_s=5,
        capacity_fallback_s=CAPACITY_WAIT_S,
        default_changeover_s=4,
    )
    sims = {p: spotsim.simulate(cfg, TRACE, p) for p in ("spot-only", "on-demand-only", "deadline")}
    ran = (spot_s * cfg.spot_price + od_s * cfg.on_demand_price) / 3600
    print(f"deadline policy (executor): finished {finished - t0:.0f}s of {DEADLINE_S:.0f}, cost {ran:.5f}")
    for p, r in sims.items():
        print(f"{p} (simulator): finish {r.finish_s:.0f}s met={r.met} cost {r.cost:.5f}")
    assert sims["on-demand-only"].met and sims["deadline"].met
    assert not sims["spot-only"].met  # waiting out the outage on Spot misses the deadline
    assert ran < sims["on-demand-only"].cost * 3  # restarts dominate compressed time; report, bound loosely
