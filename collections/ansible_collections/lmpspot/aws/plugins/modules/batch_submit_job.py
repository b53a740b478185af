#!/usr/bin/python
# Copyright: lmpspot developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: batch_submit_job
short_description: Submit an AWS Batch job once per name
description:
  - Submits a job to an AWS Batch job queue with a job definition, parameters (for
    C(Ref::name) placeholders), an optional array size, container environment overrides,
    an optional attempt timeout and tags.
  - Submitting is not idempotent by nature. This module makes it idempotent per job
    name. It first lists the queue's jobs in an active status (C(SUBMITTED), C(PENDING),
    C(RUNNABLE), C(STARTING), C(RUNNING)) and, when one has the same name, returns that
    job with C(changed=false) instead of submitting another. Finished jobs
    (C(SUCCEEDED), C(FAILED)) do not count, so running the task again after a job ended
    submits a new one - with the same parameters, which (with lmpspot's stable sim_id)
    resumes from the last checkpoint. O(resubmit=true) submits even when an active job
    exists.
  - O(skip_succeeded=true) also returns, without submitting, the newest job of that name
    when it C(SUCCEEDED) (and no job of the name is active), with RV(finished=true) - a
    finished simulation is not run again.
  - With O(sim_id), a job counts as the same simulation when its C(sim_id) parameter is
    O(sim_id), whatever its name, and the queues searched are O(job_queue) and
    O(job_queues) (lmpspot's Spot and On-Demand queues - the On-Demand fallback resubmits a
    starved Spot job there). Active jobs are described to read their parameters; finished
    ones are first narrowed by name (C(ListJobs) cannot filter by parameter).
  - The local AWS (moto, without Docker) marks every job C(SUCCEEDED) the moment it is
    submitted, so there a job is never found active and every run submits; the local
    executor (C(python -m lmpspot_local.executor)) is what runs the job there.
version_added: 0.1.0
author: lmpspot developers
options:
  name:
    description:
      - Job name (letters, digits, hyphens, underscores; up to 128; starts with a letter
        or digit). The idempotency key within O(job_queue).
    type: str
    required: true
  job_queue:
    description: Job queue name or ARN.
    type: str
    required: true
  sim_id:
    description:
      - The simulation id (the jobs' C(sim_id) parameter). When set, an active or finished
        job of the simulation is found by it in every queue searched, not by name alone.
    type: str
  job_queues:
    description:
      - More queues (names or ARNs) to search for the simulation's jobs, besides O(job_queue).
        Queues that do not exist are skipped.
    type: list
    elements: str
    default: []
  job_definition:
    description:
      - Job definition name (latest ACTIVE revision), C(name:revision) or ARN.
    type: str
    required: true
  parameters:
    description: Values for the job definition's C(Ref::name) placeholders (strings).
    type: dict
    default: {}
  array_size:
    description:
      - Number of child jobs of an array job (2-10000). Each child sees its index in
        C(AWS_BATCH_JOB_ARRAY_INDEX). 0 or 1 submits a plain job.
    type: int
    default: 0
  environment:
    description: Environment variables added to the container (container overrides).
    type: dict
    default: {}
  attempt_duration_seconds:
    description: Attempt timeout (>= 60) overriding the job definition's.
    type: int
  tags:
    description: Tags of the job.
    type: dict
    aliases: [resource_tags]
  propagate_tags:
    description: Copy the job's (and job definition's) tags to the ECS task.
    type: bool
  resubmit:
    description: Submit even when an active job with the same name is in the queue.
    type: bool
    default: false
  skip_succeeded:
    description:
      - Do not submit when the newest job of this name in the queue C(SUCCEEDED); return it.
      - Not meaningful against the local AWS (its jobs succeed at once without running); lmpspot's
        submit role asks the local executor's job record there instead.
    type: bool
    default: false
  wait:
    description:
      - Wait until the job is C(SUCCEEDED) or C(FAILED); fail when it failed. Meaningless
        against the local AWS (its jobs succeed at once without running).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait at most with O(wait=true).
    type: int
    default: 604800
  wait_delay:
    description: Seconds between status polls with O(wait=true).
    type: int
    default: 60
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(batch:ListJobs), C(batch:DescribeJobs) and C(batch:SubmitJob) (and
    C(batch:TagResource) when O(tags) is set).
  - Supports check mode (reports the job it would submit) and diff mode.
"""

EXAMPLES = r"""
- name: Submit a simulation (once; a rerun finds the active job)
  lmpspot.aws.batch_submit_job:
    name: lmpspot-polymer-3f2a9c1d
    job_queue: lmpspot-prod-spot
    job_definition: lmpspot-prod-lammps-gpu
    parameters:
      sim_id: polymer-3f2a9c1d
      input: /work/input/in.polymer

- name: A 16-point sweep (each child reads AWS_BATCH_JOB_ARRAY_INDEX)
  lmpspot.aws.batch_submit_job:
    name: lmpspot-sweep-temp
    job_queue: lmpspot-prod-spot
    job_definition: lmpspot-prod-lammps-gpu
    array_size: 16
    parameters:
      sim_id: sweep-temp
      input: /work/input/in.sweep
"""

RETURN = r"""
job_id:
  description: Id of the submitted (or found active) job; empty in check mode when it would submit.
  returned: always
  type: str
job_arn:
  description: ARN of that job.
  returned: when a job was submitted or found
  type: str
job_name:
  description: The job name.
  returned: always
  type: str
submitted:
  description: Whether this run submitted a job (false when an active one was found).
  returned: always
  type: bool
status:
  description: Status of the found job, or C(SUBMITTED) for a new one (the final status with O(wait=true)).
  returned: when a job was submitted or found
  type: str
finished:
  description: True when O(skip_succeeded=true) found a job of this name that already succeeded.
  returned: always
  type: bool
  sample: false
status_reason:
  description: The job's status reason, with O(wait=true).
  returned: when O(wait=true) and the job finished
  type: str
"""

import contextlib
import re
import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

with contextlib.suppress(ImportError):  # a missing botocore is reported by AnsibleAWSModule
    import botocore

ACTIVE_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
# AWS Batch allows an account about 50 API calls a second in a Region (SubmitJob,
# DescribeJobs and ListJobs together) and answers more with 429 TooManyRequestsException:
# every call here retries it (and the other throttling codes AWSRetry knows) up to 10
# times, waiting uniform(0, min(60, 2 * 2**n)) seconds before retry n.
BATCH_RETRY = AWSRetry.jittered_backoff(retries=10, delay=2, backoff=2.0, max_delay=60)
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def find_active(summaries, name):
    """The newest active job summary named ``name`` (array children excluded), or None."""
    found = [
        s
        for s in summaries
        if s.get("jobName") == name and s.get("status") in ACTIVE_STATUSES and ":" not in s.get("jobId", "")
    ]
    return max(found, key=lambda s: s.get("createdAt", 0)) if found else None


def find_succeeded(summaries, name):
    """The newest job summary named ``name`` if it SUCCEEDED (array children excluded), else None."""
    found = [s for s in summaries if s.get("jobName") == name and ":" not in s.get("jobId", "")]
    newest = max(found, key=lambda s: s.get("createdAt", 0)) if found else None
    return newest if newest is not None and newest.get("status") == "SUCCEEDED" else None


def of_sim(client, summaries, sim_id):
    """The summaries (array children excluded) whose job's ``sim_id`` parameter is ``sim_id``."""
    ids = [s["jobId"] for s in summaries if ":" not in s.get("jobId", "")]
    params = {}
    for i in range(0, len(ids), 100):  # DescribeJobs takes 100 ids at a time
        for job in client.describe_jobs(jobs=ids[i : i + 100], aws_retry=True).get("jobs", []):
            params[job["jobId"]] = job.get("parameters") or {}
    return [s for s in summaries if params.get(s.get("jobId"), {}).get("sim_id") == sim_id]


def existing_queues(client, queues):
    """The queues (names or ARNs) of ``queues`` that exist (a layer without an On-Demand
    queue, a queue deleted since: nothing of the simulation can be there)."""
    if not queues:
        return []
    found = client.describe_job_queues(jobQueues=list(queues), aws_retry=True).get("jobQueues", [])
    known = {q["jobQueueName"] for q in found} | {q["jobQueueArn"] for q in found}
    return [q for q in queues if q in known]


def find_sim_jobs(client, queues, name, sim_id, finished=True):
    """``(active, succeeded)``: the newest active job of the simulation in ``queues`` and
    the newest of its finished jobs if that one SUCCEEDED (by ``sim_id`` when given;
    finished jobs are looked at only when ``finished``)."""
    active_all, finished_all = [], []
    for queue in queues:
        active_all += list_active(client, queue)
        if finished:
            finished_all += list_active(client, queue, ("SUCCEEDED", "FAILED"))
    if sim_id:
        active = of_sim(client, active_all, sim_id)
        finished = of_sim(client, [s for s in finished_all if s.get("jobName") == name], sim_id)
        newest = max(active, key=lambda s: s.get("createdAt", 0)) if active else None
        done = max(finished, key=lambda s: s.get("createdAt", 0)) if finished else None
        return newest, (done if done is not None and done.get("status") == "SUCCEEDED" else None)
    return find_active(active_all, name), find_succeeded(finished_all, name)


def submit_request(params):
    """The SubmitJob keyword arguments for the module's parameters."""
    req = {
        "jobName": params["name"],
        "jobQueue": params["job_queue"],
        "jobDefinition": params["job_definition"],
    }
    if params["parameters"]:
        req["parameters"] = {str(k): str(v) for k, v in params["parameters"].items()}
    if (params["array_size"] or 0) > 1:
        req["arrayProperties"] = {"size": int(params["array_size"])}
    if params["environment"]:
        req["containerOverrides"] = {
            "environment": [
                {"name": str(k), "value": str(v)} for k, v in sorted(params["environment"].items())
            ]
        }
    if params.get("attempt_duration_seconds"):
        req["timeout"] = {"attemptDurationSeconds": int(params["attempt_duration_seconds"])}
    if params.get("tags"):
        req["tags"] = {str(k): str(v) for k, v in params["tags"].items()}
    if params.get("propagate_tags") is not None:
        req["propagateTags"] = bool(params["propagate_tags"])
    return req


def list_active(client, queue, statuses=ACTIVE_STATUSES):
    summaries = []
    for status in statuses:
        kwargs = {"jobQueue": queue, "jobStatus": status}
        while True:
            page = client.list_jobs(aws_retry=True, **kwargs)
            summaries.extend(page.get("jobSummaryList", []))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return summaries


def wait_for(module, client, job_id, result):
    """Poll DescribeJobs until the job is SUCCEEDED or FAILED (fail on FAILED or timeout)."""
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        jobs = client.describe_jobs(jobs=[job_id], aws_retry=True).get("jobs", [])
        status = jobs[0]["status"] if jobs else "UNKNOWN"
        result["status"] = status
        if status in ("SUCCEEDED", "FAILED"):
            result["status_reason"] = jobs[0].get("statusReason", "")
            if status == "FAILED":
                module.fail_json(msg=f"job {job_id} FAILED: {result['status_reason']}", **result)
            return
        if time.monotonic() > deadline:
            module.fail_json(
                msg=f"job {job_id} still {status} after {module.params['wait_timeout']} s", **result
            )
        time.sleep(module.params["wait_delay"])


def validate(module):
    p = module.params
    if not JOB_NAME.match(p["name"]):
        module.fail_json(
            msg=f"name {p['name']!r}: up to 128 letters, digits, hyphens and underscores, "
            "starting with a letter or digit"
        )
    size = p["array_size"] or 0
    if size < 0 or size > 10000:
        module.fail_json(msg=f"array_size {size}: must be 0/1 (plain job) or 2-10000")
    if p.get("attempt_duration_seconds") is not None and p["attempt_duration_seconds"] < 60:
        module.fail_json(msg="attempt_duration_seconds must be at least 60 (AWS Batch's minimum)")


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "job_queue": {"type": "str", "required": True},
            "job_definition": {"type": "str", "required": True},
            "sim_id": {"type": "str"},
            "job_queues": {"type": "list", "elements": "str", "default": []},
            "parameters": {"type": "dict", "default": {}},
            "array_size": {"type": "int", "default": 0},
            "environment": {"type": "dict", "default": {}},
            "attempt_duration_seconds": {"type": "int"},
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "propagate_tags": {"type": "bool"},
            "resubmit": {"type": "bool", "default": False},
            "skip_succeeded": {"type": "bool", "default": False},
            "wait": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 604800},
            "wait_delay": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    validate(module)
    p = module.params
    client = module.client("batch", retry_decorator=BATCH_RETRY)
    request = submit_request(p)
    result = {"changed": False, "job_name": p["name"], "submitted": False, "job_id": "", "finished": False}
    try:
        queues = [p["job_queue"]] + existing_queues(
            client, [q for q in p["job_queues"] if q != p["job_queue"]]
        )
        active, done = None, None
        if not p["resubmit"]:
            active, done = find_sim_jobs(client, queues, p["name"], p["sim_id"], p["skip_succeeded"])
        if active is not None:
            result.update(job_id=active["jobId"], job_arn=active.get("jobArn", ""), status=active["status"])
            if p["wait"] and not module.check_mode:
                wait_for(module, client, active["jobId"], result)
            module.exit_json(**result)
        if p["skip_succeeded"] and done is not None:
            result.update(
                job_id=done["jobId"], job_arn=done.get("jobArn", ""), status="SUCCEEDED", finished=True
            )
            module.exit_json(**result)
        result["changed"] = True
        if module._diff:
            result["diff"] = {"before": {}, "after": request}
        if module.check_mode:
            module.exit_json(**result)
        resp = client.submit_job(aws_retry=True, **request)
        result.update(
            submitted=True, job_id=resp["jobId"], job_arn=resp.get("jobArn", ""), status="SUBMITTED"
        )
        if p["wait"]:
            wait_for(module, client, resp["jobId"], result)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"could not submit job {p['name']} to {p['job_queue']}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
