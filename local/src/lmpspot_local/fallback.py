"""The Spot -> On-Demand fallback and the deadline policy's moves, carried out locally
the way AWS carries them out.

On AWS: the Spot queue's ``jobStateTimeLimitActions`` cancels a job starved of capacity,
Batch emits a "Batch Job State Change" event (``FAILED``, ``statusReason`` "Canceled by
JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"), an
EventBridge rule matches it and starts the compute layer's state machine with the event,
and the state machine's ``batch:submitJob`` task submits the same job to the On-Demand
queue (roles/compute, docs/COMPUTE.md).

The local AWS (moto) never starves and cannot deliver an event to a state machine, so
:func:`capacity_fallback` plays those parts from what the compute layer registered: it
builds the event from ``DescribeJobs`` as Batch would, finds the rules of the default bus
whose pattern matches it and that target a state machine, records an execution of that
state machine (``StartExecution``) and runs its definition: ``Choice`` states
(``IsPresent``, ``StringEquals``) and ``Task`` states with the ``batch:submitJob``
integration, whose ``Parameters`` (``.$`` JSON paths, ``States.Format``) are evaluated
against the event.  What it cannot evaluate it refuses, naming the construct.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

CAPACITY_REASON = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
CANCELLED_REASON = f"Canceled by JobStateTimeLimit action due to reason: {CAPACITY_REASON}"
SUBMIT_JOB = re.compile(r"^arn:[^:]+:states:::batch:submitJob$")
_MISSING = object()


class Unsupported(ValueError):
    """The state machine uses something this emulation does not evaluate."""


def job_state_change(job: Mapping[str, Any], *, status: str, reason: str) -> dict[str, Any]:
    """The EventBridge event Batch sends when ``job`` (a DescribeJobs entry) changes state."""
    arn = str(job.get("jobArn", ""))
    parts = arn.split(":")
    detail = {k: v for k, v in job.items() if k != "ResponseMetadata"}
    detail.update(status=status, statusReason=reason)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": parts[4] if len(parts) > 4 else "",
        "region": parts[3] if len(parts) > 3 else "",
        "resources": [arn],
        "detail": json.loads(json.dumps(detail, default=str)),
    }


def _value_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, Mapping):
        if set(matcher) == {"prefix"}:
            return isinstance(value, str) and value.startswith(str(matcher["prefix"]))
        raise Unsupported(f"event pattern operator {sorted(matcher)}")
    return matcher == value


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge matching for exact values and ``prefix`` (what lmpspot's rules use)."""
    for key, want in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if value is _MISSING:
            return False
        if isinstance(want, Mapping):
            if not pattern_matches(want, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(m, v) for m in want for v in values):
            return False
    return True


def json_path(doc: Any, path: str) -> Any:
    """``$.a.b.c`` (dotted names only); ``_MISSING`` when a step is absent."""
    if path == "$":
        return doc
    if not path.startswith("$.") or not re.fullmatch(r"\$(\.[A-Za-z0-9_-]+)+", path):
        raise Unsupported(f"JSON path {path!r} (only $.name.name... is evaluated here)")
    for name in path[2:].split("."):
        if not isinstance(doc, Mapping) or name not in doc:
            return _MISSING
        doc = doc[name]
    return doc


def _intrinsic(expr: str, doc: Any) -> Any:
    m = re.fullmatch(r"States\.Format\('((?:[^'\\]|\\.)*)',\s*(\$[A-Za-z0-9_.-]*)\)", expr.strip())
    if not m:
        raise Unsupported(f"intrinsic function {expr!r} (only States.Format('...{{}}...', $.path))")
    value = json_path(doc, m.group(2))
    if value is _MISSING:
        raise Unsupported(f"States.Runtime: {m.group(2)} is not in the input")
    return m.group(1).replace("{}", str(value), 1)


def evaluate(template: Any, doc: Any) -> Any:
    """A state's ``Parameters`` evaluated against its input, as Step Functions does."""
    if isinstance(template, list):
        return [evaluate(x, doc) for x in template]
    if not isinstance(template, Mapping):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            found = _intrinsic(value, doc) if value.startswith("States.") else json_path(doc, value)
            if found is _MISSING:
                raise Unsupported(f"States.Runtime: {value} is not in the input (field {key})")
            out[key[:-2]] = found
        else:
            out[key] = evaluate(value, doc)
    return out


def _rule_hit(rule: Mapping[str, Any], doc: Any) -> bool:
    """One Choice rule: ``And`` of rules, ``IsPresent``, ``StringEquals``, ``NumericEquals``."""
    if "And" in rule:
        return all(_rule_hit(r, doc) for r in rule["And"])
    value = json_path(doc, rule["Variable"])
    if "IsPresent" in rule:
        return (value is not _MISSING) == bool(rule["IsPresent"])
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    if "NumericEquals" in rule:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            # Step Functions fails the execution on a missing or non-numeric variable
            raise Unsupported(f"States.Runtime: {rule['Variable']} is not a number")
        return value == rule["NumericEquals"]
    raise Unsupported(f"Choice rule {sorted(rule)}")


def _choice(state: Mapping[str, Any], doc: Any) -> str:
    for rule in state.get("Choices", []):
        if _rule_hit(rule, doc):
            return rule["Next"]
    if "Default" not in state:
        raise Unsupported("States.NoChoiceMatched")
    return state["Default"]


def _pass(state: Mapping[str, Any], doc: Any) -> Any:
    """A ``Pass`` state: its ``Result`` at ``ResultPath`` ($.name only), else the input."""
    if "Result" not in state:
        return doc
    path = state.get("ResultPath", "$")
    if path == "$":
        return state["Result"]
    if not re.fullmatch(r"\$\.[A-Za-z0-9_-]+", str(path)):
        raise Unsupported(f"Pass ResultPath {path!r} (only $.name is evaluated here)")
    return {**doc, path[2:]: state["Result"]}


def _submit_request(params: Mapping[str, Any]) -> dict[str, Any]:
    """batch:submitJob's PascalCase parameters as boto3's submit_job keywords."""
    req: dict[str, Any] = {
        "jobName": params["JobName"],
        "jobQueue": params["JobQueue"],
        "jobDefinition": params["JobDefinition"],
    }
    if params.get("Parameters"):
        req["parameters"] = {str(k): str(v) for k, v in params["Parameters"].items()}
    if params.get("Tags"):
        req["tags"] = {str(k): str(v) for k, v in params["Tags"].items()}
    env = (params.get("ContainerOverrides") or {}).get("Environment")
    if env:
        req["containerOverrides"] = {
            "environment": [{"name": e["Name"], "value": str(e["Value"])} for e in env]
        }
    unknown = set(params) - {
        "JobName",
        "JobQueue",
        "JobDefinition",
        "Parameters",
        "Tags",
        "ContainerOverrides",
    }
    if unknown:
        raise Unsupported(f"batch:submitJob parameters {sorted(unknown)}")
    return req


def run_definition(definition: Mapping[str, Any], event: Any, batch: Any) -> list[dict[str, Any]]:
    """Run a state machine definition on ``event``; the SubmitJob answers, in order."""
    states, name = definition["States"], definition["StartAt"]
    submitted: list[dict[str, Any]] = []
    for _ in range(100):
        state = states[name]
        kind = state["Type"]
        if kind == "Choice":
            name = _choice(state, event)
            continue
        if kind == "Pass":
            event = _pass(state, event)
        if kind == "Task" and SUBMIT_JOB.match(str(state.get("Resource", ""))):
            resp = batch.submit_job(**_submit_request(evaluate(state.get("Parameters", {}), event)))
            submitted.append({k: resp[k] for k in ("jobId", "jobName", "jobArn") if k in resp})
        elif kind not in ("Pass", "Succeed"):
            raise Unsupported(f"state {name!r} of type {kind} ({state.get('Resource', '')})")
        if state.get("End") or kind == "Succeed":
            return submitted
        name = state["Next"]
    raise Unsupported("more than 100 state transitions")


def capacity_fallback(batch: Any, events: Any, sfn: Any, job_id: str) -> list[dict[str, Any]]:
    """Cancel ``job_id`` for lack of capacity as Batch would and carry out what follows.

    Returns the jobs the matching rules' state machines submitted.
    """
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    batch.cancel_job(jobId=job_id, reason=CANCELLED_REASON)
    return deliver(events, sfn, batch, job_state_change(job, status="FAILED", reason=CANCELLED_REASON))


def job_failed(
    batch: Any, events: Any, sfn: Any, job_id: str, exit_code: int, reason: str
) -> list[dict[str, Any]]:
    """The "Batch Job State Change" event of ``job_id`` ending FAILED with ``exit_code``
    (what the local executor ran), delivered as EventBridge would; the jobs submitted."""
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    job = {**job, "container": {**(job.get("container") or {}), "exitCode": int(exit_code)}}
    return deliver(events, sfn, batch, job_state_change(job, status="FAILED", reason=reason))


def deliver(events: Any, sfn: Any, batch: Any, event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every enabled rule of the default bus matching ``event`` starts its state machine."""
    submitted: list[dict[str, Any]] = []
    for rule in events.list_rules(EventBusName="default").get("Rules", []):
        if not rule.get("EventPattern") or rule.get("State") != "ENABLED":
            continue
        if not pattern_matches(json.loads(rule["EventPattern"]), event):
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if ":states:" not in target["Arn"] or ":stateMachine:" not in target["Arn"]:
                raise Unsupported(f"rule {rule['Name']}: target {target['Arn']} is not a state machine")
            doc = event if not target.get("InputPath") else json_path(event, target["InputPath"])
            sfn.start_execution(stateMachineArn=target["Arn"], input=json.dumps(doc))
            machine = sfn.describe_state_machine(stateMachineArn=target["Arn"])
            submitted += run_definition(json.loads(machine["definition"]), doc, batch)
    return submitted
